# The ppo plugin's implementation is compiled into test_ppo directly (its plugin.cpp entry point
# is left out), so its functions are tested in-process.
target_sources(${RLHF_TEST_TARGET} PRIVATE
  ${PROJECT_SOURCE_DIR}/plugins/ppo/ppo_math.cpp
  ${PROJECT_SOURCE_DIR}/plugins/ppo/ppo_options.cpp
  ${PROJECT_SOURCE_DIR}/plugins/ppo/rollout.cpp)
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/plugins
  ${PROJECT_SOURCE_DIR}/tests/train ${PROJECT_SOURCE_DIR}/tests/reliability)
