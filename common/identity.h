// Long-term identities of coordinators and participants (`fedtl keygen`), torch-free.
//
// An identity is a name with two key pairs: an Ed25519 pair for signatures and a CURVE pair
// (Curve25519, libzmq's CurveZMQ handshake) for the encrypted, authenticated ZeroMQ channels.
// It is kept as two text files, TOML-compatible, one `key = "value"` per line, '#' comments:
//
//   NAME.pub (public; handed to the peers that must trust NAME):
//     format = "fedtl-public-identity-1"
//     name = "NAME"
//     curve-public = "<40 Z85 characters>"
//     ed25519-public = "<64 hex digits>"
//
//   NAME.key (secret; mode 0600, refused when group or others may read or write it):
//     format = "fedtl-identity-1"
//     name, curve-public and ed25519-public as above, plus
//     curve-secret = "<40 Z85 characters>"
//     ed25519-secret = "<64 hex digits>"  (the RFC 8032 seed)
//
// Every key is required, none may repeat, unknown keys are refused, and a secret file's public
// keys must be the ones its secret keys derive. Names are 1..64 characters of [A-Za-z0-9._-]
// not starting with '.', so they are safe as file names and as participant ids.
#pragma once

#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/secret_bytes.h"

namespace fedtl {

inline constexpr std::size_t kCurveKeySize = 32;     // raw bytes
inline constexpr std::size_t kCurveKeyZ85Size = 40;  // characters

struct PublicIdentity {
  std::string name;
  std::string curvePublicKey;  // Z85, 40 characters
  crypto::Ed25519PublicKey ed25519PublicKey{};
};

struct Identity {
  PublicIdentity publicPart;
  crypto::SecretBytes curveSecretKey;     // raw 32 bytes
  crypto::SecretBytes ed25519PrivateKey;  // raw 32-byte seed
};

// Throws ConfigError unless `name` is a valid identity name (see above).
void checkIdentityName(const std::string& name);

// True for a 40-character Z85 string that decodes to a 32-byte key.
bool isCurveKeyZ85(const std::string& text);

// Fresh key pairs (OpenSSL for Ed25519, libzmq for CURVE) under `name`.
Identity generateIdentity(const std::string& name);

struct IdentityPaths {
  std::string secretFile;  // DIR/NAME.key
  std::string publicFile;  // DIR/NAME.pub
};

// Writes DIR/NAME.key (created with mode 0600) and DIR/NAME.pub, creating DIR if needed.
// Refuses (ConfigError) to replace either file unless `overwrite`.
IdentityPaths writeIdentity(const Identity& identity, const std::string& dir, bool overwrite);

// Reads a secret identity file. Throws IoError when it is missing or unreadable, ConfigError
// when group or others have any access to it (the message says to chmod 600) and DataError
// when it is malformed or its public keys do not match its secret keys.
Identity loadIdentity(const std::string& keyFile);

// Reads a public identity file (NAME.pub); a secret file given here is refused.
PublicIdentity loadPublicIdentity(const std::string& pubFile);

// An allow-list: a directory (every *.pub in it, in name order), a single .pub file, or a text
// file listing .pub paths one per line ('#' comments; relative paths are taken from the list's
// folder). Names and CURVE keys must each appear once; an empty list is an error.
std::vector<PublicIdentity> loadAllowList(const std::string& fileOrDir);

}  // namespace fedtl
