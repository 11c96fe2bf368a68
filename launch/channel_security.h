// The keys of the multi-site (ZeroMQ) mode, from the command line's identity files to the
// transport's CURVE settings, and the rules that make --insecure an explicit opt-out: keys are
// required unless --insecure is given, both halves of a side's keys go together, and keys with
// --insecure is a contradiction. Torch-free.
#pragma once

#include <optional>
#include <string>

#include "common/transport/zmq/zmq_transport.h"

namespace fedtl::launch {

// The coordinator's side: its identity (NAME.key) and the participants' public identities
// (--allow). Nothing when running --insecure without keys; throws ConfigError for a partial or
// contradictory set of flags, and for unreadable, malformed or badly protected key files.
std::optional<transport::HubSecurity> hubSecurity(const std::string& identityFile, const std::string& allow,
                                                  bool insecure);

// A participant's side: its identity and the coordinator's public identity, pinned. `id` is
// the participant's name: empty, it becomes the identity's name; given, it must equal it (the
// coordinator admits the key under that name only). Same errors as hubSecurity.
std::optional<transport::LinkSecurity> linkSecurity(const std::string& identityFile, const std::string& coordinatorKey,
                                                    bool insecure, std::string& id);

}  // namespace fedtl::launch
