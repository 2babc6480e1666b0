# The algorithm and data-source implementations are compiled into test_train directly (their
# plugin.cpp entry points are left out, so several plugins can share one executable).
include(${PROJECT_SOURCE_DIR}/plugins/jsonl/sources.cmake)
target_sources(${RLHF_TEST_TARGET} PRIVATE
  ${RLHF_JSONL_SOURCES}
  ${PROJECT_SOURCE_DIR}/plugins/dpo/dpo_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/dpo/dpo_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/orpo/orpo_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/orpo/orpo_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/sft/sft_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/sft/sft_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/simpo/simpo_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/cpo/cpo_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/kto/kto_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/kto/kto_batch.cpp
  ${PROJECT_SOURCE_DIR}/plugins/kto/kto_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/simpo/simpo_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/cpo/cpo_algorithm.cpp)
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/plugins)
