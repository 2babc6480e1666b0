# The reward algorithm, the classifier reward model and the jsonl source are compiled into
# test_reward directly (their plugin.cpp entry points are left out).
include(${PROJECT_SOURCE_DIR}/plugins/jsonl/sources.cmake)
target_sources(${RLHF_TEST_TARGET} PRIVATE
  ${RLHF_JSONL_SOURCES}
  ${PROJECT_SOURCE_DIR}/plugins/reward/reward_loss.cpp
  ${PROJECT_SOURCE_DIR}/plugins/reward/reward_algorithm.cpp
  ${PROJECT_SOURCE_DIR}/plugins/reward_classifier/classifier_reward_model.cpp)
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/plugins
  ${PROJECT_SOURCE_DIR}/tests/train ${PROJECT_SOURCE_DIR}/tests/reliability)
