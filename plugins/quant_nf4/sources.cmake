# The nf4 plugin's sources without its entry point (shared with tests/quant/extra.cmake).
set(RLHF_QUANT_NF4_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/nf4_codebook.cpp
  ${CMAKE_CURRENT_LIST_DIR}/nf4_quantize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/nf4_dequantize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/double_quant.cpp
  ${CMAKE_CURRENT_LIST_DIR}/quant_state.cpp
  ${CMAKE_CURRENT_LIST_DIR}/nf4_weight.cpp
  ${CMAKE_CURRENT_LIST_DIR}/nf4_quantizer.cpp)
