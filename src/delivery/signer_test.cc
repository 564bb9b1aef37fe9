#include "delivery/signer.h"

#include <gtest/gtest.h>

namespace learnwire::delivery {
namespace {

// The Standard Webhooks reference vector: standard-webhooks/standard-webhooks (commit b2fa7b8),
// libraries/go/webhook_test.go TestWebhookSign, repeated in libraries/python/tests/
// test_webhooks.py test_sign_function, libraries/javascript/src/webhook.test.ts "sign function
// works", libraries/php/tests/WebhookTest.php testSignFunctionWorks and libraries/csharp.
constexpr std::string_view kVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kVectorMsgId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kVectorTimestamp = 1614265330;
constexpr std::string_view kVectorBody = R"({"test": 2432232314})";
constexpr std::string_view kVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
// The decoy entries of the same suite's multi-signature test (test_multi_sig_payload_is_valid in
// Python, "multi sig payload is valid" in JavaScript, testMultiSigPayloadIsValid in PHP).
constexpr std::string_view kDecoy = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
constexpr std::string_view kDecoyV2 = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

std::string VectorKey() { return *DecodeSecret(kVectorSecret); }

TEST(SignerTest, SignsTheStandardWebhooksVector) {
  EXPECT_EQ(SignV1(VectorKey(), kVectorMsgId, kVectorTimestamp, kVectorBody), kVectorSignature);
}

TEST(SignerTest, DecodesTheVectorSecretToItsRawKey) {
  // 32 base64 characters without padding: 24 bytes, the smallest size allowed.
  core::Result<std::string> key = DecodeSecret(kVectorSecret);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(Base64(*key), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
}

TEST(SignerTest, VerifiesTheVectorAmongDecoys) {
  std::string header = std::string(kDecoy) + " " + std::string(kDecoyV2) + " " +
                       std::string(kVectorSignature) + " " + std::string(kDecoy);
  EXPECT_TRUE(VerifyV1(VectorKey(), kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  EXPECT_TRUE(VerifyV1(VectorKey(), kVectorMsgId, kVectorTimestamp, kVectorBody, kVectorSignature));
}

TEST(SignerTest, RejectsWrongSignatures) {
  const std::string key = VectorKey();
  for (std::string_view header : {
           // Invalid signatures of the Standard Webhooks suites (Python test_webhooks.py,
           // JavaScript webhook.test.ts, C# WebhookTest.cs).
           std::string_view("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
           std::string_view("v1,dawfeoifkpqwoekfpqoekf"),
           std::string_view("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd"),
           kDecoy,
           // The right signature under another version, or without its version.
           std::string_view("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
           std::string_view("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
           std::string_view("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
           std::string_view(""),
           std::string_view(" "),
       }) {
    EXPECT_FALSE(VerifyV1(key, kVectorMsgId, kVectorTimestamp, kVectorBody, header)) << header;
  }
}

TEST(SignerTest, RejectsTamperedInputs) {
  const std::string key = VectorKey();
  EXPECT_FALSE(
      VerifyV1(key, kVectorMsgId, kVectorTimestamp, R"({"test": 2432232315})", kVectorSignature));
  EXPECT_FALSE(VerifyV1(key, kVectorMsgId, kVectorTimestamp + 1, kVectorBody, kVectorSignature));
  EXPECT_FALSE(VerifyV1(key, "msg_p5jXN8AQM9LWM0D4loKWxJel", kVectorTimestamp, kVectorBody,
                        kVectorSignature));
  EXPECT_FALSE(VerifyV1(std::string(24, 'k'), kVectorMsgId, kVectorTimestamp, kVectorBody,
                        kVectorSignature));
}

TEST(SignerTest, SignsWithEveryKeyNewestFirst) {
  const SigningKey newest{SigningKey::Kind::kHmac, *DecodeSecret(NewSecret())};
  const SigningKey old{SigningKey::Kind::kHmac, VectorKey()};
  std::string header = SignatureHeader({newest, old}, kVectorMsgId, kVectorTimestamp, kVectorBody);
  EXPECT_EQ(header, SignV1(newest.key, kVectorMsgId, kVectorTimestamp, kVectorBody) + " " +
                        std::string(kVectorSignature));
  EXPECT_TRUE(VerifyV1(newest.key, kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  EXPECT_TRUE(VerifyV1(old.key, kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  EXPECT_EQ(SignatureHeader({old}, kVectorMsgId, kVectorTimestamp, kVectorBody), kVectorSignature);
  EXPECT_EQ(SignatureHeader({}, kVectorMsgId, kVectorTimestamp, kVectorBody), "");
}

std::string Hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(SignerTest, Ed25519MatchesRfc8032Test2) {
  // RFC 8032 §7.1, TEST 2: a one-byte message (0x72).
  const std::string seed = Hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
  EXPECT_EQ(Ed25519PublicKey(seed),
            Hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"));
  EXPECT_EQ(Ed25519Sign(seed, "\x72"),
            Hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"));
}

TEST(SignerTest, V1aSignsTheStandardWebhooksStringAndVerifiesWithThePublicKey) {
  const auto stored = DecodeSigningKey(NewPrivateKey());
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->kind, SigningKey::Kind::kEd25519);
  const std::string& seed = stored->key;
  const std::string pub = Ed25519PublicKey(seed);
  const std::string v1a = SignV1a(seed, kVectorMsgId, kVectorTimestamp, kVectorBody);
  ASSERT_EQ(v1a.substr(0, 4), "v1a,");
  EXPECT_EQ(*FromBase64(v1a.substr(4)),
            Ed25519Sign(seed, std::string(kVectorMsgId) + "." + std::to_string(kVectorTimestamp) +
                                  "." + std::string(kVectorBody)));
  // In a header beside an HMAC signature, each verifier finds its own entry.
  const SigningKey hmac{SigningKey::Kind::kHmac, VectorKey()};
  const std::string header =
      SignatureHeader({*stored, hmac}, kVectorMsgId, kVectorTimestamp, kVectorBody);
  EXPECT_EQ(header, v1a + " " + std::string(kVectorSignature));
  EXPECT_TRUE(VerifyV1a(pub, kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  EXPECT_TRUE(VerifyV1(hmac.key, kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  // Anything else fails: another key, the body or timestamp changed, a v1 entry only.
  const std::string other = Ed25519PublicKey(DecodeSigningKey(NewPrivateKey())->key);
  EXPECT_FALSE(VerifyV1a(other, kVectorMsgId, kVectorTimestamp, kVectorBody, header));
  EXPECT_FALSE(VerifyV1a(pub, kVectorMsgId, kVectorTimestamp, R"({"test": 1})", header));
  EXPECT_FALSE(VerifyV1a(pub, kVectorMsgId, kVectorTimestamp + 1, kVectorBody, header));
  EXPECT_FALSE(VerifyV1a(pub, kVectorMsgId, kVectorTimestamp, kVectorBody, kVectorSignature));
}

TEST(SignerTest, PublicKeysAreWhpkOf32Bytes) {
  const std::string seed = DecodeSigningKey(NewPrivateKey())->key;
  const std::string text = PublicKeyText(seed);
  EXPECT_EQ(text.substr(0, 5), "whpk_");
  EXPECT_EQ(DecodePublicKey(text).value(), Ed25519PublicKey(seed));
  for (const std::string& bad :
       std::vector<std::string>{"whpk_", "whsk_" + text.substr(5), "whpk_" + Base64("short"),
                                "whpk_" + Base64(std::string(33, 'k'))}) {
    EXPECT_FALSE(DecodePublicKey(bad).ok()) << bad;
  }
  EXPECT_FALSE(DecodeSigningKey("whsk_" + Base64("short")).ok());
  EXPECT_EQ(DecodeSigningKey(NewSecret())->kind, SigningKey::Kind::kHmac);
}

TEST(SignerTest, LegacySignatureIsHexHmacOfTheBody) {
  // Computed independently: printf '%s' '{"test": 2432232314}' | openssl dgst -sha256 -mac HMAC
  //   -macopt hexkey:31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0 (the vector secret's key).
  EXPECT_EQ(LegacySignature(VectorKey(), kVectorBody),
            "sha256=e2cb4f5251572539d458bfb8a7adb533b08801e6a794467e06f771debbb0818b");
  // RFC 4231 §4.2, test case 1.
  EXPECT_EQ(LegacySignature(std::string(20, '\x0b'), "Hi There"),
            "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(SignerTest, Base64FollowsRfc4648) {
  // RFC 4648 §10 test vectors.
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [raw, text] : cases) {
    EXPECT_EQ(Base64(raw), text);
    EXPECT_EQ(FromBase64(text), std::string(raw)) << text;
  }
}

TEST(SignerTest, FromBase64RefusesWhatRfc4648Refuses) {
  for (std::string_view text :
       {"Zg", "Zg=", "Zm8", "Zg===", "Z===", "====", "Zm9v\n", " Zm9v", "Zm 9v", "Zm-v", "Zm_v",
        "Zg=a", "Z=g=", "Zh==", "Zm9=", "Zm8=Zm8="}) {
    EXPECT_FALSE(FromBase64(text).has_value()) << text;
  }
}

TEST(SignerTest, NewSecretsAreFreshPaddedBase64OfTheAskedSize) {
  const std::pair<std::size_t, std::size_t> sizes[] = {{32, 32}, {24, 24}, {64, 64},
                                                       {25, 25}, {1, 24},  {1000, 64}};
  for (const auto& [asked, got] : sizes) {
    std::string secret = NewSecret(asked);
    ASSERT_EQ(secret.substr(0, 6), "whsec_");
    core::Result<std::string> key = DecodeSecret(secret);
    ASSERT_TRUE(key.ok()) << secret;
    EXPECT_EQ(key->size(), got);
    EXPECT_EQ(secret.size(), 6 + 4 * ((got + 2) / 3));
  }
  EXPECT_EQ(NewSecret().size(), 6u + 44u);
  EXPECT_NE(NewSecret(), NewSecret());
}

TEST(SignerTest, DecodeSecretAcceptsTheBounds) {
  EXPECT_EQ(DecodeSecret("whsec_" + Base64(std::string(24, 'a')))->size(), 24u);
  EXPECT_EQ(DecodeSecret("whsec_" + Base64(std::string(64, 'a')))->size(), 64u);
  EXPECT_EQ(DecodeSecret("whsec_" + Base64(std::string(25, '\xff')))->size(), 25u);
}

TEST(SignerTest, DecodeSecretRefusesAnythingElse) {
  const std::string padded = Base64(std::string(25, 'a'));  // ends in "=="
  const std::string cases[] = {
      "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",              // no prefix
      "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",         // another prefix
      "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        // the prefix is case-sensitive
      "whsec_",                                        // empty
      "whsec_" + padded.substr(0, padded.size() - 2),  // unpadded
      "whsec_" + padded.substr(0, padded.size() - 1),  // half padded
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w",        // base64url alphabet
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa_w",
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",   // not base64
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",  // whitespace
      "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "whsec_MfKQ9r8GKYqrTwjUPD8I\nLPZIo2LaLaSw",
      "whsec_MfKQ9r8GKYqrTwjU=D8ILPZIo2LaLaSw",  // '=' inside
      "whsec_" + Base64(std::string(23, 'a')),   // 23 bytes
      "whsec_" + Base64(std::string(65, 'a')),   // 65 bytes
      // The padded variants of the Standard Webhooks Python suite
      // (test_signature_verification_with_unpadded_secret): 23 bytes, and both non-canonical.
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=",
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==",
  };
  for (const std::string& secret : cases) {
    core::Result<std::string> key = DecodeSecret(secret);
    ASSERT_FALSE(key.ok()) << secret;
    EXPECT_EQ(key.status().code(), core::Code::kInvalidArgument);
    ASSERT_EQ(key.status().fields().size(), 1u);
    EXPECT_EQ(key.status().fields()[0].field, "secret");
  }
}

}  // namespace
}  // namespace learnwire::delivery
