// The frame every fedtl message travels in. Fixed 32-byte little-endian header, then the
// payload (a message serialised with the wire archive):
//
//   u32 magic "FTLW" | u16 version | u16 type | u64 round | u32 sender | u32 reserved (0)
//   | u64 payload length
//
// A receiver decodes the header first and checks magic, version, type and the length against
// that type's limit before it allocates or reads the payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/wire_archive.h"

namespace fedtl::protocols {

inline constexpr std::uint32_t kFrameMagic = 0x57'4C'54'46;  // "FTLW" in little-endian byte order
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 32;

enum class MessageType : std::uint16_t {
  kHello = 1,        // participant -> coordinator: identity, cached backbone digest
  kWelcome = 2,      // coordinator -> participant: assigned id, backbone digest
  kBackbone = 3,     // coordinator -> participant: checkpoint bytes
  kRoundStart = 4,   // coordinator -> participant: global trainable parameters, training config
  kUpdate = 5,       // participant -> coordinator: parameter update and sample count
  kEvalRequest = 6,  // coordinator -> participant: evaluate these parameters locally
  kEvalResult = 7,   // participant -> coordinator: local test metrics
  kHeartbeat = 8,    // either way: liveness
  kBye = 9,          // either way: orderly shutdown, with a reason
  kUploadReady = 10,  // participant -> coordinator: my update for this round is ready
  kUploadGrant = 11,  // coordinator -> participant: send it now (upload flow control)
  kStatsRequest = 12,  // coordinator -> participant: report your BatchNorm statistics (federated AdaBN)
  kStats = 13,         // participant -> coordinator: BatchNorm statistics of the local data
  // Secure aggregation (protocols/secagg, docs/protocol.md): one frame type per SecAgg message.
  kSecAggAdvertise = 14,           // participant -> coordinator: key advertisement (training done)
  kSecAggShareKeysRequest = 15,    // coordinator -> participant: accepted roster, neighbours' keys
  kSecAggShareKeysResponse = 16,   // participant -> coordinator: sealed Shamir shares
  kSecAggMaskedInputRequest = 17,  // coordinator -> participant: shares addressed to it; the upload grant
  kSecAggMaskedInput = 18,         // participant -> coordinator: the masked update
  kSecAggUnmaskRequest = 19,       // coordinator -> participant: which neighbours contributed
  kSecAggUnmaskResponse = 20,      // participant -> coordinator: the shares that remove the masks
  kSecAggConsistencyCheckRequest = 21,   // coordinator -> participant: who contributed (hardened mode)
  kSecAggConsistencyCheckResponse = 22,  // participant -> coordinator: its signature over that set
};
inline constexpr MessageType kLastMessageType = MessageType::kSecAggConsistencyCheckResponse;

const char* messageTypeName(MessageType type);

struct FrameHeader {
  MessageType type = MessageType::kHeartbeat;
  std::uint64_t round = 0;
  std::uint32_t sender = 0;
  std::uint64_t payloadSize = 0;
};

// The largest SecAgg neighbourhood (a participant's neighbours and itself) fedtl runs: the
// coordinator refuses configurations that could exceed it.
inline constexpr std::uint64_t kMaxSecAggNeighbourhood = 4096;

// Payload bound of the SecAgg messages that grow with the neighbourhood m (share-keys
// responses, masked-input and unmask requests, unmask responses): 8 bytes of session, then at
// most m - 1 sealed shares of 104 bytes with their 8-byte length prefix, about 92 bytes per
// member in the unmask response, or a hardened unmask request's alive and dropped lists with up
// to 2m - 1 signatures of 68 bytes (secagg::unmaskRequestSizeBound). 32 + 144·m covers each
// (tests/unit/frame_test.cc checks it).
constexpr std::uint64_t secAggNeighbourhoodBound(std::uint64_t neighbourhood) { return 32 + 144 * neighbourhood; }

// Per-deployment bounds on payload sizes; a frame above its type's bound is refused unread.
struct FrameLimits {
  std::uint64_t maxControl = 64 << 10;            // hello, welcome, heartbeat, bye, eval, key advertisement
  std::uint64_t maxParameters = std::uint64_t{1} << 30;  // round start, update, masked input, share-keys request: 1 GiB
  std::uint64_t maxBackbone = std::uint64_t{4} << 30;    // checkpoint bytes
  std::uint64_t maxSecAgg = secAggNeighbourhoodBound(kMaxSecAggNeighbourhood);  // about 576 KiB

  std::uint64_t limitFor(MessageType type) const;
};

std::array<std::uint8_t, kFrameHeaderSize> encodeFrameHeader(const FrameHeader& header);
// Throws DecodeError naming the problem: short input, bad magic, unsupported version, unknown
// type, non-zero reserved field, or a payload length above the type's limit.
FrameHeader decodeFrameHeader(std::string_view bytes, const FrameLimits& limits);

// A whole frame: header plus the encoded message.
// Sized first and written once: a frame never holds its payload twice.
template <class Message>
std::string encodeFrame(const Message& message, std::uint64_t round, std::uint32_t sender) {
  const std::size_t payloadSize = encodedSize(message);
  auto head = encodeFrameHeader(FrameHeader{Message::kType, round, sender, payloadSize});
  std::string out;
  out.reserve(kFrameHeaderSize + payloadSize);
  out.append(reinterpret_cast<const char*>(head.data()), head.size());
  encodeInto(out, message);
  return out;
}

// Decodes the payload of a frame whose header is `header` as Message; the type must match.
template <class Message>
Message decodePayload(const FrameHeader& header, std::string_view payload) {
  FEDTL_ENFORCE(header.type == Message::kType, DecodeError, "expected a ", messageTypeName(Message::kType),
                " message, got ", messageTypeName(header.type));
  FEDTL_ENFORCE(payload.size() == header.payloadSize, DecodeError, "payload is ", payload.size(),
                " bytes but the header says ", header.payloadSize);
  return decode<Message>(payload);
}

}  // namespace fedtl::protocols
