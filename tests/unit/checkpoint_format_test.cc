#include "protocols/checkpoint_format.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "protocols/wire_archive.h"

namespace fedtl::protocols {
namespace {

CheckpointHeader sampleHeader() {
  CheckpointHeader h;
  h.backbone.architecture = "small-cnn";
  h.backbone.height = h.backbone.width = 28;
  h.backbone.mean = {0.28f};
  h.backbone.std = {0.35f};
  h.backbone.featureDim = 128;
  h.numClasses = 10;
  h.classNames = {"a", "b"};
  h.scriptBytes = 3;
  h.provenance = "test";
  return h;
}

TEST(CheckpointFormat, RoundTrip) {
  auto bytes = encodeCheckpointFile(sampleHeader(), "xyzBODY");
  auto file = decodeCheckpointFile(bytes, "mem");
  EXPECT_EQ(file.header.backbone.architecture, "small-cnn");
  EXPECT_EQ(file.header.classNames, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(file.header.backbone.mean, std::vector<float>{0.28f});
  EXPECT_EQ(file.header.backbone.featureDim, 128);
  EXPECT_EQ(file.body, "xyzBODY");
  EXPECT_EQ(file.digestHex().size(), 64u);
}

TEST(CheckpointFormat, RefusesAnyFlippedByte) {
  auto bytes = encodeCheckpointFile(sampleHeader(), "body bytes");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_THROW(decodeCheckpointFile(bad, "mem"), CheckpointError) << "byte " << i;
  }
}

TEST(CheckpointFormat, RefusesTruncationAndForeignFiles) {
  auto bytes = encodeCheckpointFile(sampleHeader(), "body");
  for (std::size_t len : {std::size_t{0}, std::size_t{7}, std::size_t{20}, bytes.size() - 1})
    EXPECT_THROW(decodeCheckpointFile(bytes.substr(0, len), "mem"), CheckpointError) << len;
  try {
    decodeCheckpointFile("PK\x03\x04 a zip file", "x.pt");
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("not a fedtl checkpoint"), std::string::npos);
  }
}

TEST(WireArchive, HostileLengthDoesNotAllocate) {
  std::string bytes = encode(std::vector<std::string>{"a"});
  // Claim 2^60 strings in the outer size tag.
  std::uint64_t huge = std::uint64_t{1} << 60;
  std::memcpy(bytes.data(), &huge, sizeof huge);
  EXPECT_THROW(decode<std::vector<std::string>>(bytes), DecodeError);
  EXPECT_THROW(decode<std::vector<float>>(std::string(7, '\xff')), DecodeError);
  EXPECT_THROW(decode<std::uint64_t>(encode(std::uint64_t{5}) + "x"), DecodeError);  // trailing byte
}

}  // namespace
}  // namespace fedtl::protocols

#include "protocols/round_state.h"

namespace fedtl::protocols {
namespace {

TEST(RoundState, RoundTripAndCorruptionRefused) {
  RoundState s{4, std::string(64, 'a'), "linear-probe", {1, 2, 3}, {0.1f}, {0.2f}, {0.5f, 0.25f}};
  auto bytes = encodeRoundState(s);
  auto back = decodeRoundState(bytes, "mem");
  EXPECT_EQ(back.completedRounds, 4);
  EXPECT_EQ(back.parameters, s.parameters);
  EXPECT_EQ(back.serverSecondMoment, s.serverSecondMoment);
  EXPECT_EQ(back.batchNormStatistics, s.batchNormStatistics);
  auto bad = bytes;
  bad[20] ^= 1;
  EXPECT_THROW(decodeRoundState(bad, "mem"), CheckpointError);
  EXPECT_THROW(decodeRoundState(bytes.substr(0, bytes.size() - 3), "mem"), CheckpointError);
  EXPECT_THROW(decodeRoundState("", "mem"), CheckpointError);
}

}  // namespace
}  // namespace fedtl::protocols
