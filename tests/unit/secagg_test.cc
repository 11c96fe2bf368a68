// SecAgg / SecAgg+ state machines (protocols/secagg): a simulated round driver runs n clients
// and the server in memory, every message through the wire encoding, with participants that
// vanish at chosen stages and hooks that play a malicious server or network. The unmasked sum
// must be bit-identical to the plaintext sum of the contributors' ring vectors whenever the
// round completes, and every failure must end in a clean abort with a reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/shamir.h"
#include "common/error.h"
#include "common/fixed_point.h"
#include "protocols/secagg/client.h"
#include "protocols/secagg/config.h"
#include "protocols/secagg/derivation.h"
#include "protocols/secagg/messages.h"
#include "protocols/secagg/server.h"
#include "protocols/wire_archive.h"

namespace fedtl::secagg {
namespace {

using protocols::DecodeError;

// ---- the simulated round ----

// Long-term identities of participants 1..n, drawn once per test binary.
const crypto::Ed25519KeyPair& identityOf(std::uint32_t id) {
  static std::map<std::uint32_t, crypto::Ed25519KeyPair> keys;
  auto it = keys.find(id);
  if (it == keys.end()) it = keys.emplace(id, crypto::generateEd25519KeyPair()).first;
  return it->second;
}

std::vector<std::uint32_t> idsFromOne(std::uint32_t n) {
  std::vector<std::uint32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 1u);
  return ids;
}

std::shared_ptr<const IdentityTable> allowList(const std::vector<std::uint32_t>& ids) {
  auto table = std::make_shared<IdentityTable>();
  for (std::uint32_t id : ids) (*table)[id] = identityOf(id).publicKey;
  return table;
}

// Every message crosses the wire encoding, as it will in a frame.
template <typename M>
M overTheWire(const M& message) {
  return protocols::decode<M>(protocols::encode(message));
}

// Hooks that play a malicious server or network: they may alter a message in flight.
struct Tamper {
  std::function<void(KeyAdvertisement&)> advertisement;
  std::function<void(std::uint32_t, ShareKeysRequest&)> shareKeysRequest;
  std::function<void(std::uint32_t, MaskedInputRequest&)> maskedInputRequest;
  std::function<void(std::uint32_t, ConsistencyCheckRequest&)> consistencyCheckRequest;
  std::function<void(std::uint32_t, ConsistencyCheckResponse&)> consistencyCheckResponse;
  std::function<void(std::uint32_t, UnmaskRequest&)> unmaskRequest;
  std::function<void(std::uint32_t, UnmaskResponse&)> unmaskResponse;
};

struct RoundSpec {
  std::uint64_t round = 1;
  std::uint32_t n = 10;
  std::uint32_t k = 0;
  std::uint32_t t = 6;
  std::uint64_t d = 16;
  bool hardened = false;                    // with the ConsistencyCheck stage
  std::map<std::uint32_t, Stage> vanishAt;  // the first stage a participant does not answer
  Tamper tamper;
  std::uint64_t inputSeed = 1;
  const FixedPointCodec<Ring>* codec = nullptr;          // set: clients mask float updates through it
  std::shared_ptr<const IdentityTable> serverAllowList;  // default: every participant
};

struct RoundRun {
  std::shared_ptr<const RoundParameters> params;
  std::unique_ptr<Server> server;
  std::map<std::uint32_t, Client> clients;
  std::map<std::uint32_t, std::vector<Ring>> inputs;
  std::map<std::uint32_t, std::vector<float>> floatInputs;
  std::map<std::uint32_t, Ring> weights;
  std::vector<std::uint32_t> contributors;  // whose masked input went into the sum
  std::map<std::uint32_t, Abort> clientAborts;

  bool completed() const { return server->stage() == Stage::kDone; }
  std::vector<Ring> plaintextSum() const {
    std::vector<Ring> sum(params->dimension(), 0);
    for (std::uint32_t id : contributors)
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += inputs.at(id)[i];
    return sum;
  }
  Ring plaintextWeight() const {
    Ring sum = 0;
    for (std::uint32_t id : contributors) sum += weights.at(id);
    return sum;
  }
  bool hasRejection(std::uint32_t id, RejectionReason reason) const {
    for (const Rejection& r : server->rejections())
      if (r.participant == id && r.reason == reason) return true;
    return false;
  }
  std::string describe() const {
    std::ostringstream out;
    out << "server " << stageName(server->stage());
    if (server->abortReason())
      out << " (" << abortReasonName(server->abortReason()->reason) << ": " << server->abortReason()->detail << ")";
    for (const auto& [id, abort] : clientAborts) out << "; client " << id << " aborted: " << abort.detail;
    return out.str();
  }
};

std::string describe(const RoundSpec& spec) {
  std::ostringstream out;
  out << "round " << spec.round << ", n " << spec.n << ", k " << spec.k << ", t " << spec.t << ", vanish:";
  for (const auto& [id, stage] : spec.vanishAt) out << " " << id << "@" << stageName(stage);
  return out.str();
}

RoundRun runRound(const RoundSpec& spec) {
  RoundRun run;
  SecAggConfig config;
  config.round = spec.round;
  config.participants = idsFromOne(spec.n);
  config.threshold = spec.t;
  config.neighbours = spec.k;
  config.dimension = spec.d;
  config.consistencyCheck = spec.hardened;
  run.params = std::make_shared<const RoundParameters>(config);
  const auto identities = allowList(config.participants);
  run.server = std::make_unique<Server>(run.params, spec.serverAllowList ? spec.serverAllowList : identities);
  Server& server = *run.server;

  std::mt19937_64 rng(spec.inputSeed);
  for (std::uint32_t id : config.participants) {
    run.clients.emplace(id, Client(run.params, identities, id, identityOf(id).privateKey));
    std::vector<Ring> input(spec.d);
    for (Ring& v : input) v = static_cast<Ring>(rng());
    std::vector<float> floats(spec.d);
    for (float& v : floats) v = std::uniform_real_distribution<float>(-1.5f, 1.5f)(rng);
    run.inputs[id] = input;
    run.floatInputs[id] = floats;
    run.weights[id] = static_cast<Ring>(1 + rng() % 1000);
  }
  auto answers = [&](std::uint32_t id, Stage stage) {
    const auto it = spec.vanishAt.find(id);
    return (it == spec.vanishAt.end() || stage < it->second) && !run.clientAborts.count(id);
  };
  auto noteAbort = [&](std::uint32_t id, const Abort& abort) { run.clientAborts.emplace(id, abort); };

  for (std::uint32_t id : server.recipients()) {
    if (!answers(id, Stage::kAdvertiseKeys)) continue;
    KeyAdvertisement ad = run.clients.at(id).advertiseKeys();
    if (spec.tamper.advertisement) spec.tamper.advertisement(ad);
    server.receiveAdvertisement(id, overTheWire(ad));
  }
  if (server.closeStage() == Stage::kAborted) return run;

  for (std::uint32_t id : server.recipients()) {
    if (!answers(id, Stage::kShareKeys)) continue;
    ShareKeysRequest request = server.shareKeysRequest(id);
    if (spec.tamper.shareKeysRequest) spec.tamper.shareKeysRequest(id, request);
    auto response = run.clients.at(id).shareKeys(overTheWire(request));
    if (!response) {
      noteAbort(id, response.abort());
      continue;
    }
    server.receiveShares(id, overTheWire(response.value()));
  }
  if (server.closeStage() == Stage::kAborted) return run;

  MaskedSumAccumulator sum(*run.params);
  for (std::uint32_t id : server.recipients()) {
    if (!answers(id, Stage::kMaskedInput)) continue;
    MaskedInputRequest request = server.maskedInputRequest(id);
    if (spec.tamper.maskedInputRequest) spec.tamper.maskedInputRequest(id, request);
    Client& client = run.clients.at(id);
    auto masked = spec.codec ? client.maskInput(overTheWire(request), run.floatInputs[id], run.weights[id], *spec.codec)
                             : client.maskInput(overTheWire(request), run.inputs[id], run.weights[id]);
    if (!masked) {
      noteAbort(id, masked.abort());
      continue;
    }
    sum.add(id, overTheWire(masked.value()));
  }
  run.contributors = sum.contributors();
  if (std::move(sum).submitTo(server) == Stage::kAborted) return run;

  if (server.stage() == Stage::kConsistencyCheck) {
    for (std::uint32_t id : server.recipients()) {
      if (!answers(id, Stage::kConsistencyCheck)) continue;
      ConsistencyCheckRequest request = server.consistencyCheckRequest(id);
      if (spec.tamper.consistencyCheckRequest) spec.tamper.consistencyCheckRequest(id, request);
      auto response = run.clients.at(id).consistencyCheck(overTheWire(request));
      if (!response) {
        noteAbort(id, response.abort());
        continue;
      }
      ConsistencyCheckResponse sent = response.value();
      if (spec.tamper.consistencyCheckResponse) spec.tamper.consistencyCheckResponse(id, sent);
      server.receiveConsistencyResponse(id, overTheWire(sent));
    }
    if (server.closeStage() == Stage::kAborted) return run;
  }

  for (std::uint32_t id : server.recipients()) {
    if (!answers(id, Stage::kUnmask)) continue;
    UnmaskRequest request = server.unmaskRequest(id);
    if (spec.tamper.unmaskRequest) spec.tamper.unmaskRequest(id, request);
    auto response = run.clients.at(id).unmask(overTheWire(request));
    if (!response) {
      noteAbort(id, response.abort());
      continue;
    }
    UnmaskResponse sent = response.value();
    if (spec.tamper.unmaskResponse) spec.tamper.unmaskResponse(id, sent);
    server.receiveUnmaskResponse(id, overTheWire(sent));
  }
  server.closeStage();
  return run;
}

void expectExactSum(const RoundRun& run, const std::string& context) {
  ASSERT_TRUE(run.completed()) << context << ": " << run.describe();
  const AggregateResult& result = run.server->result();
  EXPECT_EQ(result.contributors, run.contributors) << context;
  EXPECT_EQ(result.sum, run.plaintextSum()) << context;
  EXPECT_EQ(result.weightSum, run.plaintextWeight()) << context;
}

void expectCleanAbort(const RoundRun& run, const std::string& context) {
  ASSERT_EQ(run.server->stage(), Stage::kAborted) << context << ": " << run.describe();
  ASSERT_TRUE(run.server->abortReason().has_value()) << context;
  EXPECT_FALSE(run.server->abortReason()->detail.empty()) << context;
  EXPECT_THROW(run.server->result(), UsageError) << context;
  EXPECT_TRUE(run.server->recipients().empty()) << context;
}

const std::vector<Stage> kAnsweringStages = {Stage::kAdvertiseKeys, Stage::kShareKeys, Stage::kMaskedInput,
                                             Stage::kUnmask};
const std::vector<Stage> kHardenedAnsweringStages = {Stage::kAdvertiseKeys, Stage::kShareKeys, Stage::kMaskedInput,
                                                     Stage::kConsistencyCheck, Stage::kUnmask};

// `count` distinct participants of 1..n vanishing at `stage`, or at random stages (of `stages`)
// if it is kDone.
std::map<std::uint32_t, Stage> randomDropouts(std::mt19937_64& rng, std::uint32_t n, std::uint32_t count, Stage stage,
                                              const std::vector<Stage>& stages = kAnsweringStages) {
  std::vector<std::uint32_t> ids = idsFromOne(n);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::map<std::uint32_t, Stage> out;
  for (std::uint32_t i = 0; i < count; ++i) out[ids[i]] = stage != Stage::kDone ? stage : stages[rng() % stages.size()];
  return out;
}

// ---- configuration and graph ----

TEST(SecAggConfig, DefaultsFollowTheDesign) {
  EXPECT_EQ(defaultThreshold(10, 0), 6u);
  EXPECT_EQ(defaultThreshold(20, 8), 5u);
  EXPECT_EQ(defaultThreshold(11, 0), 6u);
  EXPECT_EQ(neighbourhoodSize(20, 8), 9u);
  EXPECT_EQ(neighbourhoodSize(20, 0), 20u);
  EXPECT_EQ(neighbourhoodSize(9, 8), 9u);  // k >= n - 1 is the complete graph
  EXPECT_EQ(defaultNeighbourCount(10), 0u);
  EXPECT_EQ(defaultNeighbourCount(50), 0u);
  EXPECT_EQ(defaultNeighbourCount(100), 20u);
  EXPECT_EQ(defaultNeighbourCount(1000), 30u);
}

SecAggConfig configOf(std::uint32_t n, std::uint32_t k, std::uint32_t t, std::uint64_t round = 1) {
  SecAggConfig config;
  config.round = round;
  config.participants = idsFromOne(n);
  config.neighbours = k;
  config.threshold = t;
  config.dimension = 16;
  return config;
}

std::string configErrorOf(const SecAggConfig& config) {
  try {
    RoundParameters params(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SecAggConfig, RefusesThresholdsThatAreTooLowOrTooHighNamingTheFix) {
  EXPECT_NE(configErrorOf(configOf(10, 0, 5)).find("use t >= 6"), std::string::npos)
      << configErrorOf(configOf(10, 0, 5));
  EXPECT_NE(configErrorOf(configOf(20, 8, 4)).find("use t >= 5"), std::string::npos);
  EXPECT_NE(configErrorOf(configOf(20, 8, 10)).find("[2, 9]"), std::string::npos);
  EXPECT_FALSE(configErrorOf(configOf(10, 0, 1)).empty());
  EXPECT_FALSE(configErrorOf(configOf(10, 0, 11)).empty());
  EXPECT_TRUE(configErrorOf(configOf(10, 0, 6)).empty());
  EXPECT_TRUE(configErrorOf(configOf(10, 0, 10)).empty());
  EXPECT_TRUE(configErrorOf(configOf(20, 8, 5)).empty());
}

TEST(SecAggConfig, RefusesMalformedParticipantListsDimensionsAndOddK) {
  SecAggConfig unsorted = configOf(5, 0, 3);
  std::swap(unsorted.participants[0], unsorted.participants[1]);
  EXPECT_NE(configErrorOf(unsorted).find("ascending"), std::string::npos);
  SecAggConfig repeated = configOf(5, 0, 3);
  repeated.participants[1] = repeated.participants[0];
  EXPECT_FALSE(configErrorOf(repeated).empty());
  SecAggConfig zero = configOf(5, 0, 3);
  zero.participants[0] = 0;
  EXPECT_FALSE(configErrorOf(zero).empty());
  SecAggConfig noDimension = configOf(5, 0, 3);
  noDimension.dimension = 0;
  EXPECT_FALSE(configErrorOf(noDimension).empty());
  EXPECT_NE(configErrorOf(configOf(20, 7, 5)).find("even"), std::string::npos);
  EXPECT_FALSE(configErrorOf(configOf(1, 0, 2)).empty());
}

TEST(SecAggConfig, KRegularGraphIsSymmetricRegularDeterministicAndPerRound) {
  const RoundParameters a(configOf(20, 8, 5, 7));
  const RoundParameters same(configOf(20, 8, 5, 7));
  const RoundParameters otherRound(configOf(20, 8, 5, 8));
  EXPECT_FALSE(a.isCompleteGraph());
  EXPECT_EQ(a.neighbourhoodSize(), 9u);
  bool differs = false;
  for (std::uint32_t id = 1; id <= 20; ++id) {
    const auto& nbs = a.neighboursOf(id);
    EXPECT_EQ(nbs.size(), 8u);
    EXPECT_TRUE(std::is_sorted(nbs.begin(), nbs.end()));
    EXPECT_EQ(std::adjacent_find(nbs.begin(), nbs.end()), nbs.end());
    for (std::uint32_t nb : nbs) {
      EXPECT_NE(nb, id);
      EXPECT_TRUE(a.areNeighbours(nb, id)) << id << " - " << nb;
    }
    EXPECT_EQ(nbs, same.neighboursOf(id));
    differs |= nbs != otherRound.neighboursOf(id);
  }
  EXPECT_TRUE(differs) << "the graph must be drawn afresh for every round";
  EXPECT_EQ(a.graphSeed(), same.graphSeed());

  const RoundParameters complete(configOf(9, 8, 5));
  EXPECT_TRUE(complete.isCompleteGraph());
  EXPECT_EQ(complete.neighboursOf(3).size(), 8u);
  EXPECT_THROW(complete.neighboursOf(10), UsageError);
}

// ---- messages ----

KeyAdvertisement sampleAdvertisement(std::uint32_t id) {
  KeyAdvertisement ad;
  ad.round = 1;
  ad.participant = id;
  ad.encryptionKey = crypto::generateX25519KeyPair().publicKey;
  ad.maskingKey = crypto::generateX25519KeyPair().publicKey;
  ad.selfMaskCommitment.fill(static_cast<std::uint8_t>(id));
  signAdvertisement(ad, identityOf(id).privateKey);
  return ad;
}

EncryptedShare sampleShare(std::uint32_t sender, std::uint32_t recipient) {
  EncryptedShare share;
  share.sender = sender;
  share.recipient = recipient;
  for (std::size_t i = 0; i < share.ciphertext.size(); ++i) share.ciphertext[i] = static_cast<std::uint8_t>(i * 7);
  return share;
}

template <typename M>
void expectRoundTrip(const M& message) {
  const std::string bytes = protocols::encode(message);
  const M back = protocols::decode<M>(bytes);
  EXPECT_EQ(protocols::encode(back), bytes);
  EXPECT_THROW(protocols::decode<M>(bytes.substr(0, bytes.size() - 1)), DecodeError);
  EXPECT_THROW(protocols::decode<M>(bytes + "x"), DecodeError);
}

TEST(SecAggMessages, AdvertisementRoundTripsAndValidates) {
  const RoundParameters params(configOf(10, 0, 6));
  const KeyAdvertisement ad = sampleAdvertisement(3);
  expectRoundTrip(ad);
  const auto back = protocols::decode<KeyAdvertisement>(protocols::encode(ad));
  EXPECT_EQ(back.participant, 3u);
  EXPECT_EQ(back.maskingKey, ad.maskingKey);
  EXPECT_EQ(back.signature, ad.signature);
  EXPECT_TRUE(advertisementSignatureValid(back, identityOf(3).publicKey));
  EXPECT_EQ(protocols::encode(ad).size(), 8 + 4 + 32 * 3 + 64u);
  EXPECT_NO_THROW(validate(back, params));
  KeyAdvertisement wrongRound = ad;
  wrongRound.round = 2;
  EXPECT_THROW(validate(wrongRound, params), DecodeError);
  KeyAdvertisement stranger = ad;
  stranger.participant = 11;
  EXPECT_THROW(validate(stranger, params), DecodeError);
}

TEST(SecAggMessages, ShareKeysRequestRoundTripsAndBoundsItsLists) {
  const RoundParameters params(configOf(20, 8, 5));
  ShareKeysRequest request;
  request.accepted = idsFromOne(20);
  request.digests.resize(20);
  for (std::size_t i = 0; i < 20; ++i) request.digests[i].fill(static_cast<std::uint8_t>(i));
  for (std::uint32_t nb : params.neighboursOf(1)) request.neighbourAdvertisements.push_back(sampleAdvertisement(nb));
  expectRoundTrip(request);
  const auto back = protocols::decode<ShareKeysRequest>(protocols::encode(request));
  EXPECT_EQ(back.accepted, request.accepted);
  EXPECT_EQ(back.digests, request.digests);
  ASSERT_EQ(back.neighbourAdvertisements.size(), 8u);
  EXPECT_NO_THROW(validate(back, params, 1));

  ShareKeysRequest mismatched = back;
  mismatched.digests.pop_back();
  EXPECT_THROW(validate(mismatched, params, 1), DecodeError);
  ShareKeysRequest unknownId = back;
  unknownId.accepted.back() = 21;
  EXPECT_THROW(validate(unknownId, params, 1), DecodeError);
  ShareKeysRequest tooMany = back;
  tooMany.neighbourAdvertisements.push_back(sampleAdvertisement(2));
  EXPECT_THROW(validate(tooMany, params, 1), DecodeError);
  EXPECT_THROW(validate(back, params, back.neighbourAdvertisements[0].participant), DecodeError)
      << "advertisements that are not the recipient's neighbours";
}

TEST(SecAggMessages, SharesRoundTripAndMustFitTheNeighbourhood) {
  const RoundParameters params(configOf(20, 8, 5));
  ShareKeysResponse response;
  for (std::uint32_t nb : params.neighboursOf(4)) response.shares.push_back(sampleShare(4, nb));
  expectRoundTrip(response);
  const auto back = protocols::decode<ShareKeysResponse>(protocols::encode(response));
  ASSERT_EQ(back.shares.size(), 8u);
  EXPECT_EQ(back.shares[3].ciphertext, response.shares[3].ciphertext);
  EXPECT_NO_THROW(validate(back, params, 4));
  EXPECT_THROW(validate(back, params, 5), DecodeError) << "shares claiming another sender";

  MaskedInputRequest request;
  for (std::uint32_t nb : params.neighboursOf(4)) request.shares.push_back(sampleShare(nb, 4));
  expectRoundTrip(request);
  const auto requestBack = protocols::decode<MaskedInputRequest>(protocols::encode(request));
  EXPECT_NO_THROW(validate(requestBack, params, 4));
  MaskedInputRequest misaddressed = requestBack;
  misaddressed.shares[0].recipient = 5;
  EXPECT_THROW(validate(misaddressed, params, 4), DecodeError);
  MaskedInputRequest repeated = requestBack;
  repeated.shares[1].sender = repeated.shares[0].sender;
  EXPECT_THROW(validate(repeated, params, 4), DecodeError);
}

TEST(SecAggMessages, MaskedInputRoundTripsAndMustHoldDPlusOneElements) {
  const RoundParameters params(configOf(10, 0, 6));
  MaskedInput input;
  input.masked.resize(17);
  std::iota(input.masked.begin(), input.masked.end(), 0xfffffff0u);
  expectRoundTrip(input);
  EXPECT_EQ(protocols::decode<MaskedInput>(protocols::encode(input)).masked, input.masked);
  EXPECT_NO_THROW(validate(input, params));
  input.masked.pop_back();
  EXPECT_THROW(validate(input, params), DecodeError);
}

TEST(SecAggMessages, UnmaskMessagesRoundTripAndValidate) {
  const RoundParameters params(configOf(10, 0, 6));
  UnmaskRequest request;
  request.alive = {1, 2, 3, 5, 6, 7};
  request.dropped = {4, 9};
  expectRoundTrip(request);
  const auto back = protocols::decode<UnmaskRequest>(protocols::encode(request));
  EXPECT_EQ(back.alive, request.alive);
  EXPECT_EQ(back.dropped, request.dropped);
  EXPECT_NO_THROW(validate(back, params, 1));
  UnmaskRequest unsorted = back;
  std::swap(unsorted.alive[0], unsorted.alive[1]);
  EXPECT_THROW(validate(unsorted, params, 1), DecodeError);
  UnmaskRequest stranger = back;
  stranger.dropped.push_back(11);
  EXPECT_THROW(validate(stranger, params, 1), DecodeError);

  UnmaskResponse response;
  response.selfMaskShares.push_back({1, {1, 2, 3, 4, 5}});
  response.selfMaskShares.push_back({2, {6, 7, 8, 9, 10}});
  response.maskKeyShares.push_back({4, {11, 12, 13, 14, 15}});
  response.unreadableShareSenders = {9};
  expectRoundTrip(response);
  const auto responseBack = protocols::decode<UnmaskResponse>(protocols::encode(response));
  EXPECT_EQ(responseBack.maskKeyShares[0].values, response.maskKeyShares[0].values);
  EXPECT_EQ(responseBack.unreadableShareSenders, response.unreadableShareSenders);
  EXPECT_NO_THROW(validate(responseBack, params, 1));
  UnmaskResponse ownKey = responseBack;
  ownKey.maskKeyShares[0].owner = 1;
  EXPECT_THROW(validate(ownKey, params, 1), DecodeError) << "a participant never reveals a share of its own key";
  UnmaskResponse outOfField = responseBack;
  outOfField.selfMaskShares[0].values[2] = crypto::shamir::kPrime;
  EXPECT_THROW(validate(outOfField, params, 1), DecodeError);
}

TEST(SecAggMessages, OversizedLengthPrefixIsRefusedBeforeAllocating) {
  std::string bytes(8, '\0');
  const std::uint64_t huge = std::uint64_t{1} << 40;
  std::memcpy(bytes.data(), &huge, sizeof huge);
  EXPECT_THROW(protocols::decode<MaskedInput>(bytes), DecodeError);
  EXPECT_THROW(protocols::decode<ShareKeysResponse>(bytes), DecodeError);
}

// ---- whole rounds with dropouts ----

TEST(SecAggRound, CompleteGraphWithoutDropoutsGivesTheExactSum) {
  RoundSpec spec;
  const RoundRun run = runRound(spec);
  expectExactSum(run, describe(spec));
  EXPECT_EQ(run.contributors, idsFromOne(10));
  EXPECT_TRUE(run.server->rejections().empty());
  for (const auto& [id, client] : run.clients) EXPECT_EQ(client.stage(), Stage::kDone) << id;
}

// n = 10, t = 6: up to n - t = 4 participants vanish (all at one stage, or each at a random
// stage): the sum is exact. 5 vanish: the round aborts cleanly.
TEST(SecAggRound, CompleteGraphToleratesUpToNMinusTDropoutsAtEveryStage) {
  std::mt19937_64 rng(20170101);
  for (int trial = 0; trial < 120; ++trial) {
    RoundSpec spec;
    spec.round = 1000 + trial;
    spec.inputSeed = rng();
    const Stage stage = trial % 5 < 4 ? kAnsweringStages[trial % 5] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, static_cast<std::uint32_t>(rng() % (spec.n - spec.t + 1)), stage);
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
    EXPECT_TRUE(run.clientAborts.empty()) << describe(spec) << ": " << run.describe();
  }
}

TEST(SecAggRound, CompleteGraphAbortsCleanlyWithNMinusTPlusOneDropouts) {
  std::mt19937_64 rng(20170102);
  for (int trial = 0; trial < 40; ++trial) {
    RoundSpec spec;
    spec.round = 2000 + trial;
    const Stage stage = trial % 5 < 4 ? kAnsweringStages[trial % 5] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, spec.n - spec.t + 1, stage);
    expectCleanAbort(runRound(spec), describe(spec));
  }
}

// n = 20, k = 8, t = 5: at most k + 1 - t = 4 dropouts never leave a neighbourhood short, so
// the round must complete; up to n - t dropouts either complete exactly or abort cleanly
// (a neighbourhood may fall below t); n - t + 1 always abort.
TEST(SecAggRound, KRegularGraphToleratesDropoutsItsNeighbourhoodsCanCover) {
  std::mt19937_64 rng(20200101);
  for (int trial = 0; trial < 80; ++trial) {
    RoundSpec spec;
    spec.n = 20;
    spec.k = 8;
    spec.t = 5;
    spec.round = 3000 + trial;
    spec.inputSeed = rng();
    const Stage stage = trial % 5 < 4 ? kAnsweringStages[trial % 5] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, static_cast<std::uint32_t>(rng() % (spec.k + 2 - spec.t)), stage);
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
  }
}

TEST(SecAggRound, KRegularGraphWithUpToNMinusTDropoutsIsExactOrAbortsCleanly) {
  std::mt19937_64 rng(20200102);
  int completed = 0, aborted = 0;
  for (int trial = 0; trial < 100; ++trial) {
    RoundSpec spec;
    spec.n = 20;
    spec.k = 8;
    spec.t = 5;
    spec.round = 4000 + trial;
    spec.inputSeed = rng();
    const Stage stage = trial % 5 < 4 ? kAnsweringStages[trial % 5] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, static_cast<std::uint32_t>(rng() % (spec.n - spec.t + 1)), stage);
    const RoundRun run = runRound(spec);
    if (run.completed()) {
      expectExactSum(run, describe(spec));
      for (std::uint32_t id : run.contributors) {
        const auto gone = spec.vanishAt.find(id);
        EXPECT_TRUE(gone == spec.vanishAt.end() || gone->second == Stage::kUnmask) << describe(spec);
      }
      ++completed;
    } else {
      expectCleanAbort(run, describe(spec));
      ++aborted;
    }
  }
  EXPECT_GT(completed, 25);
  EXPECT_GT(aborted, 10);

  for (int trial = 0; trial < 20; ++trial) {
    RoundSpec spec;
    spec.n = 20;
    spec.k = 8;
    spec.t = 5;
    spec.round = 5000 + trial;
    spec.vanishAt = randomDropouts(rng, spec.n, spec.n - spec.t + 1, Stage::kDone);
    expectCleanAbort(runRound(spec), describe(spec));
  }
}

TEST(SecAggRound, KRegularGraphLeavesOutAParticipantWhoseNeighbourhoodVanished) {
  // Participant 1 keeps fewer than t - 1 neighbours: it is left out with a reason, the others go on.
  const RoundParameters params(configOf(20, 8, 5, 77));
  RoundSpec spec;
  spec.n = 20;
  spec.k = 8;
  spec.t = 5;
  spec.round = 77;
  const auto& nbs = params.neighboursOf(1);
  for (std::size_t i = 0; i < 5; ++i) spec.vanishAt[nbs[i]] = Stage::kAdvertiseKeys;  // 3 remain
  const RoundRun run = runRound(spec);
  if (run.completed()) {
    expectExactSum(run, describe(spec));
    EXPECT_FALSE(std::binary_search(run.contributors.begin(), run.contributors.end(), 1u));
  } else {
    expectCleanAbort(run, describe(spec));
  }
  EXPECT_TRUE(run.hasRejection(1, RejectionReason::kTooFewNeighbours)) << run.describe();
}

TEST(SecAggRound, ParticipantVanishingBeforeItSendsItsSharesDoesNotAbort) {
  for (std::uint32_t k : {0u, 8u}) {
    RoundSpec spec;
    spec.k = k;
    spec.n = k ? 20 : 10;
    spec.t = k ? 5 : 6;
    spec.vanishAt = {{3, Stage::kShareKeys}};
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
    EXPECT_FALSE(std::binary_search(run.contributors.begin(), run.contributors.end(), 3u));
    EXPECT_TRUE(run.clientAborts.empty()) << run.describe();
  }
}

TEST(SecAggRound, FloatUpdatesThroughTheFixedPointCodecSumWithinOneQuantumEach) {
  FixedPointConfig fp;
  fp.clip = 2.0;
  fp.bits = 16;
  fp.maxSummands = 10;
  const FixedPointCodec<Ring> codec(fp);
  RoundSpec spec;
  spec.codec = &codec;
  spec.vanishAt = {{2, Stage::kMaskedInput}, {9, Stage::kShareKeys}};
  const RoundRun run = runRound(spec);
  ASSERT_TRUE(run.completed()) << run.describe();
  const std::vector<float> decoded = decodeAggregate(run.server->result(), codec);
  ASSERT_EQ(decoded.size(), spec.d);
  for (std::size_t i = 0; i < spec.d; ++i) {
    double expected = 0;
    for (std::uint32_t id : run.contributors) expected += run.floatInputs.at(id)[i];
    EXPECT_NEAR(decoded[i], expected, codec.quantum() * run.contributors.size() + 1e-4) << i;
  }
  EXPECT_EQ(run.server->result().weightSum, run.plaintextWeight());
}

// ---- a malicious server or network ----

TEST(SecAggRound, TamperedShareFailsAuthenticationAndTheRoundStillCompletes) {
  RoundSpec spec;
  spec.tamper.maskedInputRequest = [](std::uint32_t recipient, MaskedInputRequest& request) {
    if (recipient != 2) return;
    for (EncryptedShare& share : request.shares)
      if (share.sender == 5) share.ciphertext[10] ^= 0x01;
  };
  spec.vanishAt = {{5, Stage::kUnmask}};  // 5's self mask must be removed without 2's share
  const RoundRun run = runRound(spec);
  expectExactSum(run, describe(spec));
  EXPECT_EQ(run.clients.at(2).unreadableShareSenders(), std::vector<std::uint32_t>{5});
  EXPECT_TRUE(run.hasRejection(5, RejectionReason::kShareUnreadable)) << run.describe();
}

TEST(SecAggRound, TamperedSharesOfADroppedParticipantAbortCleanlyWhenTooFewRemain) {
  RoundSpec spec;
  spec.vanishAt = {{1, Stage::kMaskedInput}};
  // 5 of participant 1's 9 holders cannot read its shares: 4 < t = 6 remain for its mask key.
  spec.tamper.maskedInputRequest = [](std::uint32_t recipient, MaskedInputRequest& request) {
    if (recipient > 6) return;
    for (EncryptedShare& share : request.shares)
      if (share.sender == 1) share.ciphertext.back() ^= 0x80;
  };
  const RoundRun run = runRound(spec);
  expectCleanAbort(run, describe(spec));
  EXPECT_EQ(run.server->abortReason()->reason, AbortReason::kTooFewShares) << run.describe();
}

TEST(SecAggRound, ShareReplayedFromAnEarlierRoundOrRedirectedIsRejected) {
  EncryptedShare captured;
  RoundSpec earlier;
  earlier.round = 41;
  earlier.tamper.maskedInputRequest = [&](std::uint32_t recipient, MaskedInputRequest& request) {
    if (recipient == 2)
      for (const EncryptedShare& share : request.shares)
        if (share.sender == 5) captured = share;
  };
  expectExactSum(runRound(earlier), "earlier round");
  ASSERT_EQ(captured.sender, 5u);

  RoundSpec later;
  later.round = 42;
  later.tamper.maskedInputRequest = [&](std::uint32_t recipient, MaskedInputRequest& request) {
    if (recipient != 2) return;
    for (EncryptedShare& share : request.shares)
      if (share.sender == 5) share = captured;
  };
  const RoundRun replayed = runRound(later);
  expectExactSum(replayed, "replayed round");
  EXPECT_EQ(replayed.clients.at(2).unreadableShareSenders(), std::vector<std::uint32_t>{5});
  EXPECT_TRUE(replayed.hasRejection(5, RejectionReason::kShareUnreadable));

  // In the same round, 5's share for 3 handed to 2 as if it were 2's.
  RoundSpec redirected;
  redirected.round = 43;
  EncryptedShare forThree;
  redirected.tamper.maskedInputRequest = [&](std::uint32_t recipient, MaskedInputRequest& request) {
    for (EncryptedShare& share : request.shares) {
      if (recipient == 3 && share.sender == 5) forThree = share;
      if (recipient == 4 && share.sender == 5) {
        share.ciphertext = forThree.ciphertext;  // recipients are served in id order: 3 before 4
      }
    }
  };
  const RoundRun misrouted = runRound(redirected);
  expectExactSum(misrouted, "redirected share");
  EXPECT_EQ(misrouted.clients.at(4).unreadableShareSenders(), std::vector<std::uint32_t>{5});
}

TEST(SecAggClient, RefusesAParticipantListedBothAliveAndDropped) {
  RoundSpec spec;
  spec.vanishAt = {{9, Stage::kMaskedInput}};
  spec.tamper.unmaskRequest = [](std::uint32_t recipient, UnmaskRequest& request) {
    if (recipient == 1) {
      request.dropped.push_back(4);  // 4 contributed: asking for its key as well would unmask it
      std::sort(request.dropped.begin(), request.dropped.end());
    }
  };
  const RoundRun run = runRound(spec);
  ASSERT_EQ(run.clientAborts.count(1), 1u) << run.describe();
  EXPECT_EQ(run.clientAborts.at(1).reason, AbortReason::kInconsistentDropoutSets);
  EXPECT_NE(run.clientAborts.at(1).detail.find("both alive and dropped"), std::string::npos);
  EXPECT_EQ(run.clients.at(1).stage(), Stage::kAborted);
  // 1 revealed nothing; the 8 others suffice.
  expectExactSum(run, describe(spec));
}

TEST(SecAggClient, RefusesDropoutSetsThatCallItDroppedOrLeaveTooFewAlive) {
  struct Case {
    const char* name;
    std::function<void(UnmaskRequest&)> alter;
    AbortReason reason;
  };
  const std::vector<Case> cases = {
      {"itself dropped",
       [](UnmaskRequest& r) {
         r.alive.erase(std::find(r.alive.begin(), r.alive.end(), 1u));
         r.dropped.insert(r.dropped.begin(), 1u);
       },
       AbortReason::kInconsistentDropoutSets},
      {"a neighbour left out", [](UnmaskRequest& r) { r.alive.pop_back(); }, AbortReason::kInconsistentDropoutSets},
      {"fewer than t alive",
       [](UnmaskRequest& r) {  // 6..9 called dropped (10 never shared): 5 alive < t = 6
         r.dropped = {6, 7, 8, 9};
         r.alive = {1, 2, 3, 4, 5};
       },
       AbortReason::kTooFewNeighbours},
      {"a neighbour that never shared called dropped",
       [](UnmaskRequest& r) { r.dropped.push_back(10); },  // 10 vanished before sharing
       AbortReason::kInconsistentDropoutSets},
  };
  for (const Case& c : cases) {
    RoundSpec spec;
    spec.vanishAt = {{10, Stage::kShareKeys}};
    spec.tamper.unmaskRequest = [&](std::uint32_t recipient, UnmaskRequest& request) {
      if (recipient == 1) c.alter(request);
    };
    const RoundRun run = runRound(spec);
    ASSERT_EQ(run.clientAborts.count(1), 1u) << c.name << ": " << run.describe();
    EXPECT_EQ(run.clientAborts.at(1).reason, c.reason) << c.name << ": " << run.clientAborts.at(1).detail;
  }
}

TEST(SecAggServer, DropsAnAdvertisementWithABadSignature) {
  RoundSpec spec;
  spec.tamper.advertisement = [](KeyAdvertisement& ad) {
    if (ad.participant == 4) ad.signature[0] ^= 0x01;
  };
  const RoundRun run = runRound(spec);
  expectExactSum(run, describe(spec));
  EXPECT_TRUE(run.hasRejection(4, RejectionReason::kBadSignature)) << run.describe();
  EXPECT_FALSE(std::binary_search(run.contributors.begin(), run.contributors.end(), 4u));
  EXPECT_EQ(run.clients.at(4).stage(), Stage::kShareKeys) << "4 was never asked to go on";

  // A key swapped after signing fails the same way.
  RoundSpec swapped;
  swapped.tamper.advertisement = [](KeyAdvertisement& ad) {
    if (ad.participant == 6) ad.maskingKey = crypto::generateX25519KeyPair().publicKey;
  };
  const RoundRun swappedRun = runRound(swapped);
  expectExactSum(swappedRun, "swapped key");
  EXPECT_TRUE(swappedRun.hasRejection(6, RejectionReason::kBadSignature));
}

TEST(SecAggServer, DropsAnAdvertisementWithASmallOrderKey) {
  for (bool maskingKey : {true, false}) {
    RoundSpec spec;
    spec.tamper.advertisement = [&](KeyAdvertisement& ad) {
      if (ad.participant != 4) return;
      crypto::X25519PublicKey smallOrder{};  // u = 0 (order 2) or u = 1 (order 4)
      smallOrder[0] = maskingKey ? 0 : 1;
      (maskingKey ? ad.maskingKey : ad.encryptionKey) = smallOrder;
      signAdvertisement(ad, identityOf(4).privateKey);  // a validly signed, malicious advertisement
    };
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
    EXPECT_TRUE(run.hasRejection(4, RejectionReason::kSmallOrderKey)) << run.describe();
  }
}

TEST(SecAggServer, DropsAdvertisementsFromOutsideTheAllowListAndDuplicates) {
  const RoundParameters params(configOf(10, 0, 6));
  auto serverList = std::make_shared<IdentityTable>(*allowList(params.participants()));
  serverList->erase(7);
  RoundSpec spec;
  spec.serverAllowList = serverList;
  const RoundRun run = runRound(spec);
  expectExactSum(run, describe(spec));
  EXPECT_TRUE(run.hasRejection(7, RejectionReason::kUnknownIdentity)) << run.describe();

  auto params2 = std::make_shared<const RoundParameters>(configOf(10, 0, 6, 9));
  Server server(params2, allowList(params2->participants()));
  Client client(params2, allowList(params2->participants()), 3, identityOf(3).privateKey);
  const KeyAdvertisement ad = client.advertiseKeys();
  server.receiveAdvertisement(3, ad);
  server.receiveAdvertisement(3, ad);
  server.receiveAdvertisement(12, ad);
  server.receiveAdvertisement(4, ad);  // 3's advertisement sent by 4
  // 5's validly signed advertisement from the previous round, replayed.
  auto previous = std::make_shared<const RoundParameters>(configOf(10, 0, 6, 8));
  Client earlier(previous, allowList(previous->participants()), 5, identityOf(5).privateKey);
  server.receiveAdvertisement(5, earlier.advertiseKeys());
  ASSERT_EQ(server.rejections().size(), 4u);
  EXPECT_EQ(server.rejections()[0].reason, RejectionReason::kDuplicate);
  EXPECT_EQ(server.rejections()[1].reason, RejectionReason::kNotSelected);
  EXPECT_EQ(server.rejections()[2].reason, RejectionReason::kMalformed);
  EXPECT_EQ(server.rejections()[3].reason, RejectionReason::kMalformed);
  EXPECT_NE(server.rejections()[3].detail.find("round 8"), std::string::npos) << server.rejections()[3].detail;
  EXPECT_EQ(server.closeStage(), Stage::kAborted);  // one advertisement, t = 6
  EXPECT_EQ(server.abortReason()->reason, AbortReason::kTooFewParticipants);
  server.receiveAdvertisement(6, ad);  // after the round is over: recorded, not thrown
  EXPECT_EQ(server.rejections().back().reason, RejectionReason::kWrongStage);
}

// Adds 256 to the shares of `owner`: done to every share, the secret's byte 1 goes up by one,
// a different but well-formed secret (byte 0 is avoided: X25519 clamps its low bits away).
void shiftRevealedShares(std::vector<RevealedShare>& shares, std::uint32_t owner) {
  for (RevealedShare& share : shares)
    if (share.owner == owner) share.values[0] = (share.values[0] + 256) % crypto::shamir::kPrime;
}

TEST(SecAggServer, AbortsWhenAReconstructedKeyDoesNotMatchItsPublicKey) {
  RoundSpec spec;
  spec.vanishAt = {{7, Stage::kMaskedInput}};
  spec.tamper.unmaskResponse = [](std::uint32_t, UnmaskResponse& response) {
    shiftRevealedShares(response.maskKeyShares, 7);
  };
  const RoundRun run = runRound(spec);
  expectCleanAbort(run, describe(spec));
  EXPECT_EQ(run.server->abortReason()->reason, AbortReason::kKeyMismatch) << run.describe();
}

TEST(SecAggServer, AbortsWhenAReconstructedSelfMaskSeedDoesNotMatchItsCommitment) {
  RoundSpec spec;
  spec.tamper.unmaskResponse = [](std::uint32_t, UnmaskResponse& response) {
    shiftRevealedShares(response.selfMaskShares, 2);
  };
  const RoundRun run = runRound(spec);
  expectCleanAbort(run, describe(spec));
  EXPECT_EQ(run.server->abortReason()->reason, AbortReason::kCommitmentMismatch) << run.describe();
}

TEST(SecAggServer, AbortsWhenOneAlteredShareBreaksReconstruction) {
  RoundSpec spec;
  spec.vanishAt = {{7, Stage::kMaskedInput}};
  spec.tamper.unmaskResponse = [](std::uint32_t from, UnmaskResponse& response) {
    if (from == 1) shiftRevealedShares(response.maskKeyShares, 7);
  };
  const RoundRun run = runRound(spec);
  expectCleanAbort(run, describe(spec));
  const AbortReason reason = run.server->abortReason()->reason;
  EXPECT_TRUE(reason == AbortReason::kShareReconstructionFailed || reason == AbortReason::kKeyMismatch)
      << run.describe();
}

TEST(SecAggClient, RefusesAnAdvertisementTheServerAlteredOrForged) {
  struct Case {
    const char* name;
    std::function<void(ShareKeysRequest&)> alter;
  };
  const std::vector<Case> cases = {
      {"neighbour key swapped", [](ShareKeysRequest& r) { r.neighbourAdvertisements[0].maskingKey[3] ^= 1; }},
      {"roster digest changed", [](ShareKeysRequest& r) { r.digests[4][0] ^= 1; }},
      {"own advertisement replaced", [](ShareKeysRequest& r) { r.digests[0][0] ^= 1; }},
  };
  for (const Case& c : cases) {
    RoundSpec spec;
    spec.tamper.shareKeysRequest = [&](std::uint32_t recipient, ShareKeysRequest& request) {
      if (recipient == 1) c.alter(request);
    };
    const RoundRun run = runRound(spec);
    ASSERT_EQ(run.clientAborts.count(1), 1u) << c.name << ": " << run.describe();
    EXPECT_EQ(run.clientAborts.at(1).reason, AbortReason::kInvalidAdvertisement) << c.name;
    expectExactSum(run, c.name);  // the other nine go on without 1
  }
}

// ---- the state machines' contracts ----

TEST(SecAggClient, DrawsFreshKeysAndSeedsForEveryRound) {
  auto params = std::make_shared<const RoundParameters>(configOf(10, 0, 6, 5));
  const auto identities = allowList(params->participants());
  Client first(params, identities, 2, identityOf(2).privateKey);
  Client second(params, identities, 2, identityOf(2).privateKey);
  const KeyAdvertisement a = first.advertiseKeys();
  const KeyAdvertisement b = second.advertiseKeys();
  EXPECT_NE(a.encryptionKey, b.encryptionKey);
  EXPECT_NE(a.maskingKey, b.maskingKey);
  EXPECT_NE(a.encryptionKey, a.maskingKey);
  EXPECT_NE(a.selfMaskCommitment, b.selfMaskCommitment);
}

TEST(SecAggClient, RefusesAWrongIdentityKeyAndOutOfOrderCalls) {
  auto params = std::make_shared<const RoundParameters>(configOf(10, 0, 6));
  const auto identities = allowList(params->participants());
  EXPECT_THROW(Client(params, identities, 2, identityOf(3).privateKey), ConfigError);
  EXPECT_THROW(Client(params, identities, 11, identityOf(11).privateKey), ConfigError);

  Client client(params, identities, 2, identityOf(2).privateKey);
  EXPECT_THROW(client.shareKeys(ShareKeysRequest{}), UsageError);
  client.advertiseKeys();
  EXPECT_THROW(client.advertiseKeys(), UsageError);
  const std::vector<Ring> update(16, 0);
  EXPECT_THROW(client.maskInput(MaskedInputRequest{}, update, 1), UsageError);
  // A malformed request aborts; every later call answers with the same abort.
  auto outcome = client.shareKeys(ShareKeysRequest{});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.abort().reason, AbortReason::kMalformedRequest);
  EXPECT_THROW(outcome.value(), UsageError);
  EXPECT_EQ(client.stage(), Stage::kAborted);
  EXPECT_FALSE(client.maskInput(MaskedInputRequest{}, update, 1).ok());
  EXPECT_FALSE(client.unmask(UnmaskRequest{}).ok());
}

TEST(SecAggServer, RefusesInconsistentMaskedSumsAndOutOfOrderCalls) {
  auto params = std::make_shared<const RoundParameters>(configOf(10, 0, 6));
  Server server(params, allowList(params->participants()));
  EXPECT_THROW(server.shareKeysRequest(1), UsageError);
  EXPECT_THROW(server.setMaskedSum(std::vector<Ring>(17), {1}), UsageError);
  EXPECT_THROW(server.result(), UsageError);

  // Drive a round up to MaskedInput by hand to hand the server a wrong sum.
  auto identities = allowList(params->participants());
  std::map<std::uint32_t, Client> clients;
  for (std::uint32_t id : params->participants()) {
    clients.emplace(id, Client(params, identities, id, identityOf(id).privateKey));
    if (id != 3) server.receiveAdvertisement(id, clients.at(id).advertiseKeys());
  }
  ASSERT_EQ(server.closeStage(), Stage::kShareKeys);
  for (std::uint32_t id : server.recipients())
    server.receiveShares(id, clients.at(id).shareKeys(server.shareKeysRequest(id)).value());
  ASSERT_EQ(server.closeStage(), Stage::kMaskedInput);
  EXPECT_THROW(server.maskedInputRequest(3), UsageError);
  EXPECT_THROW(server.setMaskedSum(std::vector<Ring>(16), {1, 2, 4, 5, 6, 7}), UsageError) << "d + 1 elements";
  EXPECT_THROW(server.setMaskedSum(std::vector<Ring>(17), {1, 2, 3, 4, 5, 6}), UsageError) << "3 never shared";
  EXPECT_THROW(server.setMaskedSum(std::vector<Ring>(17), {1, 2, 2, 4, 5, 6}), UsageError) << "named twice";
  EXPECT_EQ(server.setMaskedSum(std::vector<Ring>(17), {1, 2, 4, 5, 6}), Stage::kAborted);
  EXPECT_EQ(server.abortReason()->reason, AbortReason::kTooFewParticipants);
}

TEST(SecAggServer, MaskedSumAccumulatorRefusesWrongLengthsAndRepeats) {
  const RoundParameters params(configOf(10, 0, 6));
  MaskedSumAccumulator sum(params);
  sum.add(2, std::vector<Ring>(17, 0xffffffffu));
  sum.add(1, std::vector<Ring>(17, 2));
  EXPECT_THROW(sum.add(2, std::vector<Ring>(17, 1)), DecodeError);
  EXPECT_THROW(sum.add(3, std::vector<Ring>(16, 1)), DecodeError);
  EXPECT_THROW(sum.add(11, std::vector<Ring>(17, 1)), DecodeError);
  EXPECT_EQ(sum.contributors(), (std::vector<std::uint32_t>{1, 2}));
}

// ---- hardened mode: ConsistencyCheck ----

TEST(SecAggConfig, TwoHopNeighbourhoodsMatchTheGraph) {
  EXPECT_EQ(twoHopNeighbourhoodSize(10, 0), 10u);
  EXPECT_EQ(twoHopNeighbourhoodSize(20, 8), 17u);
  EXPECT_EQ(twoHopNeighbourhoodSize(12, 8), 12u);  // 2k + 1 wraps around the cycle
  EXPECT_EQ(twoHopNeighbourhoodSize(9, 8), 9u);    // complete
  for (std::uint32_t n : {12u, 30u}) {
    const RoundParameters params(configOf(n, 8, 5, 7));
    EXPECT_EQ(params.twoHopNeighbourhoodSize(), std::min(n, 17u));
    for (std::uint32_t a = 1; a <= n; ++a) {
      std::set<std::uint32_t> reach = {a};
      for (std::uint32_t nb : params.neighboursOf(a)) {
        reach.insert(nb);
        for (std::uint32_t second : params.neighboursOf(nb)) reach.insert(second);
      }
      EXPECT_EQ(reach.size(), params.twoHopNeighbourhoodSize()) << a;
      for (std::uint32_t b = 1; b <= n; ++b)
        EXPECT_EQ(params.withinTwoHops(a, b), reach.count(b) == 1) << a << "-" << b;
    }
    EXPECT_FALSE(params.withinTwoHops(1, n + 1));
  }
}

SecAggConfig hardenedConfigOf(std::uint32_t n, std::uint32_t k, std::uint32_t t, std::uint64_t round = 1) {
  SecAggConfig config = configOf(n, k, t, round);
  config.consistencyCheck = true;
  return config;
}

crypto::Ed25519Signature sampleSignature(std::uint32_t signer) {
  crypto::Ed25519Signature signature{};
  signature.fill(static_cast<std::uint8_t>(signer));
  return signature;
}

TEST(SecAggMessages, ConsistencyMessagesRoundTripAndValidate) {
  const RoundParameters params(hardenedConfigOf(30, 8, 5));
  ConsistencyCheckRequest request;
  request.contributors = {1, 2, 5, 9, 30};
  expectRoundTrip(request);
  EXPECT_EQ(protocols::encode(request).size(), consistencyCheckRequestSizeBound(5));
  const auto back = protocols::decode<ConsistencyCheckRequest>(protocols::encode(request));
  EXPECT_EQ(back.contributors, request.contributors);
  EXPECT_NO_THROW(validate(back, params));
  ConsistencyCheckRequest unsorted = back;
  std::swap(unsorted.contributors[0], unsorted.contributors[1]);
  EXPECT_THROW(validate(unsorted, params), DecodeError);
  ConsistencyCheckRequest stranger = back;
  stranger.contributors.push_back(31);
  EXPECT_THROW(validate(stranger, params), DecodeError);

  ConsistencyCheckResponse response;
  response.signature = sampleSignature(7);
  expectRoundTrip(response);
  EXPECT_EQ(protocols::encode(response).size(), kConsistencyCheckResponseSize);
  EXPECT_EQ(protocols::decode<ConsistencyCheckResponse>(protocols::encode(response)).signature, response.signature);

  // An unmask request carries the signatures of the recipient's two-hop neighbourhood at most.
  UnmaskRequest unmask;
  unmask.alive = {1};
  for (std::uint32_t id = 1; id <= 30; ++id)
    if (params.withinTwoHops(1, id)) unmask.signatures.push_back({id, sampleSignature(id)});
  ASSERT_EQ(unmask.signatures.size(), 17u);
  expectRoundTrip(unmask);
  const auto unmaskBack = protocols::decode<UnmaskRequest>(protocols::encode(unmask));
  EXPECT_EQ(unmaskBack.signatures.back().signature, unmask.signatures.back().signature);
  EXPECT_NO_THROW(validate(unmaskBack, params, 1));
  UnmaskRequest far = unmaskBack;
  std::uint32_t outside = 1;
  while (params.withinTwoHops(1, outside)) ++outside;
  far.signatures.back().signer = outside;
  std::sort(far.signatures.begin(), far.signatures.end(),
            [](const ContributorSignature& a, const ContributorSignature& b) { return a.signer < b.signer; });
  EXPECT_THROW(validate(far, params, 1), DecodeError) << "a signer beyond two hops";
  UnmaskRequest repeated = unmaskBack;
  repeated.signatures[1].signer = repeated.signatures[0].signer;
  EXPECT_THROW(validate(repeated, params, 1), DecodeError);
  EXPECT_THROW(validate(unmaskBack, RoundParameters(configOf(30, 8, 5)), 1), DecodeError)
      << "signatures in a round without ConsistencyCheck";
}

TEST(SecAggMessages, UnmaskRequestSizeBoundCoversTheLargestRequests) {
  // The largest request validate() admits: m alive, m - 1 dropped and the whole two-hop
  // neighbourhood's signatures. Exact for the Harary graph, an upper bound for the complete one.
  for (const auto& [n, k] : std::vector<std::pair<std::uint32_t, std::uint32_t>>{{40, 8}, {10, 0}, {12, 8}}) {
    const RoundParameters params(hardenedConfigOf(n, k, defaultThreshold(n, k)));
    const std::uint32_t m = params.neighbourhoodSize();
    UnmaskRequest request;
    request.alive = params.neighboursOf(1);
    request.dropped = request.alive;
    request.alive.insert(request.alive.begin(), 1);  // ids from 1: 1 is the smallest
    for (std::uint32_t id = 1; id <= n; ++id)
      if (params.withinTwoHops(1, id)) request.signatures.push_back({id, sampleSignature(id)});
    EXPECT_NO_THROW(validate(request, params, 1));
    const std::size_t size = protocols::encode(request).size();
    EXPECT_LE(size, unmaskRequestSizeBound(m)) << n << "/" << k;
    if (n == 40) {
      EXPECT_EQ(size, unmaskRequestSizeBound(m)) << "the bound is exact for the Harary graph";
    }
  }
  EXPECT_EQ(unmaskRequestSizeBound(9), 144u * 9 - 48);
}

TEST(SecAggDerivation, ConsistencyStatementBindsSessionRoundAndTheWholeSet) {
  crypto::Sha256Digest session{}, other{};
  other[0] = 1;
  const std::vector<std::uint32_t> u3 = {1, 2, 3, 5};
  const auto statement = consistencyStatement(session, 4, u3);
  EXPECT_EQ(statement, consistencyStatement(session, 4, u3));
  EXPECT_NE(statement, consistencyStatement(other, 4, u3));
  EXPECT_NE(statement, consistencyStatement(session, 5, u3));
  EXPECT_NE(statement, consistencyStatement(session, 4, std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_NE(statement, consistencyStatement(session, 4, std::vector<std::uint32_t>{1, 2, 3, 6}));
  EXPECT_LT(statement.size(), 128u) << "the set is hashed, not signed in full";
}

RoundSpec hardenedSpec(std::uint32_t n, std::uint32_t k, std::uint32_t t) {
  RoundSpec spec;
  spec.hardened = true;
  spec.n = n;
  spec.k = k;
  spec.t = t;
  return spec;
}

TEST(SecAggHardened, CompleteGraphWithoutDropoutsGivesTheExactSum) {
  const RoundSpec spec = hardenedSpec(10, 0, 6);
  const RoundRun run = runRound(spec);
  expectExactSum(run, describe(spec));
  EXPECT_EQ(run.contributors, idsFromOne(10));
  EXPECT_TRUE(run.server->rejections().empty());
  for (const auto& [id, client] : run.clients) EXPECT_EQ(client.stage(), Stage::kDone) << id;
}

// As the classic mode, now with a fifth stage to vanish at: up to n - t dropouts at any stages
// (ConsistencyCheck included) leave the sum exact; n - t + 1 abort cleanly.
TEST(SecAggHardened, CompleteGraphToleratesUpToNMinusTDropoutsAtEveryStage) {
  std::mt19937_64 rng(20170303);
  for (int trial = 0; trial < 120; ++trial) {
    RoundSpec spec = hardenedSpec(10, 0, 6);
    spec.round = 6000 + trial;
    spec.inputSeed = rng();
    const Stage stage = trial % 6 < 5 ? kHardenedAnsweringStages[trial % 6] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, static_cast<std::uint32_t>(rng() % (spec.n - spec.t + 1)), stage,
                                   kHardenedAnsweringStages);
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
    EXPECT_TRUE(run.clientAborts.empty()) << describe(spec) << ": " << run.describe();
  }
  for (int trial = 0; trial < 30; ++trial) {
    RoundSpec spec = hardenedSpec(10, 0, 6);
    spec.round = 6500 + trial;
    const Stage stage = trial % 6 < 5 ? kHardenedAnsweringStages[trial % 6] : Stage::kDone;
    spec.vanishAt = randomDropouts(rng, spec.n, spec.n - spec.t + 1, stage, kHardenedAnsweringStages);
    expectCleanAbort(runRound(spec), describe(spec));
  }
}

// n = 30, k = 8, t = 5: up to k + 1 - t = 4 dropouts always complete; up to n - t complete
// exactly or abort cleanly.
TEST(SecAggHardened, KRegularGraphIsExactOrAbortsCleanlyWithDropoutsAtEveryStage) {
  std::mt19937_64 rng(20200303);
  int completed = 0, aborted = 0;
  for (int trial = 0; trial < 72; ++trial) {
    RoundSpec spec = hardenedSpec(30, 8, 5);
    spec.round = 7000 + trial;
    spec.inputSeed = rng();
    const Stage stage = trial % 6 < 5 ? kHardenedAnsweringStages[trial % 6] : Stage::kDone;
    const bool few = trial % 2 == 0;
    const std::uint32_t count =
        static_cast<std::uint32_t>(few ? rng() % (spec.k + 2 - spec.t) : rng() % (spec.n - spec.t + 1));
    spec.vanishAt = randomDropouts(rng, spec.n, count, stage, kHardenedAnsweringStages);
    const RoundRun run = runRound(spec);
    if (few || run.completed()) {
      expectExactSum(run, describe(spec));
      ++completed;
    } else {
      expectCleanAbort(run, describe(spec));
      ++aborted;
    }
  }
  EXPECT_GT(completed, 40);
  EXPECT_GT(aborted, 8);
}

TEST(SecAggHardened, ContributorVanishingBeforeItSignsStaysInTheSum) {
  for (std::uint32_t k : {0u, 8u}) {
    RoundSpec spec = hardenedSpec(k ? 30 : 10, k, k ? 5 : 6);
    spec.vanishAt = {{3, Stage::kConsistencyCheck}, {7, Stage::kConsistencyCheck}, {9, Stage::kMaskedInput}};
    const RoundRun run = runRound(spec);
    expectExactSum(run, describe(spec));
    EXPECT_TRUE(std::binary_search(run.contributors.begin(), run.contributors.end(), 3u));
    EXPECT_TRUE(std::binary_search(run.contributors.begin(), run.contributors.end(), 7u));
    EXPECT_FALSE(std::binary_search(run.contributors.begin(), run.contributors.end(), 9u));
    EXPECT_EQ(run.clients.at(3).stage(), Stage::kConsistencyCheck) << "3 was never asked to unmask";
    EXPECT_TRUE(run.clientAborts.empty()) << run.describe();
  }
  // Through the codec: the float sum of the survivors within one quantum each.
  FixedPointConfig fp;
  fp.clip = 2.0;
  fp.bits = 16;
  fp.maxSummands = 10;
  const FixedPointCodec<Ring> codec(fp);
  RoundSpec spec = hardenedSpec(10, 0, 6);
  spec.codec = &codec;
  spec.vanishAt = {{4, Stage::kConsistencyCheck}, {8, Stage::kMaskedInput}};
  const RoundRun run = runRound(spec);
  ASSERT_TRUE(run.completed()) << run.describe();
  const std::vector<float> decoded = decodeAggregate(run.server->result(), codec);
  for (std::size_t i = 0; i < spec.d; ++i) {
    double expected = 0;
    for (std::uint32_t id : run.contributors) expected += run.floatInputs.at(id)[i];
    EXPECT_NEAR(decoded[i], expected, codec.quantum() * run.contributors.size() + 1e-4) << i;
  }
  EXPECT_EQ(run.server->result().weightSum, run.plaintextWeight());
}

TEST(SecAggHardened, TooFewSignersAbortCleanly) {
  // 5 of 10 sign with t = 6: too few overall.
  RoundSpec spec = hardenedSpec(10, 0, 6);
  spec.vanishAt = {{1, Stage::kConsistencyCheck},
                   {2, Stage::kConsistencyCheck},
                   {3, Stage::kConsistencyCheck},
                   {4, Stage::kConsistencyCheck},
                   {5, Stage::kConsistencyCheck}};
  const RoundRun run = runRound(spec);
  expectCleanAbort(run, describe(spec));
  EXPECT_EQ(run.server->abortReason()->reason, AbortReason::kTooFewParticipants) << run.describe();

  // Enough signers overall, but one neighbourhood keeps only t - 1 of them.
  const RoundParameters params(configOf(30, 8, 5, 91));
  RoundSpec sparse = hardenedSpec(30, 8, 5);
  sparse.round = 91;
  const auto& nbs = params.neighboursOf(1);
  for (std::size_t i = 0; i < 5; ++i) sparse.vanishAt[nbs[i]] = Stage::kConsistencyCheck;  // 1 + 3 sign
  const RoundRun sparseRun = runRound(sparse);
  expectCleanAbort(sparseRun, describe(sparse));
  EXPECT_EQ(sparseRun.server->abortReason()->reason, AbortReason::kTooFewSignatures) << sparseRun.describe();
}

TEST(SecAggHardened, ServerRejectsABadSignatureAndItsSenderLeaves) {
  struct Case {
    const char* name;
    std::function<void(std::uint32_t, ConsistencyCheckRequest&)> request;
    std::function<void(std::uint32_t, ConsistencyCheckResponse&)> response;
  };
  // 4's valid signature of an earlier session, replayed into a later one.
  crypto::Ed25519Signature earlier{};
  RoundSpec first = hardenedSpec(10, 0, 6);
  first.round = 51;
  first.tamper.consistencyCheckResponse = [&](std::uint32_t from, ConsistencyCheckResponse& r) {
    if (from == 4) earlier = r.signature;
  };
  expectExactSum(runRound(first), "earlier session");
  const std::vector<Case> cases = {
      {"flipped bit", nullptr,
       [](std::uint32_t from, ConsistencyCheckResponse& r) {
         if (from == 4) r.signature[5] ^= 0x10;
       }},
      {"replayed from another session", nullptr,
       [&](std::uint32_t from, ConsistencyCheckResponse& r) {
         if (from == 4) r.signature = earlier;
       }},
      {"signed on another contributor set",
       [](std::uint32_t to, ConsistencyCheckRequest& r) {
         if (to == 4) r.contributors.erase(std::find(r.contributors.begin(), r.contributors.end(), 9u));
       },
       nullptr},
  };
  for (const Case& c : cases) {
    RoundSpec spec = hardenedSpec(10, 0, 6);
    spec.round = 52;
    spec.tamper.consistencyCheckRequest = c.request;
    spec.tamper.consistencyCheckResponse = c.response;
    const RoundRun run = runRound(spec);
    expectExactSum(run, c.name);
    EXPECT_TRUE(run.hasRejection(4, RejectionReason::kBadSignature)) << c.name << ": " << run.describe();
    EXPECT_TRUE(std::binary_search(run.contributors.begin(), run.contributors.end(), 4u)) << "its input stays in";
    EXPECT_EQ(run.clients.at(4).stage(), Stage::kUnmask) << c.name << ": 4 was never asked to unmask";
  }
}

TEST(SecAggHardened, ClientRefusesToSignAContributorSetThatCannotBeRight) {
  struct Case {
    const char* name;
    std::function<void(ConsistencyCheckRequest&)> alter;
    AbortReason reason;
  };
  // 10 vanished before sharing keys, 9 before its masked input, 8 never advertised.
  const std::vector<Case> cases = {
      {"leaves it out", [](ConsistencyCheckRequest& r) { r.contributors.erase(r.contributors.begin()); },
       AbortReason::kInconsistentView},
      {"names a participant never accepted", [](ConsistencyCheckRequest& r) { r.contributors.push_back(8); },
       AbortReason::kInconsistentView},
      {"names a neighbour that never shared keys", [](ConsistencyCheckRequest& r) { r.contributors.push_back(10); },
       AbortReason::kInconsistentView},
      {"fewer than t of its neighbourhood",
       [](ConsistencyCheckRequest& r) {
         r.contributors = {1, 2, 3, 4, 5};
       },
       AbortReason::kTooFewNeighbours},
      {"not ascending", [](ConsistencyCheckRequest& r) { std::swap(r.contributors[0], r.contributors[1]); },
       AbortReason::kMalformedRequest},
  };
  for (const Case& c : cases) {
    RoundSpec spec = hardenedSpec(11, 0, 6);
    spec.vanishAt = {{8, Stage::kAdvertiseKeys}, {9, Stage::kMaskedInput}, {10, Stage::kShareKeys}};
    spec.tamper.consistencyCheckRequest = [&](std::uint32_t to, ConsistencyCheckRequest& request) {
      if (to == 1) {
        c.alter(request);
        if (std::string(c.name) != "not ascending") std::sort(request.contributors.begin(), request.contributors.end());
      }
    };
    const RoundRun run = runRound(spec);
    ASSERT_EQ(run.clientAborts.count(1), 1u) << c.name << ": " << run.describe();
    EXPECT_EQ(run.clientAborts.at(1).reason, c.reason) << c.name << ": " << run.clientAborts.at(1).detail;
    EXPECT_EQ(run.clients.at(1).stage(), Stage::kAborted);
    expectExactSum(run, c.name);  // 1 did not sign: its input is in the sum, the others unmask it
  }
}

TEST(SecAggHardened, ClientRefusesAnUnmaskRequestThatContradictsTheSetItSigned) {
  // Signatures of 3 and of 10 from an earlier session, to replay.
  std::map<std::uint32_t, crypto::Ed25519Signature> earlier;
  RoundSpec first = hardenedSpec(10, 0, 6);
  first.round = 61;
  first.tamper.consistencyCheckResponse = [&](std::uint32_t from, ConsistencyCheckResponse& r) {
    earlier[from] = r.signature;
  };
  expectExactSum(runRound(first), "earlier session");

  auto signatureOf = [](UnmaskRequest& r, std::uint32_t signer) -> ContributorSignature& {
    return *std::find_if(r.signatures.begin(), r.signatures.end(),
                         [&](const ContributorSignature& s) { return s.signer == signer; });
  };
  struct Case {
    const char* name;
    std::function<void(UnmaskRequest&)> alter;
    AbortReason reason;
  };
  // 10 vanished before its masked input: alive = 1..9, dropped = {10}.
  const std::vector<Case> cases = {
      {"a contributor called dropped",
       [](UnmaskRequest& r) {
         r.alive.erase(std::find(r.alive.begin(), r.alive.end(), 4u));
         r.dropped.insert(r.dropped.begin(), 4u);
       },
       AbortReason::kInconsistentView},
      {"a dropped participant called alive",
       [](UnmaskRequest& r) {
         r.alive.push_back(10);
         r.dropped.clear();
       },
       AbortReason::kInconsistentView},
      {"no signatures", [](UnmaskRequest& r) { r.signatures.clear(); }, AbortReason::kTooFewSignatures},
      {"t - 1 signatures", [](UnmaskRequest& r) { r.signatures.resize(5); }, AbortReason::kTooFewSignatures},
      {"a forged signature", [&](UnmaskRequest& r) { signatureOf(r, 3).signature[0] ^= 1; },
       AbortReason::kInconsistentView},
      {"a signature replayed from another session",
       [&](UnmaskRequest& r) { signatureOf(r, 3).signature = earlier.at(3); }, AbortReason::kInconsistentView},
      {"a signature of one that is not a contributor",
       [&](UnmaskRequest& r) {
         r.signatures.push_back({10, earlier.at(10)});
       },
       AbortReason::kInconsistentView},
      {"another signer's signature",
       [&](UnmaskRequest& r) { signatureOf(r, 3).signature = signatureOf(r, 4).signature; },
       AbortReason::kInconsistentView},
      {"a signer named twice", [](UnmaskRequest& r) { r.signatures[1].signer = r.signatures[0].signer; },
       AbortReason::kMalformedRequest},
  };
  for (const Case& c : cases) {
    RoundSpec spec = hardenedSpec(10, 0, 6);
    spec.round = 62;
    spec.vanishAt = {{10, Stage::kMaskedInput}};
    spec.tamper.unmaskRequest = [&](std::uint32_t to, UnmaskRequest& request) {
      if (to == 1) c.alter(request);
    };
    const RoundRun run = runRound(spec);
    ASSERT_EQ(run.clientAborts.count(1), 1u) << c.name << ": " << run.describe();
    EXPECT_EQ(run.clientAborts.at(1).reason, c.reason) << c.name << ": " << run.clientAborts.at(1).detail;
    expectExactSum(run, c.name);  // 1 revealed nothing; the 8 others suffice
  }

  // On the SecAgg+ graph: a neighbour's neighbourhood short of signatures, the others intact.
  const RoundParameters params(configOf(30, 8, 5, 63));
  const std::uint32_t owner = params.neighboursOf(1).back();
  RoundSpec spec = hardenedSpec(30, 8, 5);
  spec.round = 63;
  spec.tamper.unmaskRequest = [&](std::uint32_t to, UnmaskRequest& request) {
    if (to != 1) return;
    int removed = 0;  // 9 of owner's neighbourhood signed: keep 4
    request.signatures.erase(std::remove_if(request.signatures.begin(), request.signatures.end(),
                                            [&](const ContributorSignature& s) {
                                              return (s.signer == owner || params.areNeighbours(owner, s.signer)) &&
                                                     ++removed <= 5;
                                            }),
                             request.signatures.end());
  };
  const RoundRun run = runRound(spec);
  ASSERT_EQ(run.clientAborts.count(1), 1u) << run.describe();
  EXPECT_EQ(run.clientAborts.at(1).reason, AbortReason::kTooFewSignatures) << run.clientAborts.at(1).detail;
  expectExactSum(run, "one neighbourhood short of signatures for 1");
}

TEST(SecAggHardened, StagesRunInOrderAndClassicCallsStayClassic) {
  auto params = std::make_shared<const RoundParameters>(hardenedConfigOf(10, 0, 6));
  const auto identities = allowList(params->participants());
  Client client(params, identities, 2, identityOf(2).privateKey);
  EXPECT_THROW(client.consistencyCheck(ConsistencyCheckRequest{}), UsageError);
  Server server(params, identities);
  EXPECT_THROW(server.consistencyCheckRequest(2), UsageError);
  server.receiveConsistencyResponse(2, ConsistencyCheckResponse{});  // wrong stage: recorded, not thrown
  EXPECT_EQ(server.rejections().back().reason, RejectionReason::kWrongStage);

  // A classic client never reaches ConsistencyCheck.
  RoundSpec classic;
  classic.tamper.unmaskRequest = [](std::uint32_t to, UnmaskRequest& request) {
    if (to == 2) request.signatures.push_back({3, sampleSignature(3)});
  };
  const RoundRun run = runRound(classic);
  ASSERT_EQ(run.clientAborts.count(2), 1u) << run.describe();
  EXPECT_EQ(run.clientAborts.at(2).reason, AbortReason::kMalformedRequest);
  expectExactSum(run, "classic round");
}

// ---- a malicious server ----

// AdvertiseKeys and ShareKeys run through the honest Server (what they carry the clients check
// themselves); from MaskedInput on the attacker plays the server: it keeps every masked input,
// may withhold shares, shows each client the contributor set (hardened) or the dropped set
// (classic) it likes, and signs any contributor set for the colluders, whose keys it holds.
// Colluders take part up to MaskedInput; the shares they hold count for the attacker.
struct Attack {
  std::uint64_t round = 1;
  std::uint32_t n = 10, k = 0, t = 6;
  bool hardened = false;
  std::set<std::uint32_t> colluders;
  std::function<bool(std::uint32_t recipient, std::uint32_t sender)> withhold;
  std::function<std::vector<std::uint32_t>(std::uint32_t)> contributorsShownTo;  // hardened
  std::function<std::vector<std::uint32_t>(std::uint32_t)> droppedShownTo;       // classic
};

struct AttackRun {
  std::shared_ptr<const RoundParameters> params;
  crypto::Sha256Digest session{};
  std::map<std::uint32_t, KeyAdvertisement> advertisements;
  std::map<std::uint32_t, std::vector<Ring>> inputs;              // x_i, then the weight
  std::map<std::uint32_t, std::vector<Ring>> masked;              // y_i, kept by the attacker
  std::map<std::uint32_t, std::vector<std::uint32_t>> delivered;  // whose shares each client got
  std::map<std::uint32_t, Abort> aborts;
  // Revealed by honest clients, by owner.
  std::map<std::uint32_t, std::vector<crypto::shamir::Share>> selfMaskShares, maskKeyShares;

  std::size_t selfMaskSharesOf(std::uint32_t owner) const {
    const auto it = selfMaskShares.find(owner);
    return it == selfMaskShares.end() ? 0 : it->second.size();
  }
  std::size_t maskKeySharesOf(std::uint32_t owner) const {
    const auto it = maskKeyShares.find(owner);
    return it == maskKeyShares.end() ? 0 : it->second.size();
  }

  // x_j and its weight, if the revealed shares give b_j and the mask key of every neighbour j masked with.
  std::optional<std::vector<Ring>> unmaskAlone(std::uint32_t j) const {
    const std::uint64_t round = params->round();
    std::vector<Ring> values = masked.at(j);
    try {
      const crypto::SecretBytes seed = crypto::shamir::reconstruct(selfMaskShares.at(j));
      crypto::subtractMask(values, selfMaskSeed(seed, session, round, j));
      for (std::uint32_t m : delivered.at(j)) {
        const crypto::SecretBytes key = crypto::shamir::reconstruct(maskKeyShares.at(m));
        const crypto::SecretBytes pairwise =
            pairwiseMaskSeed(key, advertisements.at(j).maskingKey, session, round, m, j);
        if (j < m)
          crypto::subtractMask(values, pairwise);
        else
          crypto::addMask(values, pairwise);
      }
    } catch (const std::exception&) {  // too few shares of some secret
      return std::nullopt;
    }
    return values;
  }
};

bool contains(const std::vector<std::uint32_t>& sorted, std::uint32_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

AttackRun runAttack(const Attack& attack) {
  AttackRun run;
  SecAggConfig config = configOf(attack.n, attack.k, attack.t, attack.round);
  config.consistencyCheck = attack.hardened;
  run.params = std::make_shared<const RoundParameters>(config);
  const RoundParameters& params = *run.params;
  const auto identities = allowList(params.participants());
  Server server(run.params, identities);
  std::map<std::uint32_t, Client> clients;
  std::mt19937_64 rng(attack.round);
  for (std::uint32_t id : params.participants()) {
    clients.emplace(id, Client(run.params, identities, id, identityOf(id).privateKey));
    std::vector<Ring> input(params.maskedLength());
    for (Ring& v : input) v = static_cast<Ring>(rng());
    run.inputs[id] = input;
    run.advertisements[id] = clients.at(id).advertiseKeys();
    server.receiveAdvertisement(id, run.advertisements[id]);
  }
  EXPECT_EQ(server.closeStage(), Stage::kShareKeys);
  for (std::uint32_t id : server.recipients())
    server.receiveShares(id, clients.at(id).shareKeys(server.shareKeysRequest(id)).value());
  EXPECT_EQ(server.closeStage(), Stage::kMaskedInput);
  run.session = server.sessionId();

  for (std::uint32_t id : params.participants()) {
    MaskedInputRequest request = server.maskedInputRequest(id);
    if (attack.withhold)
      request.shares.erase(std::remove_if(request.shares.begin(), request.shares.end(),
                                          [&](const EncryptedShare& s) { return attack.withhold(id, s.sender); }),
                           request.shares.end());
    for (const EncryptedShare& share : request.shares) run.delivered[id].push_back(share.sender);
    const std::vector<Ring>& input = run.inputs[id];
    auto masked = clients.at(id).maskInput(request, Span<const Ring>(input.data(), params.dimension()), input.back());
    EXPECT_TRUE(masked.ok()) << id;
    if (masked) run.masked[id] = masked.value().masked;
  }

  // ConsistencyCheck: every distinct contributor set shown, with whoever signed it.
  std::map<std::uint32_t, std::vector<std::uint32_t>> shown;
  std::map<std::vector<std::uint32_t>, std::map<std::uint32_t, crypto::Ed25519Signature>> signaturesOn;
  if (attack.hardened) {
    for (std::uint32_t id : params.participants()) {
      shown[id] = attack.contributorsShownTo(id);
      if (attack.colluders.count(id)) continue;
      auto response = clients.at(id).consistencyCheck(ConsistencyCheckRequest{shown[id]});
      if (!response) {
        run.aborts.emplace(id, response.abort());
        continue;
      }
      signaturesOn[shown[id]][id] = response.value().signature;
    }
    for (auto& [contributors, signatures] : signaturesOn)
      for (std::uint32_t c : attack.colluders)
        if (contains(contributors, c))
          signatures[c] = crypto::ed25519Sign(identityOf(c).privateKey,
                                              consistencyStatement(run.session, params.round(), contributors));
  }

  for (std::uint32_t id : params.participants()) {
    if (attack.colluders.count(id) || run.aborts.count(id)) continue;
    const std::vector<std::uint32_t>& got = run.delivered[id];
    UnmaskRequest request;
    if (attack.hardened) {
      for (std::uint32_t nb : got) (contains(shown[id], nb) ? request.alive : request.dropped).push_back(nb);
      for (const auto& [signer, signature] : signaturesOn[shown[id]])
        if (params.withinTwoHops(id, signer)) request.signatures.push_back({signer, signature});
    } else {
      request.dropped = attack.droppedShownTo(id);
      for (std::uint32_t nb : got)
        if (!contains(request.dropped, nb)) request.alive.push_back(nb);
    }
    request.alive.insert(std::lower_bound(request.alive.begin(), request.alive.end(), id), id);
    auto response = clients.at(id).unmask(request);
    if (!response) {
      run.aborts.emplace(id, response.abort());
      continue;
    }
    auto keep = [&](auto& into, const RevealedShare& revealed) {
      crypto::shamir::Share share;
      share.x = id;
      share.threshold = attack.t;
      share.secretSize = kSecretSize;
      share.y.assign(revealed.values.begin(), revealed.values.end());
      into[revealed.owner].push_back(std::move(share));
    };
    for (const RevealedShare& s : response.value().selfMaskShares) keep(run.selfMaskShares, s);
    for (const RevealedShare& s : response.value().maskKeyShares) keep(run.maskKeyShares, s);
  }
  return run;
}

// The classic attack on j: j gets the shares of only t - 1 neighbours (its mask partners), every
// client is told j is alive, and each partner is told dropped to t of its holders, each client
// calling as many partners dropped as keeps t of its neighbourhood alive. Empty when the greedy
// assignment does not reach t for every partner.
std::map<std::uint32_t, std::vector<std::uint32_t>> isolationViews(const RoundParameters& params, std::uint32_t j,
                                                                   std::vector<std::uint32_t>& partners) {
  const std::uint32_t t = params.threshold();
  const auto& nbs = params.neighboursOf(j);
  partners.assign(nbs.begin(), nbs.begin() + (t - 1));
  std::map<std::uint32_t, std::vector<std::uint32_t>> dropped;
  std::map<std::uint32_t, std::uint32_t> votes, budget;
  for (std::uint32_t id : params.participants())
    if (id != j) budget[id] = static_cast<std::uint32_t>(params.neighboursOf(id).size()) + 1 - t;
  for (bool progress = true; progress;) {
    progress = false;
    for (std::uint32_t m : partners) {
      if (votes[m] >= t) continue;
      for (std::uint32_t holder : params.neighboursOf(m)) {
        if (holder == j || budget[holder] == 0 || contains(dropped[holder], m)) continue;
        auto& list = dropped[holder];
        list.insert(std::lower_bound(list.begin(), list.end(), m), m);
        --budget[holder];
        ++votes[m];
        progress = true;
        break;
      }
    }
  }
  for (std::uint32_t m : partners)
    if (votes[m] < t) return {};
  return dropped;
}

// Why hardened mode exists: without ConsistencyCheck a malicious server unmasks one
// participant's input with no colluding client, although every client reveals only one kind of
// share per participant. With it, the same plan (each client shown the contributor set matching
// the view it was to get) makes the clients refuse.
TEST(SecAggAttack, SplitViewsUnmaskOneInputWithoutConsistencyCheckButNotWithIt) {
  for (const auto& [n, k, t] : std::vector<std::array<std::uint32_t, 3>>{{10, 0, 6}, {20, 8, 5}, {30, 8, 5}}) {
    bool found = false;
    for (std::uint64_t round = 100; round < 110 && !found; ++round) {
      const RoundParameters params(configOf(n, k, t, round));
      const std::uint32_t j = 1 + static_cast<std::uint32_t>(round % n);
      std::vector<std::uint32_t> partners;
      const auto dropped = isolationViews(params, j, partners);
      if (dropped.empty()) continue;
      found = true;
      Attack attack;
      attack.round = round;
      attack.n = n;
      attack.k = k;
      attack.t = t;
      attack.withhold = [&](std::uint32_t to, std::uint32_t from) { return to == j && !contains(partners, from); };
      attack.droppedShownTo = [&](std::uint32_t id) {
        const auto it = dropped.find(id);
        return it == dropped.end() ? std::vector<std::uint32_t>{} : it->second;
      };
      const AttackRun classic = runAttack(attack);
      EXPECT_TRUE(classic.aborts.empty()) << "n " << n << ": every client revealed";
      const auto recovered = classic.unmaskAlone(j);
      ASSERT_TRUE(recovered.has_value()) << "n " << n << ", k " << k;
      EXPECT_EQ(*recovered, classic.inputs.at(j)) << "the classic mode gives x_j away";

      attack.hardened = true;
      attack.contributorsShownTo = [&](std::uint32_t id) {
        std::vector<std::uint32_t> contributors;
        for (std::uint32_t other : params.participants())
          if (!contains(attack.droppedShownTo(id), other)) contributors.push_back(other);
        return contributors;
      };
      const AttackRun hardened = runAttack(attack);
      EXPECT_FALSE(hardened.unmaskAlone(j).has_value()) << "n " << n << ", k " << k;
      EXPECT_GE(hardened.aborts.size(), n / 2) << "n " << n;
      // Nor with one set for all that calls j alive and its partners dropped.
      attack.contributorsShownTo = [&](std::uint32_t) {
        std::vector<std::uint32_t> contributors;
        for (std::uint32_t other : params.participants())
          if (!contains(partners, other)) contributors.push_back(other);
        return contributors;
      };
      EXPECT_FALSE(runAttack(attack).unmaskAlone(j).has_value()) << "n " << n << ", k " << k;
    }
    EXPECT_TRUE(found) << "no round gave the classic attack a plan for n " << n;
  }
}

// Hardened mode's bound on the complete graph (k + 1 = n): the server shows j's neighbourhood two
// contributor sets, with j and without it, to split its holders into b_j revealers and s_sk_j
// revealers, and signs both for c colluders. Below c = 2t - n one side always lacks t signatures
// and its clients refuse; at c = 2t - n the split works, so the bound is exact.
TEST(SecAggAttack, HardenedSplitViewsNeedTwoTMinusKPlusOneColluders) {
  std::mt19937_64 rng(20170304);
  std::uint64_t round = 200;
  const std::uint32_t n = 10;
  for (std::uint32_t t : {6u, 7u, 8u}) {
    const std::uint32_t bound = 2 * t - n;
    for (std::uint32_t c = 0; c <= bound; ++c)
      for (std::uint32_t toldDropped = 0; toldDropped + c + 1 <= n; ++toldDropped) {
        const std::uint32_t j = 1 + static_cast<std::uint32_t>(rng() % n);
        std::vector<std::uint32_t> others;
        for (std::uint32_t id = 1; id <= n; ++id)
          if (id != j) others.push_back(id);
        std::shuffle(others.begin(), others.end(), rng);
        Attack attack;
        attack.round = ++round;
        attack.n = n;
        attack.t = t;
        attack.hardened = true;
        attack.colluders.insert(others.begin(), others.begin() + c);
        const std::set<std::uint32_t> toldWithout(others.begin() + c, others.begin() + c + toldDropped);
        const std::vector<std::uint32_t> all = idsFromOne(n);
        std::vector<std::uint32_t> without = all;
        without.erase(std::find(without.begin(), without.end(), j));
        attack.contributorsShownTo = [&](std::uint32_t id) { return toldWithout.count(id) ? without : all; };
        const AttackRun run = runAttack(attack);

        const std::string context = detail::concat("t ", t, ", colluders ", c, ", told j dropped ", toldDropped);
        const std::size_t selfMask = run.selfMaskSharesOf(j) + c, maskKey = run.maskKeySharesOf(j) + c;
        const std::size_t signedWith = n - toldDropped, signedWithout = toldDropped + c;
        if (c < bound) {
          EXPECT_FALSE(selfMask >= t && maskKey >= t) << context;
        }
        for (std::uint32_t id = 1; id <= n; ++id) {
          if (attack.colluders.count(id)) continue;
          const bool refused = (toldWithout.count(id) ? signedWithout : signedWith) < t;
          EXPECT_EQ(run.aborts.count(id), refused ? 1u : 0u) << context << ", client " << id;
          if (refused && run.aborts.count(id)) {
            EXPECT_EQ(run.aborts.at(id).reason, AbortReason::kTooFewSignatures) << context;
          }
        }
        if (c == bound && toldDropped == t - c) {
          EXPECT_TRUE(selfMask >= t && maskKey >= t) << context << ": the bound is exact";
        }
      }
  }
}

// The same split on the SecAgg+ graph (n = 30, k = 8): t = 5 needs 1 colluder, t = 7 needs 5;
// with fewer, whichever members of j's neighbourhood and others are told which set, the server
// never holds t shares of both b_j and s_sk_j.
TEST(SecAggAttack, HardenedSplitViewsFailOnTheKRegularGraphBelowTheBound) {
  std::mt19937_64 rng(20200304);
  std::uint64_t round = 300;
  const std::uint32_t n = 30, k = 8;
  for (std::uint32_t t : {5u, 7u}) {
    const std::uint32_t bound = 2 * t - (k + 1);
    for (int trial = 0; trial < 16; ++trial) {
      Attack attack;
      attack.round = ++round;
      attack.n = n;
      attack.k = k;
      attack.t = t;
      attack.hardened = true;
      const RoundParameters params(configOf(n, k, t, attack.round));
      const std::uint32_t j = 1 + static_cast<std::uint32_t>(rng() % n);
      std::vector<std::uint32_t> nbs = params.neighboursOf(j);
      std::shuffle(nbs.begin(), nbs.end(), rng);
      const std::uint32_t c = static_cast<std::uint32_t>(rng() % bound);
      attack.colluders.insert(nbs.begin(), nbs.begin() + c);
      // Each other participant but j is told "without j" with a probability drawn per trial.
      const double p = std::uniform_real_distribution<double>(0.2, 0.8)(rng);
      std::set<std::uint32_t> toldWithout;
      for (std::uint32_t id = 1; id <= n; ++id)
        if (id != j && std::bernoulli_distribution(p)(rng)) toldWithout.insert(id);
      const std::vector<std::uint32_t> all = idsFromOne(n);
      std::vector<std::uint32_t> without = all;
      without.erase(std::find(without.begin(), without.end(), j));
      attack.contributorsShownTo = [&](std::uint32_t id) { return toldWithout.count(id) ? without : all; };
      const AttackRun run = runAttack(attack);
      const std::size_t selfMask = run.selfMaskSharesOf(j) + c, maskKey = run.maskKeySharesOf(j) + c;
      EXPECT_FALSE(selfMask >= t && maskKey >= t) << "t " << t << ", colluders " << c << ", trial " << trial;
    }
  }
}

}  // namespace
}  // namespace fedtl::secagg
