#include "rlhf/data_parallel.hpp"

#include "rlhf/distributed.hpp"

namespace rlhf::data_parallel {

int rank() { return Distributed::get().rank(); }
int world_size() { return Distributed::get().world_size(); }
bool is_main() { return Distributed::get().is_main(); }

std::vector<std::string> all_gather(const std::string& mine, const std::string& what) {
  return Distributed::get().all_gather(mine, what);
}

void all_reduce_sum(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  Distributed::get().all_reduce_sum(tensors, what);
}

bool any(bool mine, const std::string& what) { return Distributed::get().any(mine, what); }

}  // namespace rlhf::data_parallel
