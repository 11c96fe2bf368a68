#include "protocols/messages.h"

#include <cmath>
#include <cstring>

#include "common/dp/discrete_gaussian.h"

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

// Decodes in place a frame payload whose last field is a vector of Element: checks the type
// and length against the header, reads the fields before the vector with `readHead`, and
// returns the vector's bytes, which must be exactly its announced length.
template <class Element, class ReadHead>
std::string_view packedTail(const FrameHeader& header, MessageType type, std::string_view payload,
                            const ReadHead& readHead) {
  FEDTL_ENFORCE(header.type == type, DecodeError, "expected ", messageTypeName(type), ", got ",
                messageTypeName(header.type));
  FEDTL_ENFORCE(payload.size() == header.payloadSize, DecodeError, "payload is ", payload.size(),
                " bytes but the header says ", header.payloadSize);
  WireInputArchive ar(payload);
  readHead(ar);
  std::uint64_t count = 0;
  ar(count);
  FEDTL_ENFORCE(count <= ar.remaining() / sizeof(Element) && ar.remaining() == count * sizeof(Element), DecodeError,
                messageTypeName(type), " announces ", count, " values but carries ", ar.remaining(), " bytes");
  return payload.substr(payload.size() - ar.remaining());
}

}  // namespace

void validate(const Hello& m, std::string_view connection) {
  checkName(m.participantName, "participant name");
  FEDTL_ENFORCE(m.cachedBackbone.empty() || isHexDigest(m.cachedBackbone), DecodeError,
                "cached backbone must be empty or a hex SHA-256 digest");
  FEDTL_ENFORCE(connection.empty() || m.participantName == connection, DecodeError, "hello names '",
                m.participantName, "' but the connection is '", connection, "'");
  FEDTL_ENFORCE(m.identityKey.size() == crypto::kEd25519KeySize, DecodeError, "hello carries an identity key of ",
                m.identityKey.size(), " bytes, not an Ed25519 public key (", crypto::kEd25519KeySize, ")");
}

void validate(const SecAggSetup& m, std::size_t parameters) {
  FEDTL_ENFORCE(m.enabled(), DecodeError, "secure aggregation setup without participants");
  for (std::size_t i = 0; i < m.roster.size(); ++i)
    FEDTL_ENFORCE(m.roster[i].id >= 1 && (i == 0 || m.roster[i - 1].id < m.roster[i].id), DecodeError,
                  "secure aggregation roster ids must be non-zero and strictly ascending");
  FEDTL_ENFORCE(m.dimension == std::uint64_t{parameters} + kSecAggLossCoordinates, DecodeError,
                "secure aggregation dimension ", m.dimension, " does not fit ", parameters, " parameters and the loss");
  FEDTL_ENFORCE(std::isfinite(m.clip) && m.clip > 0, DecodeError, "secure aggregation clip must be finite and positive");
  FEDTL_ENFORCE(m.bits >= 1 && m.bits <= 32, DecodeError, "secure aggregation bits out of range: ", m.bits);
  FEDTL_ENFORCE(m.weightScale >= 1 && m.weightUnit >= 1 && m.weightUnit <= m.weightScale, DecodeError,
                "secure aggregation weight scale ", m.weightScale, " and unit ", m.weightUnit, " are inconsistent");
  FEDTL_ENFORCE(m.dpSigma == 0 || (std::isfinite(m.dpSigma) && m.dpSigma >= 1 && m.dpSigma <= dp::kMaxDiscreteGaussianSigma &&
                                   std::isfinite(m.dpL2Clip) && m.dpL2Clip > 0),
                DecodeError, "differential privacy parameters out of range: L2 clip ", m.dpL2Clip, ", noise σ ",
                m.dpSigma);
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
  // The layout Update::serialize writes: samples, loss, then the delta's length and values.
  UpdateView view;
  view.delta = packedTail<float>(header, MessageType::kUpdate, payload,
                                 [&](WireInputArchive& ar) { ar(view.trainSamples, view.trainLoss); });
  FEDTL_ENFORCE(view.trainSamples > 0, DecodeError, "update from zero training samples");
  FEDTL_ENFORCE(std::isfinite(view.trainLoss), DecodeError, "update has a non-finite loss");
  for (std::size_t i = 0; i < view.size(); ++i) {
    float v;
    std::memcpy(&v, view.delta.data() + i * sizeof(float), sizeof v);
    FEDTL_ENFORCE(std::isfinite(v), DecodeError, "update holds a non-finite value at index ", i);
  }
  return view;
}

MaskedInputView decodeMaskedInputView(const FrameHeader& header, std::string_view payload) {
  // The layout SecAggMaskedInput::serialize writes: the session, then the vector's length and values.
  MaskedInputView view;
  view.values = packedTail<secagg::Ring>(header, MessageType::kSecAggMaskedInput, payload,
                                         [&](WireInputArchive& ar) { ar(view.session); });
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
