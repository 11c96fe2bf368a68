// fedtl_send_raw_frames: sends a fixed list of malformed or forbidden frames to a running
// coordinator over a ZeroMQ DEALER, one case per message, for tests/integration/
// malformed_frames_test.sh. Every frame starts from the real encoder (protocols::encodeFrame)
// and is then corrupted, so the cases follow the format as it is, not a copy of it.
//
//   fedtl_send_raw_frames --connect tcp://127.0.0.1:PORT [--id NAME] [--gap-ms N] [--list]
//
// Prints one line per case: "case NAME: sent N bytes". --list prints the case names only.
// No case is a valid Hello, so the sender never becomes a participant the coordinator waits on.
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "protocols/frame.h"
#include "protocols/messages.h"

namespace {

namespace p = fedtl::protocols;

// A round no coordinator in the test reaches.
constexpr std::uint64_t kIdleRound = 999;

template <class T>
void poke(std::string& frame, std::size_t at, T value) {
  if (at + sizeof value > frame.size()) {
    std::fprintf(stderr, "send_raw_frames: internal error: poke at %zu past %zu bytes\n", at, frame.size());
    std::exit(2);
  }
  std::memcpy(frame.data() + at, &value, sizeof value);
}

// Header field offsets (docs/protocol.md, protocols/frame.h).
constexpr std::size_t kMagicAt = 0, kVersionAt = 4, kTypeAt = 6, kReservedAt = 20, kLengthAt = 24;
constexpr std::size_t kPayloadAt = p::kFrameHeaderSize;

struct Case {
  const char* name;
  std::function<std::string(const std::string& id)> build;
};

p::Hello hello(const std::string& name) { return p::Hello{name, "", 100}; }

std::vector<Case> cases() {
  return {
      {"short-header",  // fewer bytes than the fixed header
       [](const std::string& id) { return p::encodeFrame(hello(id), 0, 0).substr(0, 10); }},
      {"bad-magic",
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kMagicAt, std::uint32_t{0x50545448});  // "HTTP"
         return f;
       }},
      {"version-99",
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kVersionAt, std::uint16_t{99});
         return f;
       }},
      {"unknown-type",
       [](const std::string& id) {
         auto f = p::encodeFrame(p::Heartbeat{1}, 0, 0);
         poke(f, kTypeAt, std::uint16_t{777});
         return f;
       }},
      {"reserved-nonzero",
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kReservedAt, std::uint32_t{1});
         return f;
       }},
      {"hello-over-limit",  // claims 1 GiB, above the 64 KiB control limit, with a short body
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kLengthAt, std::uint64_t{1} << 30);
         return f;
       }},
      {"truncated-payload",  // the header's length is within the limit but past the bytes sent
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kLengthAt, static_cast<std::uint64_t>(f.size() - kPayloadAt + 1000));
         return f;
       }},
      {"hello-garbage",  // three bytes cannot hold even the first length prefix
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0).substr(0, kPayloadAt);
         f += "\xde\xad\xbe";
         poke(f, kLengthAt, std::uint64_t{3});
         return f;
       }},
      {"hello-string-length",  // the name's u64 length prefix exceeds the bytes left
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         poke(f, kPayloadAt, std::uint64_t{5000});
         return f;
       }},
      {"hello-trailing-bytes",  // a whole Hello and then bytes it does not account for
       [](const std::string& id) {
         auto f = p::encodeFrame(hello(id), 0, 0);
         f += "XYZW";
         poke(f, kLengthAt, static_cast<std::uint64_t>(f.size() - kPayloadAt));
         return f;
       }},
      {"hello-bad-name",  // decodes, fails validate(): a space in the name
       [](const std::string& id) { return p::encodeFrame(hello("two words"), 0, 0); }},
      {"hello-other-name",  // decodes and validates, but names someone other than the connection
       [](const std::string& id) { return p::encodeFrame(hello(id + "-impostor"), 0, 0); }},
      {"update-idle-round",  // a well-formed update for a round that is not running
       [](const std::string& id) {
         p::Update u{10, 0.5, std::vector<float>(16, 0.25f)};
         return p::encodeFrame(u, kIdleRound, 0);
       }},
      {"round-start-from-participant",  // a coordinator-only message type
       [](const std::string& id) {
         p::RoundStart rs;
         rs.parameters.assign(8, 0.f);
         return p::encodeFrame(rs, kIdleRound, 0);
       }},
  };
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "send_raw_frames: %s\nusage: fedtl_send_raw_frames --connect tcp://HOST:PORT [--id NAME] "
               "[--gap-ms N] [--list]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string connect, id = "raw-frame-sender";
  int gapMs = 20;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--connect") connect = value();
    else if (arg == "--id") id = value();
    else if (arg == "--gap-ms") gapMs = std::atoi(value().c_str());
    else if (arg == "--list") list = true;
    else usage(("unknown argument " + arg).c_str());
  }
  const auto all = cases();
  if (list) {
    for (const auto& c : all) std::printf("%s\n", c.name);
    return 0;
  }
  if (connect.empty()) usage("--connect is required");
  if (id.empty() || id.size() > 255) usage("--id must be 1..255 bytes");

  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, id);
  dealer.set(zmq::sockopt::linger, 5000);  // closing flushes what is queued, within bounds
  dealer.set(zmq::sockopt::sndtimeo, 5000);
  dealer.connect(connect);

  int failed = 0;
  for (const auto& c : all) {
    const std::string frame = c.build(id);
    bool sent = false;
    try {
      sent = dealer.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::none).has_value();
    } catch (const zmq::error_t& e) {
      std::fprintf(stderr, "case %s: send failed: %s\n", c.name, e.what());
    }
    if (sent) {
      std::printf("case %s: sent %zu bytes\n", c.name, frame.size());
    } else {
      std::printf("case %s: NOT SENT\n", c.name);
      ++failed;
    }
    std::fflush(stdout);
    if (gapMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gapMs));
  }
  dealer.close();  // waits up to the linger for the queue to reach the coordinator
  ctx.close();
  return failed == 0 ? 0 : 1;
}
