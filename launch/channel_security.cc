#include "launch/channel_security.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/identity.h"

namespace fedtl::launch {
namespace {

constexpr const char* kKeygenHint = "create keys with `fedtl keygen --out DIR --name NAME`";

}  // namespace

std::optional<transport::HubSecurity> hubSecurity(const std::string& identityFile, const std::string& allow,
                                                  bool insecure) {
  if (identityFile.empty() && allow.empty()) {
    FEDTL_ENFORCE(insecure, ConfigError,
                  "channels are not secured: give --identity (this coordinator's .key) and --allow (the participants' "
                  ".pub files; ",
                  kKeygenHint, "), or pass --insecure to run unencrypted on a trusted network");
    return std::nullopt;
  }
  FEDTL_ENFORCE(!insecure, ConfigError, "--insecure contradicts --identity/--allow: drop --insecure to use the keys");
  FEDTL_ENFORCE(!identityFile.empty(), ConfigError, "--allow needs --identity (this coordinator's .key file; ",
                kKeygenHint, ")");
  FEDTL_ENFORCE(!allow.empty(), ConfigError,
                "--identity needs --allow: a folder of the participants' .pub files, or a file listing them");
  auto self = loadIdentity(identityFile);
  transport::HubSecurity security;
  for (auto& participant : loadAllowList(allow)) {
    if (participant.curvePublicKey == self.publicPart.curvePublicKey) continue;  // our own .pub beside theirs
    security.allowed.emplace(participant.curvePublicKey, participant.name);
  }
  FEDTL_ENFORCE(!security.allowed.empty(), ConfigError, "the allow-list '", allow, "' holds no participant keys");
  security.server.publicKey = self.publicPart.curvePublicKey;
  security.server.secretKey = std::move(self.curveSecretKey);
  return security;
}

std::optional<transport::LinkSecurity> linkSecurity(const std::string& identityFile, const std::string& coordinatorKey,
                                                    bool insecure, std::string& id) {
  if (identityFile.empty() && coordinatorKey.empty()) {
    FEDTL_ENFORCE(insecure, ConfigError,
                  "channels are not secured: give --identity (this participant's .key) and --coordinator-key (the "
                  "coordinator's .pub; ",
                  kKeygenHint, "), or pass --insecure to run unencrypted on a trusted network");
    FEDTL_ENFORCE(!id.empty(), ConfigError, "give --id (or --identity, whose name is the id)");
    return std::nullopt;
  }
  FEDTL_ENFORCE(!insecure, ConfigError,
                "--insecure contradicts --identity/--coordinator-key: drop --insecure to use the keys");
  FEDTL_ENFORCE(!identityFile.empty(), ConfigError,
                "--coordinator-key needs --identity (this participant's .key file; ", kKeygenHint, ")");
  FEDTL_ENFORCE(!coordinatorKey.empty(), ConfigError,
                "--identity needs --coordinator-key: the coordinator's .pub file, to pin its key");
  auto self = loadIdentity(identityFile);
  auto coordinator = loadPublicIdentity(coordinatorKey);
  if (id.empty()) id = self.publicPart.name;
  FEDTL_ENFORCE(id == self.publicPart.name, ConfigError, "--id '", id, "' differs from the name in '", identityFile,
                "' ('", self.publicPart.name, "'): the coordinator admits this key under that name only");
  transport::LinkSecurity security;
  security.client.publicKey = self.publicPart.curvePublicKey;
  security.client.secretKey = std::move(self.curveSecretKey);
  security.serverPublicKey = coordinator.curvePublicKey;
  return security;
}

}  // namespace fedtl::launch
