#include <iostream>

#include "rlhf/version.hpp"

int main() { std::cout << "rlhf-host " << RLHF_SDK_VERSION << " abi " << rlhf::sdk_abi_tag() << "\n"; }
