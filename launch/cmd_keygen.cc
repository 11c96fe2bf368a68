// fedtl keygen: creates an identity, DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub
// (public), for the coordinator's --identity/--allow and the participants'
// --identity/--coordinator-key. The format is described in common/identity.h.
#include <cstdio>

#include "common/identity.h"
#include "launch/commands.h"

namespace fedtl::launch {

Command addKeygenCommand(CLI::App& app) {
  struct Args {
    std::string out, name;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--out", a->out, "folder for NAME.key and NAME.pub (created if missing)")->required();
  app.add_option("--name", a->name, "the identity's name: the participant id, or the coordinator's name")->required();
  app.add_flag("--force", a->force, "replace existing NAME.key and NAME.pub");
  return [a] {
    auto identity = generateIdentity(a->name);
    auto paths = writeIdentity(identity, a->out, a->force);
    std::printf(
        "secret key: %s (mode 0600; keep it on this machine)\npublic key: %s (give it to the peers)\n"
        "curve-public %s\n",
        paths.secretFile.c_str(), paths.publicFile.c_str(), identity.publicPart.curvePublicKey.c_str());
    return 0;
  };
}

}  // namespace fedtl::launch
