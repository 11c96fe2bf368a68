// Identities (fedtl keygen's files) and the ZeroMQ transport with CURVE, the ZAP allow-list and
// the coordinator's pinned key.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/error.h"
#include "common/identity.h"
#include "common/transport/zmq/zmq_transport.h"

namespace fedtl {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("fedtl-identity-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeText(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

// The message of the Error `f` throws (as type E), or a failure.
template <typename E>
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

std::string replaceLine(const std::string& text, const std::string& key, const std::string& line) {
  std::istringstream in(text);
  std::string out, l;
  while (std::getline(in, l)) out += (l.rfind(key + " =", 0) == 0 ? line : l) + "\n";
  return out;
}

TEST(Identity, RoundTripThroughFiles) {
  TempDir dir;
  auto id = generateIdentity("site-1");
  auto paths = writeIdentity(id, dir.str(), false);
  EXPECT_EQ(paths.secretFile, dir / "site-1.key");
  EXPECT_EQ(paths.publicFile, dir / "site-1.pub");
  EXPECT_EQ(modeOf(paths.secretFile), 0600u);
  EXPECT_EQ(modeOf(paths.publicFile), 0644u);
  EXPECT_EQ(slurp(paths.publicFile).find("secret"), std::string::npos) << "the public file holds no secret";

  auto loaded = loadIdentity(paths.secretFile);
  EXPECT_EQ(loaded.publicPart.name, "site-1");
  EXPECT_EQ(loaded.publicPart.curvePublicKey, id.publicPart.curvePublicKey);
  EXPECT_TRUE(isCurveKeyZ85(loaded.publicPart.curvePublicKey));
  EXPECT_EQ(loaded.publicPart.ed25519PublicKey, id.publicPart.ed25519PublicKey);
  ASSERT_EQ(loaded.curveSecretKey.size(), kCurveKeySize);
  EXPECT_TRUE(std::equal(loaded.curveSecretKey.begin(), loaded.curveSecretKey.end(), id.curveSecretKey.begin()));
  ASSERT_EQ(loaded.ed25519PrivateKey.size(), crypto::kEd25519KeySize);
  EXPECT_TRUE(
      std::equal(loaded.ed25519PrivateKey.begin(), loaded.ed25519PrivateKey.end(), id.ed25519PrivateKey.begin()));
  // The Ed25519 key signs, and the public file's key verifies.
  auto pub = loadPublicIdentity(paths.publicFile);
  EXPECT_EQ(pub.name, "site-1");
  EXPECT_EQ(pub.curvePublicKey, id.publicPart.curvePublicKey);
  auto signature = crypto::ed25519Sign(loaded.ed25519PrivateKey.span(), crypto::asBytes("round 7"));
  EXPECT_TRUE(crypto::ed25519Verify(pub.ed25519PublicKey, crypto::asBytes("round 7"), signature));
}

TEST(Identity, RefusesToOverwriteUnlessForced) {
  TempDir dir;
  auto first = generateIdentity("coord");
  writeIdentity(first, dir.str(), false);
  auto second = generateIdentity("coord");
  EXPECT_NE(errorOf<ConfigError>([&] { writeIdentity(second, dir.str(), false); }).find("--force"), std::string::npos);
  EXPECT_EQ(loadIdentity(dir / "coord.key").publicPart.curvePublicKey, first.publicPart.curvePublicKey);
  writeIdentity(second, dir.str(), true);
  EXPECT_EQ(loadIdentity(dir / "coord.key").publicPart.curvePublicKey, second.publicPart.curvePublicKey);
  EXPECT_EQ(modeOf(dir / "coord.key"), 0600u);
  EXPECT_FALSE(fs::exists(dir / "coord.key.tmp"));
}

TEST(Identity, SecretFileReadableByOthersIsRefused) {
  TempDir dir;
  auto paths = writeIdentity(generateIdentity("site-2"), dir.str(), false);
  for (mode_t mode : {0640, 0604, 0660, 0602}) {
    ::chmod(paths.secretFile.c_str(), mode);
    auto message = errorOf<ConfigError>([&] { loadIdentity(paths.secretFile); });
    EXPECT_NE(message.find("chmod 600"), std::string::npos) << message;
  }
  ::chmod(paths.secretFile.c_str(), 0400);
  EXPECT_NO_THROW(loadIdentity(paths.secretFile));
}

TEST(Identity, MissingAndMalformedFilesAreRefusedByName) {
  TempDir dir;
  EXPECT_NE(errorOf<IoError>([&] { loadIdentity(dir / "none.key"); }).find("none.key"), std::string::npos);
  auto paths = writeIdentity(generateIdentity("site-3"), dir.str(), false);
  const std::string good = slurp(paths.secretFile);
  auto other = generateIdentity("site-3");
  auto otherPaths = writeIdentity(other, dir / "other", false);
  const std::string otherText = slurp(otherPaths.secretFile);
  auto lineOf = [](const std::string& text, const std::string& key) {
    auto at = text.find("\n" + key + " =");
    return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };

  struct Case {
    std::string text, expect;
  };
  std::vector<Case> cases = {
      {replaceLine(good, "curve-secret", ""), "lacks 'curve-secret'"},
      {good + "name = \"again\"\n", "'name' given twice"},
      {good + "colour = \"blue\"\n", "unknown key 'colour'"},
      {replaceLine(good, "curve-secret", "curve-secret = \"tooshort\""), "curve-secret is not a 40-character Z85 key"},
      {replaceLine(good, "ed25519-secret", "ed25519-secret = \"zz\""), "ed25519-secret is not 64 hex digits"},
      {replaceLine(good, "name", "name = site-3"), "not a quoted string"},
      {replaceLine(good, "name", "name = \"../x\""), "identity name"},
      {replaceLine(good, "name", "just some words"), "no '='"},
      {replaceLine(good, "format", "format = \"something-else\""), "is not a fedtl identity"},
      {replaceLine(good, "curve-public", lineOf(otherText, "curve-public")),
       "curve-public does not belong to curve-secret"},
      {replaceLine(good, "ed25519-public", lineOf(otherText, "ed25519-public")),
       "ed25519-public does not belong to ed25519-secret"},
  };
  for (const auto& c : cases) {
    writeText(dir / "bad.key", c.text);
    auto message = errorOf<DataError>([&] { loadIdentity(dir / "bad.key"); });
    EXPECT_NE(message.find(c.expect), std::string::npos) << "expected '" << c.expect << "', got: " << message;
    EXPECT_NE(message.find("bad.key"), std::string::npos) << message;
  }
  // Secrets never appear in error messages.
  writeText(dir / "bad.key", good + "name = \"again\"\n");
  auto message = errorOf<DataError>([&] { loadIdentity(dir / "bad.key"); });
  auto secretLine = lineOf(good, "curve-secret");
  EXPECT_EQ(message.find(secretLine.substr(secretLine.find('"') + 1, 40)), std::string::npos);

  // The halves are not interchangeable.
  EXPECT_NE(errorOf<ConfigError>([&] { loadIdentity(paths.publicFile); }).find(".pub"), std::string::npos);
  EXPECT_NE(errorOf<ConfigError>([&] { loadPublicIdentity(paths.secretFile); }).find("SECRET"), std::string::npos);
  EXPECT_THROW(generateIdentity("has space"), ConfigError);
}

TEST(Identity, AllowListFromFolderOrListFile) {
  TempDir dir;
  for (const char* name : {"b", "a", "c"}) writeIdentity(generateIdentity(name), dir / "keys", false);
  fs::remove(dir / "keys/c.key");
  auto fromFolder = loadAllowList(dir / "keys");
  ASSERT_EQ(fromFolder.size(), 3u);
  EXPECT_EQ(fromFolder[0].name, "a");
  EXPECT_EQ(fromFolder[2].name, "c");

  writeText(dir / "allowed.txt", "# participants\nkeys/a.pub\n\n" + (dir / "keys/b.pub") + "\n", 0644);
  auto fromList = loadAllowList(dir / "allowed.txt");
  ASSERT_EQ(fromList.size(), 2u);
  EXPECT_EQ(fromList[1].name, "b");
  EXPECT_EQ(loadAllowList(dir / "keys/a.pub").size(), 1u);

  // The same name twice, or the same key under two names, is refused.
  fs::create_directories(dir / "dup");
  writeIdentity(generateIdentity("a"), dir / "dup", false);
  writeText(dir / "dup.txt", "keys/a.pub\ndup/a.pub\n", 0644);
  EXPECT_NE(errorOf<ConfigError>([&] { loadAllowList(dir / "dup.txt"); }).find("name 'a' appears in both"),
            std::string::npos);
  auto copied = replaceLine(slurp(dir / "keys/a.pub"), "name", "name = \"z\"");
  writeText(dir / "keys/z.pub", copied, 0644);
  EXPECT_NE(errorOf<ConfigError>([&] { loadAllowList(dir / "keys"); }).find("the same CURVE key"), std::string::npos);
  fs::create_directories(dir / "empty");
  EXPECT_THROW(loadAllowList(dir / "empty"), ConfigError);
}

}  // namespace

namespace transport {
namespace {

// Captures what the transport logs (the ZAP handler logs from its own thread) while alive.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() { spdlog::default_logger()->sinks().pop_back(); }
  bool contains(const std::string& text) const {
    for (const auto& line : sink_->last_formatted())
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
  // Waits up to `timeout` for `text`, calling `pump` (which drains the sockets' monitors).
  bool waitFor(const std::string& text, const std::function<void()>& pump, Millis timeout = 5000ms) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (contains(text)) return true;
      pump();
    }
    return contains(text);
  }
  std::string dump() const {
    std::string out;
    for (const auto& line : sink_->last_formatted()) out += line;
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

CurveKeyPair keysOf(const Identity& id) {
  return {id.publicPart.curvePublicKey, crypto::SecretBytes(id.curveSecretKey.span())};
}

struct Parties {
  Identity server = generateIdentity("coord");
  Identity alice = generateIdentity("alice");
  Identity mallory = generateIdentity("mallory");

  HubSecurity hub() const {
    HubSecurity s{keysOf(server), {}};
    s.allowed[alice.publicPart.curvePublicKey] = "alice";
    return s;
  }
  LinkSecurity link(const Identity& who, const Identity& pinned) const {
    return {keysOf(who), pinned.publicPart.curvePublicKey};
  }
};

TEST(SecureZmq, AllowedParticipantExchangesFrames) {
  Parties p;
  ZmqHub hub("tcp://127.0.0.1:0", {}, p.hub());
  ZmqLink link(hub.endpoint(), "alice", {}, p.link(p.alice, p.server));
  ASSERT_TRUE(link.send("hello", 1000ms));
  auto in = hub.receive(5000ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "alice");
  EXPECT_EQ(in->frame.bytes(), "hello");
  std::string big(300000, '\x5a');
  ASSERT_TRUE(hub.send("alice", share(big), 1000ms));
  auto back = link.receive(5000ms);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->bytes(), big);
}

TEST(SecureZmq, UnlistedKeyNeverConnectsAndIsLogged) {
  LogCapture log;
  Parties p;
  ZmqHub hub("tcp://127.0.0.1:0", {}, p.hub());
  ZmqLink intruder(hub.endpoint(), "alice", {}, p.link(p.mallory, p.server));  // even under an allowed name
  (void)intruder.send("let me in", 1000ms);  // queued or not: the handshake is refused either way
  EXPECT_TRUE(log.waitFor("unknown CURVE key " + p.mallory.publicPart.curvePublicKey, [&] { hub.receive(50ms); }))
      << log.dump();
  EXPECT_TRUE(log.waitFor("refused this participant's key", [&] { intruder.receive(50ms); })) << log.dump();
  auto in = hub.receive(1000ms);
  EXPECT_FALSE(in.has_value()) << "delivered from " << in->peer << ": " << in->frame.bytes();
  EXPECT_FALSE(hub.send("alice", share("secret"), 200ms)) << "the intruder must not hold the name";
  EXPECT_FALSE(intruder.receive(300ms).has_value());
}

TEST(SecureZmq, ParticipantTalksOnlyToThePinnedCoordinator) {
  LogCapture log;
  Parties p;
  auto impostor = generateIdentity("impostor");
  ZmqHub hub("tcp://127.0.0.1:0", {}, p.hub());
  // Alice is allowed, but pins another coordinator's key: the handshake fails both ways.
  ZmqLink alice(hub.endpoint(), "alice", {}, p.link(p.alice, impostor));
  (void)alice.send("hello", 1000ms);  // the handshake fails: the send may find no pipe
  EXPECT_FALSE(hub.receive(1500ms).has_value());
  EXPECT_FALSE(hub.send("alice", share("x"), 200ms));
  EXPECT_TRUE(log.waitFor("does not hold the pinned key", [&] { alice.receive(50ms); })) << log.dump();
  EXPECT_TRUE(log.waitFor("pinned a different coordinator key", [&] { hub.receive(50ms); })) << log.dump();
}

TEST(SecureZmq, RoutingIdMustBeTheNameTheKeyIsAllowedAs) {
  LogCapture log;
  Parties p;
  auto bob = generateIdentity("bob");
  auto security = p.hub();
  security.allowed[bob.publicPart.curvePublicKey] = "bob";
  ZmqHub hub("tcp://127.0.0.1:0", {}, security);
  ZmqLink bob_(hub.endpoint(), "bob", {}, p.link(bob, p.server));
  ASSERT_TRUE(bob_.send("i am bob", 1000ms));
  auto in = hub.receive(5000ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "bob");
  // Alice's key, bob's name: authenticated, but every frame is dropped.
  ZmqLink spoof(hub.endpoint(), "bob", {}, p.link(p.alice, p.server));
  ASSERT_TRUE(spoof.send("i am bob too", 1000ms));
  EXPECT_FALSE(hub.receive(1500ms).has_value());
  EXPECT_TRUE(log.contains("dropping a frame from connection 'bob': its CURVE key is allowed as 'alice' only"))
      << log.dump();
}

TEST(SecureZmq, KeysOnOneSideOnlyFailWithAClearLog) {
  LogCapture log;
  Parties p;
  {
    ZmqHub secure("tcp://127.0.0.1:0", {}, p.hub());
    ZmqLink plain(secure.endpoint(), "alice");
    (void)plain.send("hello", 1000ms);  // the handshake fails: the send may find no pipe
    EXPECT_FALSE(secure.receive(1000ms).has_value());
    EXPECT_TRUE(log.waitFor("requires CURVE keys and this participant runs --insecure", [&] { plain.receive(50ms); }))
        << log.dump();
    EXPECT_TRUE(log.waitFor("has no CURVE keys", [&] { secure.receive(50ms); })) << log.dump();
  }
  {
    ZmqHub plain("tcp://127.0.0.1:0");
    ZmqLink keyed(plain.endpoint(), "alice", {}, p.link(p.alice, p.server));
    (void)keyed.send("hello", 1000ms);  // the handshake fails: the send may find no pipe
    EXPECT_FALSE(plain.receive(1000ms).has_value());
    EXPECT_TRUE(log.waitFor("runs without CURVE keys (--insecure) and this participant has keys", [&] {
      keyed.receive(50ms);
    })) << log.dump();
  }
}

TEST(SecureZmq, HubsShareTheZapHandlerWithTheirOwnAllowLists) {
  Parties p;
  auto other = p.hub();
  other.allowed.clear();
  other.allowed[p.mallory.publicPart.curvePublicKey] = "mallory";
  for (int generation = 0; generation < 3; ++generation) {  // the handler stops and starts again
    ZmqHub first("tcp://127.0.0.1:0", {}, p.hub());
    ZmqHub second("tcp://127.0.0.1:0", {}, other);
    ZmqLink aliceToSecond(second.endpoint(), "alice", {}, p.link(p.alice, p.server));
    ZmqLink aliceToFirst(first.endpoint(), "alice", {}, p.link(p.alice, p.server));
    ZmqLink malloryToSecond(second.endpoint(), "mallory", {}, p.link(p.mallory, p.server));
    ASSERT_TRUE(aliceToFirst.send("a1", 1000ms));
    // Refused by the second hub: once its handshake has failed the link may have no pipe to
    // queue on, so whether this send is accepted locally depends on timing.
    (void)aliceToSecond.send("a2", 1000ms);
    ASSERT_TRUE(malloryToSecond.send("m2", 1000ms));
    auto in1 = first.receive(5000ms);
    ASSERT_TRUE(in1.has_value());
    EXPECT_EQ(in1->frame.bytes(), "a1");
    auto in2 = second.receive(5000ms);
    ASSERT_TRUE(in2.has_value());
    EXPECT_EQ(in2->peer, "mallory");
    EXPECT_FALSE(second.receive(500ms).has_value()) << "alice is not on the second hub's list";
  }
}

TEST(SecureZmq, MalformedKeysAreConfigErrors) {
  Parties p;
  auto bad = p.hub();
  bad.allowed["not-a-key"] = "x";
  EXPECT_THROW(ZmqHub("tcp://127.0.0.1:0", {}, bad), ConfigError);
  auto link = p.link(p.alice, p.server);
  link.serverPublicKey = "short";
  EXPECT_THROW(ZmqLink("tcp://127.0.0.1:1", "alice", {}, link), ConfigError);
}

}  // namespace
}  // namespace transport
}  // namespace fedtl
