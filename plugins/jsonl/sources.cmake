# The jsonl plugin's sources without its entry point (shared with tests/train/extra.cmake,
# fuzz/ and bench/).
set(RLHF_JSONL_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/jsonl_columns.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jsonl_record.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jsonl_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jsonl_source.cpp)
