// completion_logits: the decoder over a layout (sdk/src/decoder_layout.hpp), then the output
// projection at the completion positions only.
#include <torch/torch.h>

#include "rlhf/decoder_layout.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf {

CompletionLogits completion_logits(CausalLM& model, const Batch& batch, int rows_per_example) {
  detail::DecoderLayout layout = detail::packed_layout(batch, model.config(), rows_per_example);
  if (!layout.input_ids.defined()) layout = detail::row_layout(batch);

  const auto device = batch.input_ids.device();
  const at::Tensor hidden =
      layout.positions.defined()
          ? model.packed_hidden_states(layout.input_ids.to(device), layout.positions.to(device),
                                       layout.segments.to(device), layout.branches.to(device))
          : model.hidden_states(layout.input_ids, layout.attention_mask);
  const at::Tensor picked =
      hidden.reshape({-1, hidden.size(-1)}).index_select(0, layout.sources.to(device));
  CompletionLogits out;
  out.logits = model.lm_head(picked);
  out.targets = layout.targets.to(device);
  out.rows = layout.rows.to(device);
  out.batch_rows = layout.batch_rows;
  return out;
}

}  // namespace rlhf
