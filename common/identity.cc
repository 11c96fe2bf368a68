#include "common/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include "common/error.h"

namespace fedtl {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSecretFormat = "fedtl-identity-1";
constexpr std::string_view kPublicFormat = "fedtl-public-identity-1";
constexpr std::size_t kMaxIdentityFileBytes = 64 * 1024;
constexpr std::size_t kMaxAllowListBytes = 1 << 20;
constexpr char kZ85Alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// A text buffer for secret file contents: wiped when it is freed or grows.
using SecretText = crypto::SecretVector<char>;

template <typename Out>
void append(Out& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

int z85Digit(char c) {
  const char* p = std::strchr(kZ85Alphabet, c);
  return c != '\0' && p ? static_cast<int>(p - kZ85Alphabet) : -1;
}

// Decodes 40 Z85 characters into 32 bytes at `out`; false for a wrong length, a character
// outside the alphabet, or a group above 2^32 - 1.
bool decodeZ85Key(std::string_view text, std::uint8_t* out) {
  if (text.size() != kCurveKeyZ85Size) return false;
  for (std::size_t group = 0; group < kCurveKeyZ85Size / 5; ++group) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      int digit = z85Digit(text[group * 5 + i]);
      if (digit < 0) return false;
      value = value * 85 + static_cast<std::uint64_t>(digit);
    }
    if (value > 0xFFFFFFFFu) return false;
    for (int b = 3; b >= 0; --b)
      out[group * 4 + static_cast<std::size_t>(3 - b)] = static_cast<std::uint8_t>(value >> (8 * b));
  }
  return true;
}

// The Z85 text of a 32-byte key, appended to `out` (the scratch buffer is wiped).
template <typename Out>
void appendZ85Key(Out& out, const std::uint8_t* key) {
  char text[kCurveKeyZ85Size + 1];
  FEDTL_ENFORCE(zmq_z85_encode(text, key, kCurveKeySize) != nullptr, CryptoError, "Z85 encoding failed");
  out.insert(out.end(), text, text + kCurveKeyZ85Size);
  OPENSSL_cleanse(text, sizeof text);
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decodeHex(std::string_view text, std::uint8_t* out, std::size_t size) {
  if (text.size() != 2 * size) return false;
  for (std::size_t i = 0; i < size; ++i) {
    int hi = hexDigit(text[2 * i]), lo = hexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <typename Out>
void appendHex(Out& out, const std::uint8_t* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
}

// The whole file in a wiping buffer. With `secret`, the file must be a regular file that
// neither group nor others may access (checked on the open descriptor).
crypto::SecretBytes readSmallFile(const std::string& path, bool secret) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FEDTL_ENFORCE(fd >= 0, IoError, "cannot open '", path, "': ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  FEDTL_ENFORCE(::fstat(fd, &st) == 0, IoError, "cannot stat '", path, "': ", std::strerror(errno));
  FEDTL_ENFORCE(S_ISREG(st.st_mode), IoError, "'", path, "' is not a regular file");
  if (secret) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    FEDTL_ENFORCE((st.st_mode & (S_IRWXG | S_IRWXO)) == 0, ConfigError, "secret key file '", path,
                  "' is accessible by group or others (mode ", mode, "); run: chmod 600 '", path, "'");
  }
  FEDTL_ENFORCE(static_cast<std::uint64_t>(st.st_size) <= kMaxIdentityFileBytes, DataError, "'", path, "' is ",
                st.st_size, " bytes, too large for an identity file");
  crypto::SecretBytes bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    FEDTL_ENFORCE(n > 0, IoError, "cannot read '", path,
                  "': ", n < 0 ? std::strerror(errno) : "file shrank while reading");
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// `key = "value"` lines. Values are views into `text` (so secrets are never copied); error
// messages name the file, the line and the key, never a value.
std::map<std::string, std::string_view> parseFields(std::string_view text, const std::string& path,
                                                    const std::set<std::string>& known) {
  std::map<std::string, std::string_view> fields;
  std::size_t lineNo = 0;
  while (!text.empty()) {
    ++lineNo;
    auto end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const char* what) {
      return DataError(detail::concat("'", path, "' line ", lineNo, ": ", what, " (expected: key = \"value\")"));
    };
    auto eq = line.find('=');
    if (eq == std::string_view::npos) throw bad("no '='");
    std::string key(trim(line.substr(0, eq)));
    if (key.empty() || !std::all_of(key.begin(), key.end(),
                                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }))
      throw bad("malformed key");
    std::string_view rest = trim(line.substr(eq + 1));
    if (rest.size() < 2 || rest.front() != '"') throw bad(("value of '" + key + "' is not a quoted string").c_str());
    auto close = rest.find('"', 1);
    if (close == std::string_view::npos) throw bad(("value of '" + key + "' has no closing quote").c_str());
    std::string_view value = rest.substr(1, close - 1);
    std::string_view after = trim(rest.substr(close + 1));
    if (!after.empty() && after.front() != '#') throw bad(("text after the value of '" + key + "'").c_str());
    if (value.find('\\') != std::string_view::npos) throw bad(("escape in the value of '" + key + "'").c_str());
    FEDTL_ENFORCE(known.count(key), DataError, "'", path, "' line ", lineNo, ": unknown key '", key, "'");
    FEDTL_ENFORCE(fields.emplace(key, value).second, DataError, "'", path, "' line ", lineNo, ": '", key,
                  "' given twice");
  }
  for (const auto& k : known) FEDTL_ENFORCE(fields.count(k), DataError, "'", path, "' lacks '", k, "'");
  return fields;
}

std::string_view formatOf(std::string_view text) {
  // The value of the first `format` line, without validating the rest.
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.substr(0, 6) != "format") continue;
    auto q = line.find('"');
    auto q2 = q == std::string_view::npos ? q : line.find('"', q + 1);
    if (q2 != std::string_view::npos) return line.substr(q + 1, q2 - q - 1);
  }
  return {};
}

// The name, CURVE public key and Ed25519 public key fields, checked.
PublicIdentity publicFields(const std::map<std::string, std::string_view>& f, const std::string& path) {
  PublicIdentity out;
  out.name = std::string(f.at("name"));
  try {
    checkIdentityName(out.name);
  } catch (const ConfigError& e) {
    throw DataError(detail::concat("'", path, "': ", e.what()));
  }
  out.curvePublicKey = std::string(f.at("curve-public"));
  FEDTL_ENFORCE(isCurveKeyZ85(out.curvePublicKey), DataError, "'", path,
                "': curve-public is not a 40-character Z85 key");
  FEDTL_ENFORCE(decodeHex(f.at("ed25519-public"), out.ed25519PublicKey.data(), out.ed25519PublicKey.size()), DataError,
                "'", path, "': ed25519-public is not 64 hex digits");
  return out;
}

void fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Writes `size` bytes to `path` with `mode`. Without `overwrite` the file is created
// exclusively (an existing one is never touched); with it, a temporary file is renamed over.
void writeKeyFile(const std::string& path, const char* data, std::size_t size, mode_t mode, bool overwrite) {
  const std::string target = overwrite ? path + ".tmp" : path;
  if (overwrite) ::unlink(target.c_str());
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST)
    throw ConfigError(detail::concat("'", path, "' already exists; pass --force to replace it"));
  FEDTL_ENFORCE(fd >= 0, IoError, "cannot create '", target, "': ", std::strerror(errno));
  int err = 0;
  if (::fchmod(fd, mode) != 0) err = errno;  // exactly `mode`, whatever the umask left
  for (std::size_t done = 0; err == 0 && done < size;) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      err = n < 0 ? errno : EIO;
    else
      done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err == 0 && overwrite && ::rename(target.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(target.c_str());
    throw IoError(detail::concat("cannot write '", path, "': ", std::strerror(err)));
  }
  fsyncDir(fs::path(path).parent_path());
}

template <typename Out>
void appendField(Out& out, std::string_view key, std::string_view value) {
  append(out, key);
  append(out, " = \"");
  append(out, value);
  append(out, "\"\n");
}

template <typename Out>
void appendPublicFields(Out& out, const PublicIdentity& id) {
  appendField(out, "name", id.name);
  appendField(out, "curve-public", id.curvePublicKey);
  append(out, "ed25519-public = \"");
  appendHex(out, id.ed25519PublicKey.data(), id.ed25519PublicKey.size());
  append(out, "\"\n");
}

}  // namespace

void checkIdentityName(const std::string& name) {
  FEDTL_ENFORCE(!name.empty() && name.size() <= 64 && name.front() != '.' &&
                    std::all_of(name.begin(), name.end(),
                                [](char c) {
                                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                         c == '.' || c == '_' || c == '-';
                                }),
                ConfigError, "identity name '", name,
                "' must be 1..64 characters of letters, digits, '.', '_' and '-', not starting with '.'");
}

bool isCurveKeyZ85(const std::string& text) {
  std::uint8_t scratch[kCurveKeySize];
  return decodeZ85Key(text, scratch);
}

Identity generateIdentity(const std::string& name) {
  checkIdentityName(name);
  Identity id;
  id.publicPart.name = name;
  char publicText[kCurveKeyZ85Size + 1], secretText[kCurveKeyZ85Size + 1];
  const int rc = zmq_curve_keypair(publicText, secretText);
  if (rc != 0) {
    OPENSSL_cleanse(secretText, sizeof secretText);
    throw CryptoError("CURVE key generation failed: libzmq was built without CURVE support");
  }
  id.publicPart.curvePublicKey.assign(publicText, kCurveKeyZ85Size);
  id.curveSecretKey = crypto::SecretBytes(kCurveKeySize);
  const bool decoded = decodeZ85Key(std::string_view(secretText, kCurveKeyZ85Size), id.curveSecretKey.data());
  OPENSSL_cleanse(secretText, sizeof secretText);
  FEDTL_ENFORCE(decoded, CryptoError, "libzmq produced a malformed CURVE key");
  auto ed = crypto::generateEd25519KeyPair();
  id.publicPart.ed25519PublicKey = ed.publicKey;
  id.ed25519PrivateKey = std::move(ed.privateKey);
  return id;
}

IdentityPaths writeIdentity(const Identity& identity, const std::string& dir, bool overwrite) {
  const auto& pub = identity.publicPart;
  checkIdentityName(pub.name);
  FEDTL_ENFORCE(isCurveKeyZ85(pub.curvePublicKey) && identity.curveSecretKey.size() == kCurveKeySize &&
                    identity.ed25519PrivateKey.size() == crypto::kEd25519KeySize,
                ConfigError, "identity '", pub.name, "' is incomplete");
  std::error_code ec;
  fs::create_directories(dir, ec);
  FEDTL_ENFORCE(!ec, IoError, "cannot create '", dir, "': ", ec.message());
  IdentityPaths paths{(fs::path(dir) / (pub.name + ".key")).string(), (fs::path(dir) / (pub.name + ".pub")).string()};
  if (!overwrite) {
    for (const auto& p : {paths.secretFile, paths.publicFile})
      FEDTL_ENFORCE(!fs::exists(fs::symlink_status(p)), ConfigError, "'", p,
                    "' already exists; pass --force to replace it");
  }

  SecretText secret;
  secret.reserve(1024);
  append(secret, "# fedtl identity: SECRET. Keep it private (mode 0600) and on this machine only.\n");
  append(secret, "# Give the public half, " + pub.name + ".pub, to the peers that must trust '" + pub.name + "'.\n");
  appendField(secret, "format", kSecretFormat);
  appendPublicFields(secret, pub);
  append(secret, "curve-secret = \"");
  appendZ85Key(secret, identity.curveSecretKey.data());
  append(secret, "\"\ned25519-secret = \"");
  appendHex(secret, identity.ed25519PrivateKey.data(), identity.ed25519PrivateKey.size());
  append(secret, "\"\n");

  std::string pubText = "# fedtl public identity of '" + pub.name +
                        "': give it to the peers that must trust it (coordinator: --allow; participants: "
                        "--coordinator-key).\n";
  appendField(pubText, "format", kPublicFormat);
  appendPublicFields(pubText, pub);

  writeKeyFile(paths.secretFile, secret.data(), secret.size(), 0600, overwrite);
  writeKeyFile(paths.publicFile, pubText.data(), pubText.size(), 0644, overwrite);
  return paths;
}

Identity loadIdentity(const std::string& keyFile) {
  auto bytes = readSmallFile(keyFile, /*secret=*/true);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const auto format = formatOf(text);
  FEDTL_ENFORCE(format != kPublicFormat, ConfigError, "'", keyFile,
                "' is a public identity (.pub); give the secret .key file made by fedtl keygen");
  auto f = parseFields(text, keyFile,
                       {"format", "name", "curve-public", "curve-secret", "ed25519-public", "ed25519-secret"});
  FEDTL_ENFORCE(f.at("format") == kSecretFormat, DataError, "'", keyFile, "' is not a fedtl identity (format '",
                std::string(f.at("format")), "', expected '", kSecretFormat, "')");
  Identity id;
  id.publicPart = publicFields(f, keyFile);
  id.curveSecretKey = crypto::SecretBytes(kCurveKeySize);
  FEDTL_ENFORCE(decodeZ85Key(f.at("curve-secret"), id.curveSecretKey.data()), DataError, "'", keyFile,
                "': curve-secret is not a 40-character Z85 key");
  id.ed25519PrivateKey = crypto::SecretBytes(crypto::kEd25519KeySize);
  FEDTL_ENFORCE(decodeHex(f.at("ed25519-secret"), id.ed25519PrivateKey.data(), id.ed25519PrivateKey.size()), DataError,
                "'", keyFile, "': ed25519-secret is not 64 hex digits");

  // The public keys must be the ones the secret keys derive: a file edited by hand or
  // assembled from two identities is refused rather than half-working.
  char secretText[kCurveKeyZ85Size + 1] = {}, derived[kCurveKeyZ85Size + 1] = {};
  std::memcpy(secretText, f.at("curve-secret").data(), kCurveKeyZ85Size);
  const int rc = zmq_curve_public(derived, secretText);
  OPENSSL_cleanse(secretText, sizeof secretText);
  FEDTL_ENFORCE(rc == 0, CryptoError, "cannot derive a CURVE public key: libzmq was built without CURVE support");
  FEDTL_ENFORCE(id.publicPart.curvePublicKey == std::string(derived, kCurveKeyZ85Size), DataError, "'", keyFile,
                "': curve-public does not belong to curve-secret");
  auto pair = crypto::ed25519KeyPairFromPrivate(id.ed25519PrivateKey.span());
  FEDTL_ENFORCE(pair.publicKey == id.publicPart.ed25519PublicKey, DataError, "'", keyFile,
                "': ed25519-public does not belong to ed25519-secret");
  return id;
}

PublicIdentity loadPublicIdentity(const std::string& pubFile) {
  auto bytes = readSmallFile(pubFile, /*secret=*/false);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  FEDTL_ENFORCE(formatOf(text) != kSecretFormat, ConfigError, "'", pubFile,
                "' is a SECRET identity file; give its public half (.pub) instead, and keep the .key private");
  auto f = parseFields(text, pubFile, {"format", "name", "curve-public", "ed25519-public"});
  FEDTL_ENFORCE(f.at("format") == kPublicFormat, DataError, "'", pubFile, "' is not a fedtl public identity (format '",
                std::string(f.at("format")), "', expected '", kPublicFormat, "')");
  return publicFields(f, pubFile);
}

std::vector<PublicIdentity> loadAllowList(const std::string& fileOrDir) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(fileOrDir, ec)) {
    for (const auto& entry : fs::directory_iterator(fileOrDir, ec))
      if (entry.path().extension() == ".pub" && entry.is_regular_file()) files.push_back(entry.path().string());
    FEDTL_ENFORCE(!ec, IoError, "cannot list '", fileOrDir, "': ", ec.message());
    std::sort(files.begin(), files.end());
    FEDTL_ENFORCE(!files.empty(), ConfigError, "allow-list folder '", fileOrDir, "' holds no *.pub files");
  } else if (fs::path(fileOrDir).extension() == ".pub") {
    files.push_back(fileOrDir);
  } else {
    FEDTL_ENFORCE(fs::exists(fileOrDir, ec), IoError, "allow-list '", fileOrDir, "' does not exist");
    auto size = fs::file_size(fileOrDir, ec);
    FEDTL_ENFORCE(!ec && size <= kMaxAllowListBytes, IoError, "allow-list '", fileOrDir,
                  "' cannot be read or is above ", kMaxAllowListBytes, " bytes");
    auto bytes = readSmallFile(fileOrDir, false);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const fs::path base = fs::path(fileOrDir).parent_path();
    while (!text.empty()) {
      auto end = text.find('\n');
      std::string_view line = trim(text.substr(0, end));
      text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
      if (line.empty() || line.front() == '#') continue;
      fs::path p{std::string(line)};
      files.push_back((p.is_absolute() ? p : base / p).string());
    }
    FEDTL_ENFORCE(!files.empty(), ConfigError, "allow-list '", fileOrDir, "' names no .pub files");
  }
  std::vector<PublicIdentity> out;
  std::map<std::string, std::string> names, keys;  // name -> file, key -> file
  for (const auto& file : files) {
    auto id = loadPublicIdentity(file);
    auto n = names.emplace(id.name, file);
    FEDTL_ENFORCE(n.second, ConfigError, "allow-list: name '", id.name, "' appears in both '", n.first->second,
                  "' and '", file, "'");
    auto k = keys.emplace(id.curvePublicKey, file);
    FEDTL_ENFORCE(k.second, ConfigError, "allow-list: '", k.first->second, "' and '", file,
                  "' hold the same CURVE key");
    out.push_back(std::move(id));
  }
  return out;
}

}  // namespace fedtl
