// ZeroMQ transport: the coordinator binds a ROUTER, each participant dials out with a DEALER
// whose routing id is its name (so sites behind NAT work and a restarted participant takes
// its old identity over). libzmq reconnects with exponential backoff, probes liveness with
// ZMTP heartbeats, and drops any connection that sends a frame above the size limit.
//
// With keys (HubSecurity, LinkSecurity) every connection is CURVE-encrypted and authenticated
// (CurveZMQ: Curve25519 key exchange, XSalsa20-Poly1305 boxes, perfect forward secrecy):
//  - a participant pins the coordinator's public key, so the handshake with any other server
//    fails and nothing is ever exchanged with it;
//  - the coordinator admits only the participant keys on its allow-list, through a ZAP handler
//    (RFC 27) that runs in this process, and accepts a frame only when the connection's routing
//    id is the name its key is allowed under;
//  - a handshake that fails on either side (unknown key, wrong pinned key, one side without
//    keys) is logged with its likely reason while libzmq keeps retrying with backoff.
// One ZAP handler serves the whole process (libzmq allows one per context, and fedtl uses one
// context): every hub with keys registers its allow-list under its own ZAP domain, and the
// handler lives as long as any such hub.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/crypto/secret_bytes.h"
#include "common/transport/transport.h"

namespace fedtl::transport {

// A CURVE key pair: the public key as Z85 text (40 characters), the secret key as 32 raw bytes.
struct CurveKeyPair {
  std::string publicKey;
  crypto::SecretBytes secretKey;
};

// The coordinator's keys and the participants it admits: CURVE public key (Z85) -> the one
// name (routing id) a connection with that key may use.
struct HubSecurity {
  CurveKeyPair server;
  std::map<std::string, std::string> allowed;
};

// A participant's keys and the coordinator's public key (Z85) it insists on.
struct LinkSecurity {
  CurveKeyPair client;
  std::string serverPublicKey;
};

class ZmqHub : public Hub {
 public:
  // bindAddress like "tcp://127.0.0.1:0" (0 = any free port) or "tcp://*:5555".
  explicit ZmqHub(const std::string& bindAddress, const LinkOptions& options = {});
  // The same with CURVE and the allow-list (see above). The secret key is handed to libzmq
  // and not kept here.
  ZmqHub(const std::string& bindAddress, const LinkOptions& options, const HubSecurity& security);
  ~ZmqHub() override;
  std::string endpoint() const override;
  bool send(const std::string& peer, SharedFrame frame, Millis timeout) override;
  std::optional<Incoming> receive(Millis timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ZmqLink : public Link {
 public:
  ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options = {});
  // The same over CURVE, talking only to the server whose key is security.serverPublicKey.
  ZmqLink(const std::string& endpoint, std::string name, const LinkOptions& options, const LinkSecurity& security);
  ~ZmqLink() override;
  const std::string& name() const override { return name_; }
  bool send(std::string_view frame, Millis timeout) override;
  std::optional<Frame> receive(Millis timeout) override;

 private:
  struct Impl;
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedtl::transport
