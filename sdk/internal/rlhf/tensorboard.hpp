// TensorBoardWriter — writes scalars as a TensorBoard event file, so
// `tensorboard --logdir <output_dir>` shows the training curves (docs/formats.md, "TensorBoard
// event files"). It needs no TensorFlow or protobuf library; TensorBoardRuns
// (rlhf/tensorboard_runs.hpp) gives a MetricsSink one per stage.
//
// File: `<dir>/events.out.tfevents.<unix time>.<hostname>.<pid>`, a sequence of records
//   u64 length | u32 masked_crc32c(length bytes) | data | u32 masked_crc32c(data)
// each `data` a serialized tensorflow.Event; the first carries file_version "brain.Event:2".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "rlhf/toolkit/file_writer.hpp"

namespace rlhf {

class TensorBoardWriter {
 public:
  // Creates the event file in `dir` (which must exist) and writes the file_version record. A
  // failed write (e.g. a full disk) throws rlhf::Error naming the file.
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  ~TensorBoardWriter();

  // One Event {wall_time, step, summary {value {tag, simple_value}}}.
  void add_scalar(const std::string& tag, double value, std::int64_t step);
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::filesystem::path path_;
  std::unique_ptr<FileWriter> out_;
};

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
std::uint32_t crc32c(const void* data, std::size_t size);
// TFRecord's masking: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
std::uint32_t masked_crc32c(const void* data, std::size_t size);

}  // namespace rlhf
