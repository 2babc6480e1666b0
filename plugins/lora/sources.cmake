# The lora plugin's sources without its entry point (shared with tests/quant/extra.cmake).
set(RLHF_LORA_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/lora_options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/peft_folder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_layer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_adapter.cpp)
