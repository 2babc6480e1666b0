#include "rollout_shard.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "rlhf/data_parallel.hpp"
#include "rlhf/error.hpp"

namespace rlhf::ppo {

std::vector<std::int64_t> rank_chunks(std::int64_t rows, std::int64_t chunk) {
  const std::int64_t chunks = (rows + chunk - 1) / chunk;
  std::vector<std::int64_t> out;
  for (std::int64_t c = data_parallel::rank(); c < chunks; c += data_parallel::world_size())
    out.push_back(c);
  return out;
}

ScoredRows gather_rows(const ScoredRows& mine, std::size_t batch_rows, const std::string& what) {
  nlohmann::json j;
  j["rows"] = mine.rows;
  j["ids"] = mine.ids;
  j["has_eos"] = mine.has_eos;
  // float32 scores as doubles: the JSON text round-trips a double exactly.
  j["scores"] = mine.scores;
  j["new_tokens"] = mine.new_tokens;
  j["seconds"] = mine.seconds;
  const std::vector<std::string> all = data_parallel::all_gather(j.dump(), what);

  ScoredRows out;
  out.rows.resize(batch_rows);
  out.ids.resize(batch_rows);
  out.has_eos.resize(batch_rows);
  out.scores.resize(batch_rows);
  std::vector<bool> seen(batch_rows, false);
  for (const std::string& text : all) {
    const auto part = nlohmann::json::parse(text);
    const auto rows = part.at("rows").get<std::vector<std::size_t>>();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::size_t row = rows[i];
      if (row >= batch_rows || seen[row])
        throw Error(what + ": row " + std::to_string(row) + " came twice or is out of range");
      seen[row] = true;
      out.rows[row] = row;
      out.ids[row] = part["ids"][i].get<std::vector<std::int64_t>>();
      out.has_eos[row] = part["has_eos"][i].get<bool>();
      out.scores[row] = part["scores"][i].get<double>();
    }
    out.new_tokens += part.at("new_tokens").get<std::int64_t>();
    out.seconds = std::max(out.seconds, part.at("seconds").get<double>());
  }
  for (std::size_t row = 0; row < batch_rows; ++row)
    if (!seen[row]) throw Error(what + ": no rank generated row " + std::to_string(row));
  return out;
}

}  // namespace rlhf::ppo
