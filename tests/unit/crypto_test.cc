// Known-answer and misuse tests of the SecAgg building blocks in common/crypto: X25519
// (RFC 7748), Ed25519 (RFC 8032), HKDF-SHA256 (RFC 5869), AES-256-GCM (GCM spec test cases
// 13-16), AES-256-CTR (NIST SP 800-38A F.5.5) and the mask generator built on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/aead.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/hkdf.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/random.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x25519.h"
#include "common/error.h"

namespace fedtl::crypto {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes fromHex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  return out;
}
std::string hex(Span<const std::uint8_t> bytes) { return toHex(bytes.data(), bytes.size()); }
template <std::size_t N>
std::array<std::uint8_t, N> arrayFromHex(std::string_view text) {
  std::array<std::uint8_t, N> out{};
  const Bytes bytes = fromHex(text);
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}
Bytes range(int first, int lastExclusive) {
  Bytes out;
  for (int b = first; b < lastExclusive; ++b) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

// ---- SecretBytes and the random source ----

TEST(CryptoSecretBytes, MoveLeavesTheSourceEmptyAndCopiesAreExplicit) {
  const Bytes raw = {1, 2, 3, 4};
  SecretBytes a(raw);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), raw.begin()));
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(hex(b), "01020304");
  SecretBytes c(8);
  c = std::move(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(hex(c.span()), "01020304");
  c.clear();
  EXPECT_TRUE(c.empty());
  static_assert(!std::is_copy_constructible_v<SecretBytes>);
  static_assert(!std::is_copy_assignable_v<SecretBytes>);
}

TEST(CryptoRandom, FillsWithFreshBytes) {
  Bytes a(4096), b(4096);
  secureRandom(a.data(), a.size());
  secureRandom(b.data(), b.size());
  EXPECT_NE(a, b);
  EXPECT_NE(a, Bytes(4096, 0));
  const SecretBytes secret = randomSecret(32);
  EXPECT_EQ(secret.size(), 32u);
  secureRandom(nullptr, 0);  // nothing asked, nothing done
}

// ---- X25519 (RFC 7748) ----

TEST(CryptoX25519, Rfc7748Section5_2Vectors) {
  const auto derive = [](std::string_view scalar, std::string_view u) {
    return hex(x25519SharedSecret(fromHex(scalar), arrayFromHex<32>(u)));
  };
  EXPECT_EQ(derive("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                   "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  EXPECT_EQ(derive("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                   "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

TEST(CryptoX25519, Rfc7748Section5_2IteratedThousandTimes) {
  Bytes k = fromHex("0900000000000000000000000000000000000000000000000000000000000000");
  Bytes u = k;
  for (int i = 1; i <= 1000; ++i) {
    X25519PublicKey peer{};
    std::copy(u.begin(), u.end(), peer.begin());
    const SecretBytes next = x25519SharedSecret(k, peer);
    u = k;
    k.assign(next.begin(), next.end());
    if (i == 1) {
      EXPECT_EQ(hex(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(hex(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

TEST(CryptoX25519, Rfc7748Section6_1DiffieHellman) {
  const X25519KeyPair alice =
      x25519KeyPairFromPrivate(fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  const X25519KeyPair bob =
      x25519KeyPairFromPrivate(fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  EXPECT_EQ(hex(alice.publicKey), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(hex(bob.publicKey), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  EXPECT_EQ(hex(x25519SharedSecret(alice.privateKey, bob.publicKey)), shared);
  EXPECT_EQ(hex(x25519SharedSecret(bob.privateKey, alice.publicKey)), shared);
}

TEST(CryptoX25519, GeneratedPairsAgreeAndDiffer) {
  const X25519KeyPair a = generateX25519KeyPair();
  const X25519KeyPair b = generateX25519KeyPair();
  EXPECT_NE(a.publicKey, b.publicKey);
  EXPECT_EQ(a.privateKey.size(), kX25519KeySize);
  EXPECT_EQ(x25519KeyPairFromPrivate(a.privateKey).publicKey, a.publicKey);
  EXPECT_EQ(hex(x25519SharedSecret(a.privateKey, b.publicKey)), hex(x25519SharedSecret(b.privateKey, a.publicKey)));
  EXPECT_FALSE(isSmallOrderX25519PublicKey(a.publicKey));
}

// libsodium's list: 0, 1, the two points of order 8, p-1, p, p+1 (p = 2^255 - 19).
const char* const kSmallOrderPoints[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

TEST(CryptoX25519, SmallOrderPublicKeysAreRejected) {
  const X25519KeyPair own = generateX25519KeyPair();
  for (const char* point : kSmallOrderPoints) {
    X25519PublicKey key = arrayFromHex<32>(point);
    for (int topBit = 0; topBit < 2; ++topBit) {  // X25519 ignores bit 255: both forms are the same point
      key[31] = static_cast<std::uint8_t>((key[31] & 0x7f) | (topBit << 7));
      SCOPED_TRACE(hex(key));
      EXPECT_TRUE(isSmallOrderX25519PublicKey(key));
      EXPECT_THROW(x25519SharedSecret(own.privateKey, key), CryptoError);
    }
  }
}

TEST(CryptoX25519, WrongKeySizeIsRefused) {
  const X25519KeyPair peer = generateX25519KeyPair();
  EXPECT_THROW(x25519SharedSecret(Bytes(31, 7), peer.publicKey), CryptoError);
  EXPECT_THROW(x25519KeyPairFromPrivate(Bytes(33, 7)), CryptoError);
}

// ---- Ed25519 (RFC 8032 §7.1) ----

struct Ed25519Vector {
  const char* privateKey;
  const char* publicKey;
  const char* message;
  const char* signature;
};
const Ed25519Vector kRfc8032Vectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bb"
     "e24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb43"
     "02aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716"
     "ed28dc027beceea1ec40a"},
};

TEST(CryptoEd25519, Rfc8032Tests1To3) {
  for (const Ed25519Vector& v : kRfc8032Vectors) {
    SCOPED_TRACE(v.publicKey);
    const Ed25519KeyPair pair = ed25519KeyPairFromPrivate(fromHex(v.privateKey));
    EXPECT_EQ(hex(pair.publicKey), v.publicKey);
    EXPECT_EQ(hex(pair.privateKey), v.privateKey);
    const Bytes message = fromHex(v.message);
    const Ed25519Signature signature = ed25519Sign(pair.privateKey, message);
    EXPECT_EQ(hex(signature), v.signature);
    EXPECT_TRUE(ed25519Verify(pair.publicKey, message, signature));
  }
}

TEST(CryptoEd25519, TamperedMessageSignatureOrKeyDoesNotVerify) {
  const Ed25519Vector& v = kRfc8032Vectors[2];
  const auto publicKey = arrayFromHex<32>(v.publicKey);
  const Bytes message = fromHex(v.message);
  const auto signature = arrayFromHex<64>(v.signature);
  ASSERT_TRUE(ed25519Verify(publicKey, message, signature));

  Bytes otherMessage = message;
  otherMessage[0] ^= 1;
  EXPECT_FALSE(ed25519Verify(publicKey, otherMessage, signature));
  EXPECT_FALSE(ed25519Verify(publicKey, Bytes{}, signature));
  for (std::size_t i : {0u, 31u, 32u, 63u}) {
    auto otherSignature = signature;
    otherSignature[i] ^= 0x10;
    EXPECT_FALSE(ed25519Verify(publicKey, message, otherSignature)) << "byte " << i;
  }
  EXPECT_FALSE(ed25519Verify(arrayFromHex<32>(kRfc8032Vectors[0].publicKey), message, signature));
  Ed25519PublicKey garbage{};
  garbage.fill(0xff);  // not a point encoding: invalid, not an exception
  EXPECT_FALSE(ed25519Verify(garbage, message, signature));
}

TEST(CryptoEd25519, GeneratedKeysSignAndRoundTripThroughRawBytes) {
  const Ed25519KeyPair pair = generateEd25519KeyPair();
  const Ed25519KeyPair imported = ed25519KeyPairFromPrivate(pair.privateKey);
  EXPECT_EQ(imported.publicKey, pair.publicKey);
  const auto message = asBytes("round 7 global parameters digest");
  const Ed25519Signature signature = ed25519Sign(imported.privateKey, message);
  EXPECT_TRUE(ed25519Verify(pair.publicKey, message, signature));
  EXPECT_EQ(ed25519Sign(pair.privateKey, message), signature);  // deterministic
  EXPECT_FALSE(ed25519Verify(generateEd25519KeyPair().publicKey, message, signature));
  EXPECT_THROW(ed25519Sign(Bytes(16, 1), message), CryptoError);
}

// ---- HKDF-SHA256 (RFC 5869 appendix A) ----

TEST(CryptoHkdf, Rfc5869TestCase1) {
  EXPECT_EQ(hex(hkdfSha256(Bytes(22, 0x0b), range(0x00, 0x0d), range(0xf0, 0xfa), 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(CryptoHkdf, Rfc5869TestCase2LongInputs) {
  EXPECT_EQ(hex(hkdfSha256(range(0x00, 0x50), range(0x60, 0xb0), range(0xb0, 0x100), 82)),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c"
            "2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(CryptoHkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  EXPECT_EQ(hex(hkdfSha256(Bytes(22, 0x0b), {}, {}, 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(CryptoHkdf, LengthAndKeyLimits) {
  const Bytes key(32, 1);
  EXPECT_EQ(hkdfSha256(key, {}, {}, kHkdfSha256MaxLength).size(), kHkdfSha256MaxLength);
  EXPECT_THROW(hkdfSha256(key, {}, {}, 0), CryptoError);
  EXPECT_THROW(hkdfSha256(key, {}, {}, kHkdfSha256MaxLength + 1), CryptoError);
  EXPECT_THROW(hkdfSha256({}, {}, {}, 32), CryptoError);
  EXPECT_NE(hex(hkdfSha256(key, {}, asBytes("a"), 32)), hex(hkdfSha256(key, {}, asBytes("b"), 32)));
}

// ---- AES-256-GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16) ----

struct GcmVector {
  const char* key;
  const char* nonce;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};
constexpr const char* kGcmKey = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr const char* kGcmPlaintext =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de"
    "657ba637b391aafd255";
constexpr const char* kGcmCiphertext =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba"
    "7a0abcc9f662898015ad";
const GcmVector kGcmVectors[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {kGcmKey, "cafebabefacedbaddecaf888", kGcmPlaintext, "", kGcmCiphertext, "b094dac5d93471bdec1a502270e3cc6c"},
};

TEST(CryptoAead, GcmSpecTestCases13To15) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.tag);
    const Bytes key = fromHex(v.key), nonce = fromHex(v.nonce), aad = fromHex(v.aad);
    const Bytes sealed = aesGcmSeal(key, nonce, aad, fromHex(v.plaintext));
    EXPECT_EQ(hex(sealed), std::string(v.ciphertext) + v.tag);
    const auto opened = aesGcmOpen(key, nonce, aad, sealed);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(hex(*opened), v.plaintext);
  }
}

// Test case 16: 60-byte plaintext and 20 bytes of AAD.
TEST(CryptoAead, GcmSpecTestCase16WithAad) {
  const Bytes key = fromHex(kGcmKey);
  const Bytes nonce = fromHex("cafebabefacedbaddecaf888");
  const Bytes plaintext = fromHex(std::string_view(kGcmPlaintext).substr(0, 120));
  const Bytes aad = fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes sealed = aesGcmSeal(key, nonce, aad, plaintext);
  EXPECT_EQ(hex(sealed), std::string(kGcmCiphertext).substr(0, 120) + "76fc6ece0f4e1768cddf8853bb2d551b");
  const auto opened = aesGcmOpen(key, nonce, aad, sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(hex(*opened), hex(plaintext));
}

TEST(CryptoAead, GcmCase16AnyFlippedBitFailsAuthentication) {
  const Bytes key = fromHex(kGcmKey);
  const Bytes nonce = fromHex("cafebabefacedbaddecaf888");
  const Bytes plaintext = fromHex(std::string_view(kGcmPlaintext).substr(0, 120));
  const Bytes aad = fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes sealed = aesGcmSeal(key, nonce, aad, plaintext);
  ASSERT_TRUE(aesGcmOpen(key, nonce, aad, sealed).has_value());

  for (std::size_t i : {std::size_t{0}, std::size_t{30}, plaintext.size() - 1}) {  // ciphertext
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(aesGcmOpen(key, nonce, aad, bad).has_value()) << "ciphertext byte " << i;
  }
  for (std::size_t i = plaintext.size(); i < sealed.size(); ++i) {  // every tag byte
    Bytes bad = sealed;
    bad[i] ^= 0x80;
    EXPECT_FALSE(aesGcmOpen(key, nonce, aad, bad).has_value()) << "tag byte " << i;
  }
  for (std::size_t i : {std::size_t{0}, aad.size() - 1}) {  // AAD
    Bytes badAad = aad;
    badAad[i] ^= 0x01;
    EXPECT_FALSE(aesGcmOpen(key, nonce, badAad, sealed).has_value()) << "aad byte " << i;
  }
  EXPECT_FALSE(aesGcmOpen(key, nonce, {}, sealed).has_value());  // AAD dropped
  Bytes badNonce = nonce;
  badNonce[11] ^= 0x01;
  EXPECT_FALSE(aesGcmOpen(key, badNonce, aad, sealed).has_value());
  Bytes badKey = key;
  badKey[0] ^= 0x01;
  EXPECT_FALSE(aesGcmOpen(badKey, nonce, aad, sealed).has_value());
  EXPECT_FALSE(aesGcmOpen(key, nonce, aad, Span<const std::uint8_t>(sealed).first(sealed.size() - 1)).has_value());
  EXPECT_FALSE(aesGcmOpen(key, nonce, aad, Bytes(kAesGcmTagSize - 1, 0)).has_value());
}

TEST(CryptoAead, WrongKeyOrNonceSizeIsMisuse) {
  EXPECT_THROW(aesGcmSeal(Bytes(16, 0), Bytes(12, 0), {}, Bytes(4, 0)), CryptoError);
  EXPECT_THROW(aesGcmSeal(Bytes(32, 0), Bytes(16, 0), {}, Bytes(4, 0)), CryptoError);
  EXPECT_THROW((void)aesGcmOpen(Bytes(32, 0), Bytes(8, 0), {}, Bytes(20, 0)), CryptoError);
}

TEST(CryptoAead, LargeMessageRoundTrips) {
  const SecretBytes key = randomSecret(kAesGcmKeySize);
  const Bytes nonce(kAesGcmNonceSize, 3);
  Bytes message(1 << 20);
  secureRandom(message.data(), message.size());
  const Bytes sealed = aesGcmSeal(key, nonce, asBytes("share for participant 9"), message);
  const auto opened = aesGcmOpen(key, nonce, asBytes("share for participant 9"), sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(std::equal(opened->begin(), opened->end(), message.begin(), message.end()));
}

// ---- AES-256-CTR keystream and the mask generator ----

TEST(CryptoMaskPrg, NistSp800_38aF55CtrAes256) {
  MaskPrg prg = MaskPrg::fromAesKeyAndIv(fromHex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
                                         fromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  const Bytes plaintext = fromHex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9"
      "b17ad2b417be66c3710");
  Bytes keystream(plaintext.size());
  prg.fill(Span<std::uint8_t>(keystream).first(5));  // an uneven split exercises partial blocks
  prg.fill(Span<std::uint8_t>(keystream).subspan(5, keystream.size() - 5));
  Bytes ciphertext(plaintext.size());
  for (std::size_t i = 0; i < plaintext.size(); ++i) ciphertext[i] = plaintext[i] ^ keystream[i];
  EXPECT_EQ(
      hex(ciphertext),
      "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67"
      "aada613c2dd08457941a6");
}

TEST(CryptoMaskPrg, SeedExpandsThroughHkdfIntoZeroIvCtr) {
  // Fixed answer computed independently (Python `cryptography`): HKDF-SHA256(seed = 00..1f,
  // info "fedtl/secagg/mask-prg/v1/aes-256-ctr") keys AES-256-CTR from a zero counter block.
  const Bytes seed = range(0, 32);
  Bytes bytes(32);
  MaskPrg(seed).fill(Span<std::uint8_t>(bytes));
  EXPECT_EQ(hex(bytes), "70582dd2aafb4b9185fcea0d87242b5e96765a6d16252eba42760d450dd01c4f");
  std::vector<std::uint32_t> words(4);
  MaskPrg(seed).fill(Span<std::uint32_t>(words));  // little-endian words of the same bytes
  EXPECT_EQ(words, (std::vector<std::uint32_t>{0xd22d5870u, 0x914bfbaau, 0x0deafc85u, 0x5e2b2487u}));

  const SecretBytes key = hkdfSha256(seed, {}, asBytes("fedtl/secagg/mask-prg/v1/aes-256-ctr"), 32);
  Bytes viaRawKey(100000), viaSeed(100000);
  MaskPrg::fromAesKeyAndIv(key, Bytes(16, 0)).fill(Span<std::uint8_t>(viaRawKey));
  MaskPrg(seed).fill(Span<std::uint8_t>(viaSeed));
  EXPECT_EQ(viaRawKey, viaSeed);
  EXPECT_EQ(hex(Span<const std::uint8_t>(viaSeed).subspan(70000, 16)), "6c8514a3e52b1847242fb1bafe7da6ab");
}

TEST(CryptoMaskPrg, StreamDoesNotDependOnHowItIsCut) {
  const SecretBytes seed = randomSecret(MaskPrg::kSeedSize);
  const std::size_t total = 3 * 65536 + 12345;  // crosses the 64 KiB chunks
  std::vector<std::uint32_t> whole(total), pieces(total);
  MaskPrg(seed).fill(Span<std::uint32_t>(whole));
  MaskPrg cut(seed);
  std::size_t at = 0;
  for (std::size_t step : {1u, 3u, 4095u, 16384u, 70001u}) {
    cut.fill(Span<std::uint32_t>(pieces).subspan(at, step));
    at += step;
  }
  cut.fill(Span<std::uint32_t>(pieces).subspan(at, total - at));
  EXPECT_EQ(whole, pieces);

  std::vector<std::uint32_t> other(total);
  MaskPrg(randomSecret(MaskPrg::kSeedSize)).fill(Span<std::uint32_t>(other));
  EXPECT_NE(whole, other);
  EXPECT_THROW(MaskPrg(Bytes(16, 0)), CryptoError);
}

TEST(CryptoMaskPrg, AddAndSubtractWrapModulo2To32And2To64) {
  const SecretBytes seed = randomSecret(MaskPrg::kSeedSize);
  const std::size_t d = 100003;  // not a multiple of the combining block
  std::vector<std::uint32_t> mask(d);
  MaskPrg(seed).fill(Span<std::uint32_t>(mask));
  std::vector<std::uint32_t> values(d);
  for (std::size_t i = 0; i < d; ++i) values[i] = static_cast<std::uint32_t>(0xfffffff0u + i);  // wraps
  const std::vector<std::uint32_t> original = values;

  addMask(Span<std::uint32_t>(values), seed);
  for (std::size_t i = 0; i < d; ++i) ASSERT_EQ(values[i], static_cast<std::uint32_t>(original[i] + mask[i])) << i;
  subtractMask(Span<std::uint32_t>(values), seed);
  EXPECT_EQ(values, original);

  std::vector<std::uint64_t> mask64(d), values64(d, ~std::uint64_t{0});
  MaskPrg(seed).fill(Span<std::uint64_t>(mask64));
  addMask(Span<std::uint64_t>(values64), seed);
  for (std::size_t i = 0; i < d; ++i) ASSERT_EQ(values64[i], mask64[i] - 1) << i;
  subtractMask(Span<std::uint64_t>(values64), seed);
  EXPECT_EQ(values64, std::vector<std::uint64_t>(d, ~std::uint64_t{0}));
}

TEST(CryptoMaskPrg, PairwiseMasksCancelInTheSum) {
  // Participant 1 adds the pairwise mask, participant 2 subtracts it: the sum is unmasked.
  const SecretBytes pairSeed = randomSecret(MaskPrg::kSeedSize);
  std::vector<std::uint32_t> a(5000, 7), b(5000, 11);
  addMask(Span<std::uint32_t>(a), pairSeed);
  subtractMask(Span<std::uint32_t>(b), pairSeed);
  EXPECT_NE(a, std::vector<std::uint32_t>(5000, 7));
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(static_cast<std::uint32_t>(a[i] + b[i]), 18u);
}

}  // namespace
}  // namespace fedtl::crypto
