# The binary-level tests use the reliability harness (tests/reliability/reliability_util.hpp).
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/tests/reliability)
