# The rule reward model's implementation is compiled into test_rule directly (its plugin.cpp
# entry point is left out), and so is the jsonl source that reads the example files.
include(${PROJECT_SOURCE_DIR}/plugins/reward_rule/sources.cmake)
include(${PROJECT_SOURCE_DIR}/plugins/jsonl/sources.cmake)
target_sources(${RLHF_TEST_TARGET} PRIVATE ${RLHF_REWARD_RULE_SOURCES} ${RLHF_JSONL_SOURCES})
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/plugins)
