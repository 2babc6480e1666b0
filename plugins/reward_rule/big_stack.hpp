// Runs a function on a thread with a large stack. libstdc++'s std::regex backtracks
// recursively, one stack frame per character or more: on the usual 8 MiB stack a search for
// `^.*is (\w+)\.$` in a 60,000-character completion overflows it (a crash, measured with GCC 12).
// The `rule` reward model therefore scores on a thread with kStackBytes of stack (reserved
// address space; only the pages a search touches are used) and caps the text a regex searches
// (kMaxRegexInputBytes in rule.hpp). Measured: at that cap, `^.*is (\w+)\.$` and
// `((a|b)(a|b)?)*` both complete on a 64 MiB stack; kStackBytes leaves a factor 4.
#pragma once

#include <cstddef>
#include <functional>

namespace rlhf::rule {

inline constexpr std::size_t kStackBytes = std::size_t{256} << 20;

// Calls `fn` on a new thread with a stack of `stack_bytes` and waits for it; an exception `fn`
// throws is rethrown in the caller. Throws rlhf::Error when the thread cannot be started.
void run_with_stack(std::size_t stack_bytes, const std::function<void()>& fn);

}  // namespace rlhf::rule
