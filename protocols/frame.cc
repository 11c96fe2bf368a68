#include "protocols/frame.h"

#include <cstring>

namespace fedtl::protocols {
namespace {

template <class T>
void put(std::uint8_t* at, T v) {
  std::memcpy(at, &v, sizeof v);
}
template <class T>
T get(const char* at) {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

bool knownType(std::uint16_t t) {
  return t >= static_cast<std::uint16_t>(MessageType::kHello) && t <= static_cast<std::uint16_t>(kLastMessageType);
}

}  // namespace

const char* messageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "hello";
    case MessageType::kWelcome: return "welcome";
    case MessageType::kBackbone: return "backbone";
    case MessageType::kRoundStart: return "round-start";
    case MessageType::kUpdate: return "update";
    case MessageType::kEvalRequest: return "eval-request";
    case MessageType::kEvalResult: return "eval-result";
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kUploadReady: return "upload-ready";
    case MessageType::kUploadGrant: return "upload-grant";
    case MessageType::kStatsRequest: return "stats-request";
    case MessageType::kStats: return "stats";
    case MessageType::kBye: return "bye";
    case MessageType::kSecAggAdvertise: return "secagg-advertise";
    case MessageType::kSecAggShareKeysRequest: return "secagg-share-keys-request";
    case MessageType::kSecAggShareKeysResponse: return "secagg-share-keys-response";
    case MessageType::kSecAggMaskedInputRequest: return "secagg-masked-input-request";
    case MessageType::kSecAggMaskedInput: return "secagg-masked-input";
    case MessageType::kSecAggUnmaskRequest: return "secagg-unmask-request";
    case MessageType::kSecAggUnmaskResponse: return "secagg-unmask-response";
    case MessageType::kSecAggConsistencyCheckRequest: return "secagg-consistency-check-request";
    case MessageType::kSecAggConsistencyCheckResponse: return "secagg-consistency-check-response";
  }
  return "unknown";
}

std::uint64_t FrameLimits::limitFor(MessageType type) const {
  switch (type) {
    case MessageType::kBackbone: return maxBackbone;
    case MessageType::kRoundStart:
    case MessageType::kUpdate:
    case MessageType::kEvalRequest:
    case MessageType::kSecAggMaskedInput:
    case MessageType::kStatsRequest:
    case MessageType::kSecAggConsistencyCheckRequest:
    case MessageType::kSecAggShareKeysRequest: return maxParameters;  // their rosters grow with the selection
    case MessageType::kSecAggShareKeysResponse:
    case MessageType::kSecAggMaskedInputRequest:
    case MessageType::kSecAggUnmaskRequest:
    case MessageType::kSecAggUnmaskResponse: return maxSecAgg;
    default: return maxControl;
  }
}

std::array<std::uint8_t, kFrameHeaderSize> encodeFrameHeader(const FrameHeader& h) {
  std::array<std::uint8_t, kFrameHeaderSize> out{};
  put(out.data() + 0, kFrameMagic);
  put(out.data() + 4, kProtocolVersion);
  put(out.data() + 6, static_cast<std::uint16_t>(h.type));
  put(out.data() + 8, h.round);
  put(out.data() + 16, h.sender);
  put(out.data() + 20, std::uint32_t{0});
  put(out.data() + 24, h.payloadSize);
  return out;
}

FrameHeader decodeFrameHeader(std::string_view bytes, const FrameLimits& limits) {
  FEDTL_ENFORCE(bytes.size() >= kFrameHeaderSize, DecodeError, "frame of ", bytes.size(),
                " bytes is shorter than the 32-byte header");
  const char* p = bytes.data();
  FEDTL_ENFORCE(get<std::uint32_t>(p) == kFrameMagic, DecodeError, "bad frame magic (not a fedtl peer?)");
  auto version = get<std::uint16_t>(p + 4);
  FEDTL_ENFORCE(version == kProtocolVersion, DecodeError, "protocol version ", version,
                " is not supported (this build speaks version ", kProtocolVersion, ")");
  auto type = get<std::uint16_t>(p + 6);
  FEDTL_ENFORCE(knownType(type), DecodeError, "unknown message type ", type);
  FEDTL_ENFORCE(get<std::uint32_t>(p + 20) == 0, DecodeError, "reserved header field is not zero");
  FrameHeader h;
  h.type = static_cast<MessageType>(type);
  h.round = get<std::uint64_t>(p + 8);
  h.sender = get<std::uint32_t>(p + 16);
  h.payloadSize = get<std::uint64_t>(p + 24);
  FEDTL_ENFORCE(h.payloadSize <= limits.limitFor(h.type), DecodeError, messageTypeName(h.type), " payload of ",
                h.payloadSize, " bytes exceeds the limit of ", limits.limitFor(h.type));
  return h;
}

}  // namespace fedtl::protocols
