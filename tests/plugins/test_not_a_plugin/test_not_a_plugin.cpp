// An ordinary shared library: exports a function but no rlhf_plugin_manifest.
extern "C" __attribute__((visibility("default"))) int rlhf_test_not_a_plugin_answer() { return 42; }
