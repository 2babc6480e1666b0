# The rule reward model's sources without its entry point (shared with tests/rule/extra.cmake).
set(RLHF_REWARD_RULE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/rule_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rule.cpp
  ${CMAKE_CURRENT_LIST_DIR}/big_stack.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rule_reward_model.cpp)
