// rlhf-host: see cli.hpp for the command line.
#include "cli.hpp"

int main(int argc, char** argv) { return rlhf::host::run_cli(argc, argv); }
