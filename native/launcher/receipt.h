// The `delete` action answered from a delete receipt (lib/shim/delete-receipt.ts): the daemon
// deleted the container completely, so there is nothing to clean and no Node to wake.
#pragma once
#include <string>

namespace launcher {

// Prints containerd's DeleteResponse for container `id` from `<bundle>/delete-receipt` (bundle
// empty: the working directory), with exitedAt now, removes that receipt (it answers one
// delete), and returns true (`written`: all of it
// reached stdout); false, having written nothing, when there is no receipt that counts (the
// action then runs as it would without one).
bool AnswerFromReceipt(const std::string& bundle, const std::string& id, bool* written);

}  // namespace launcher
