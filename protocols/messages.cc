#include "protocols/messages.h"

#include <cmath>
#include <cstring>

namespace fedtl::protocols {
namespace {

bool isHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void checkName(const std::string& name, const char* what) {
  FEDTL_ENFORCE(!name.empty() && name.size() <= kMaxNameLength, DecodeError, what, " must be 1..", kMaxNameLength,
                " characters, got ", name.size());
  for (unsigned char c : name)
    FEDTL_ENFORCE(c > 0x20 && c < 0x7f, DecodeError, what, " may hold printable ASCII without spaces only");
}

}  // namespace

void validate(const Hello& m) {
  checkName(m.participantName, "participant name");
  FEDTL_ENFORCE(m.cachedBackbone.empty() || isHexDigest(m.cachedBackbone), DecodeError,
                "cached backbone must be empty or a hex SHA-256 digest");
}

void validate(const Welcome& m) {
  FEDTL_ENFORCE(isHexDigest(m.backboneDigest), DecodeError, "welcome carries no valid backbone digest");
  FEDTL_ENFORCE(m.signature.empty() || m.signature.size() == 64, DecodeError, "welcome signature is not 64 bytes");
}

void validate(const TrainConfig& m) {
  checkName(m.strategy, "strategy");
  FEDTL_ENFORCE(m.steps >= 0 && m.steps <= 10'000'000, DecodeError, "steps out of range: ", m.steps);
  FEDTL_ENFORCE(m.batchSize >= 1 && m.batchSize <= 65536, DecodeError, "batch size out of range: ", m.batchSize);
  FEDTL_ENFORCE(std::isfinite(m.learningRate) && m.learningRate > 0 && m.learningRate < 100, DecodeError,
                "learning rate out of range");
  FEDTL_ENFORCE(std::isfinite(m.proximalMu) && m.proximalMu >= 0, DecodeError, "proximal mu out of range");
}

void validate(const Update& m) {
  FEDTL_ENFORCE(m.trainSamples > 0, DecodeError, "update from zero training samples");
  FEDTL_ENFORCE(std::isfinite(m.trainLoss), DecodeError, "update has a non-finite loss");
  for (float v : m.delta) FEDTL_ENFORCE(std::isfinite(v), DecodeError, "update holds a non-finite value");
}

UpdateView decodeUpdateView(const FrameHeader& header, std::string_view payload) {
  FEDTL_ENFORCE(header.type == MessageType::kUpdate, DecodeError, "expected an update message, got ",
                messageTypeName(header.type));
  FEDTL_ENFORCE(payload.size() == header.payloadSize, DecodeError, "payload is ", payload.size(),
                " bytes but the header says ", header.payloadSize);
  // The same layout Update::serialize writes: samples, loss, then the delta's length and values.
  UpdateView view;
  std::uint64_t count = 0;
  WireInputArchive ar(payload);
  ar(view.trainSamples, view.trainLoss, count);
  FEDTL_ENFORCE(count <= ar.remaining() / sizeof(float) && ar.remaining() == count * sizeof(float), DecodeError,
                "update announces ", count, " values but carries ", ar.remaining(), " bytes");
  view.delta = payload.substr(payload.size() - ar.remaining());
  FEDTL_ENFORCE(view.trainSamples > 0, DecodeError, "update from zero training samples");
  FEDTL_ENFORCE(std::isfinite(view.trainLoss), DecodeError, "update has a non-finite loss");
  for (std::size_t i = 0; i < count; ++i) {
    float v;
    std::memcpy(&v, view.delta.data() + i * sizeof(float), sizeof v);
    FEDTL_ENFORCE(std::isfinite(v), DecodeError, "update holds a non-finite value at index ", i);
  }
  return view;
}

void validate(const Stats& m) {
  FEDTL_ENFORCE(m.statistics.empty() || m.samples > 0, DecodeError, "statistics from zero samples");
  for (float v : m.statistics) FEDTL_ENFORCE(std::isfinite(v), DecodeError, "statistics hold a non-finite value");
}

void validate(const EvalResult& m) {
  FEDTL_ENFORCE(m.accuracy >= 0 && m.accuracy <= 1, DecodeError, "accuracy outside [0, 1]");
  FEDTL_ENFORCE(std::isfinite(m.loss) && m.loss >= 0, DecodeError, "loss must be finite and non-negative");
}

}  // namespace fedtl::protocols
