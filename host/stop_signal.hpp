// SIGINT / SIGTERM handling: the first signal asks the running stage to stop at the next step
// boundary (StageContext::stop_requested), so it can checkpoint and return; a second SIGINT
// kills the process the usual way.
#pragma once

namespace rlhf::host {

void install_stop_handlers();
bool stop_requested();
// Sets the flag as a signal would (tests).
void request_stop();
void clear_stop_request();

}  // namespace rlhf::host
