# test_quant compiles the quantizer and adapter plugins' sources (not their entry points) in
# directly, so bit-level tests can call the kernels; plugin-level tests load the built .so files
# through the host's PluginRegistry.
include(${PROJECT_SOURCE_DIR}/plugins/quant_nf4/sources.cmake)
target_sources(${RLHF_TEST_TARGET} PRIVATE ${RLHF_QUANT_NF4_SOURCES})
target_include_directories(${RLHF_TEST_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/plugins)
include(${PROJECT_SOURCE_DIR}/plugins/lora/sources.cmake)
target_sources(${RLHF_TEST_TARGET} PRIVATE ${RLHF_LORA_SOURCES})
