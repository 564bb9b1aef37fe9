#include "cli/verify.h"

#include <gtest/gtest.h>

#include <fstream>

#include "delivery/signer.h"

namespace learnwire::cli {
namespace {

// The Standard Webhooks reference vector (as in delivery/signer_test.cc).
const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string kMsgId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTimestamp = 1614265330;
const std::string kBody = R"({"test": 2432232314})";
const std::string kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// A saved request as `curl -i`-like text, CRLF line ends.
std::string HeaderFile(const std::string& signature) {
  return "POST http://127.0.0.1:9000/hook HTTP/1.1\r\n"
         "Content-Type: application/json\r\n"
         "Webhook-Id: " +
         kMsgId +
         "\r\n"
         "webhook-timestamp:" +
         std::to_string(kTimestamp) +
         "\r\n"
         "WEBHOOK-SIGNATURE:   " +
         signature + "  \r\n\r\n";
}

VerifyKey HmacKey() { return *ChooseKey(kSecret, std::nullopt); }

Headers Parsed(const std::string& text) {
  auto h = ParseHeaderLines(text);
  EXPECT_TRUE(h.ok()) << h.status().message();
  return h.ok() ? *h : Headers{};
}

TEST(ParseHeaderLinesTest, ReadsNameValueLinesCaseInsensitively) {
  Headers h = Parsed(HeaderFile(kSignature));
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(*FindHeader(h, "content-type"), "application/json");
  EXPECT_EQ(*FindHeader(h, "webhook-id"), kMsgId);
  EXPECT_EQ(*FindHeader(h, "webhook-timestamp"), "1614265330");
  EXPECT_EQ(*FindHeader(h, "webhook-signature"), kSignature);
}

TEST(ParseHeaderLinesTest, SkipsBlankLinesAndAStatusLine) {
  Headers h = Parsed("\n\nHTTP/1.1 204 No Content\nX-A: 1\n\nx-b: two words \n");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(*FindHeader(h, "x-a"), "1");
  EXPECT_EQ(*FindHeader(h, "x-b"), "two words");
  EXPECT_TRUE(Parsed("").empty());
}

TEST(ParseHeaderLinesTest, RefusesOtherLinesNamingTheLine) {
  // A start line is allowed only first; anything else without "name:" is an error.
  auto late = ParseHeaderLines("X-A: 1\nPOST /hook HTTP/1.1\n");
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(ParseHeaderLines("just text\n").ok());
  EXPECT_FALSE(ParseHeaderLines(": no name\n").ok());
  EXPECT_FALSE(ParseHeaderLines("bad name: x\n").ok());
}

TEST(ChooseKeyTest, NeedsExactlyOneKeyOption) {
  std::string pk = delivery::PublicKeyText(*delivery::FromBase64(std::string(43, 'A') + "="));
  EXPECT_FALSE(ChooseKey(std::nullopt, std::nullopt).ok());
  auto both = ChooseKey(kSecret, pk);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("exactly one"), std::string::npos);
  auto hmac = ChooseKey(kSecret, std::nullopt);
  ASSERT_TRUE(hmac.ok());
  EXPECT_EQ(hmac->kind, VerifyKey::Kind::kHmac);
  auto ed = ChooseKey(std::nullopt, pk);
  ASSERT_TRUE(ed.ok());
  EXPECT_EQ(ed->kind, VerifyKey::Kind::kEd25519);
  EXPECT_EQ(ed->bytes.size(), 32u);
}

TEST(ChooseKeyTest, RefusesMalformedKeysWithoutEchoingThem) {
  for (const std::string bad : {"whsec_not*base64", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""}) {
    auto k = ChooseKey(bad, std::nullopt);
    ASSERT_FALSE(k.ok()) << bad;
    EXPECT_TRUE(k.status().message().starts_with("--secret: "));
    if (!bad.empty()) {
      EXPECT_EQ(k.status().message().find(bad), std::string::npos);
    }
  }
  EXPECT_FALSE(ChooseKey(std::nullopt, "whpk_AAAA").ok());
  EXPECT_FALSE(ChooseKey(std::nullopt, kSecret).ok());
}

TEST(CheckTest, AcceptsAValidHmacSignature) {
  Verdict v = Check(HmacKey(), Parsed(HeaderFile(kSignature)), kBody, std::nullopt);
  EXPECT_TRUE(v.ok()) << v.reason << ": " << v.detail;
  // Among other entries (rotation: several secrets; other versions skipped).
  std::string many = "v1a,AAAA v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + kSignature;
  EXPECT_TRUE(Check(HmacKey(), Parsed(HeaderFile(many)), kBody, std::nullopt).ok());
}

TEST(CheckTest, AcceptsAValidEd25519Signature) {
  std::string seed = *delivery::FromBase64(delivery::NewPrivateKey().substr(5));
  auto key = ChooseKey(std::nullopt, delivery::PublicKeyText(seed));
  ASSERT_TRUE(key.ok());
  std::string sig = delivery::SignV1a(seed, kMsgId, kTimestamp, kBody);
  EXPECT_TRUE(Check(*key, Parsed(HeaderFile(sig)), kBody, std::nullopt).ok());
  // The same request checked with the secret: no v1 entry matches.
  EXPECT_EQ(Check(HmacKey(), Parsed(HeaderFile(sig)), kBody, std::nullopt).reason, "bad-signature");
  // Another key pair does not verify it.
  std::string other = *delivery::FromBase64(delivery::NewPrivateKey().substr(5));
  auto wrong = ChooseKey(std::nullopt, delivery::PublicKeyText(other));
  EXPECT_EQ(Check(*wrong, Parsed(HeaderFile(sig)), kBody, std::nullopt).reason, "bad-signature");
}

TEST(CheckTest, RefusesATamperedBodyOrIdOrTimestamp) {
  Headers h = Parsed(HeaderFile(kSignature));
  EXPECT_EQ(Check(HmacKey(), h, kBody + " ", std::nullopt).reason, "bad-signature");
  Headers other_id = h;
  other_id.find("webhook-id")->second = "msg_other";
  EXPECT_EQ(Check(HmacKey(), other_id, kBody, std::nullopt).reason, "bad-signature");
  Headers other_ts = h;
  other_ts.find("webhook-timestamp")->second = std::to_string(kTimestamp + 1);
  EXPECT_EQ(Check(HmacKey(), other_ts, kBody, std::nullopt).reason, "bad-signature");
}

TEST(CheckTest, RefusesAWrongSecret) {
  auto key = ChooseKey(delivery::NewSecret(), std::nullopt);
  ASSERT_TRUE(key.ok());
  Verdict v = Check(*key, Parsed(HeaderFile(kSignature)), kBody, std::nullopt);
  EXPECT_EQ(v.reason, "bad-signature");
  EXPECT_FALSE(v.detail.empty());
}

TEST(CheckTest, NamesMissingHeaders) {
  Headers h = Parsed(HeaderFile(kSignature));
  h.erase("webhook-signature");
  Verdict v = Check(HmacKey(), h, kBody, std::nullopt);
  EXPECT_EQ(v.reason, "missing-headers");
  EXPECT_NE(v.detail.find("webhook-signature"), std::string::npos);
  EXPECT_EQ(Check(HmacKey(), {}, kBody, std::nullopt).reason, "missing-headers");
}

TEST(CheckTest, RefusesATimestampThatIsNotUnixSeconds) {
  for (std::string ts : {"+1614265330", "1614265330.0", "-5", "soon"}) {
    Headers h = Parsed(HeaderFile(kSignature));
    h.find("webhook-timestamp")->second = ts;
    EXPECT_EQ(Check(HmacKey(), h, kBody, std::nullopt).reason, "bad-timestamp") << ts;
  }
}

TEST(CheckTest, WithANowTheTimestampMustBeWithinFiveMinutes) {
  Headers h = Parsed(HeaderFile(kSignature));
  EXPECT_TRUE(Check(HmacKey(), h, kBody, kTimestamp + 300).ok());
  EXPECT_TRUE(Check(HmacKey(), h, kBody, kTimestamp - 300).ok());
  EXPECT_EQ(Check(HmacKey(), h, kBody, kTimestamp + 301).reason, "stale-timestamp");
  EXPECT_EQ(Check(HmacKey(), h, kBody, kTimestamp - 301).reason, "stale-timestamp");
}

// RunVerify end to end on files: the exit codes.
class RunVerifyTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = ::testing::TempDir() + "cli_verify_test_" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
};

TEST_F(RunVerifyTest, ExitCodes) {
  std::string headers = Write("headers", HeaderFile(kSignature));
  std::string body = Write("body", kBody);
  std::string tampered = Write("tampered", kBody + "\n");
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, headers, body), 0);
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, headers, tampered), 1);
  EXPECT_EQ(RunVerify(delivery::NewSecret(), std::nullopt, headers, body), 1);
  EXPECT_EQ(RunVerify(std::nullopt, std::nullopt, headers, body), 2);
  EXPECT_EQ(RunVerify(kSecret, "whpk_x", headers, body), 2);
  EXPECT_EQ(RunVerify("whsec_x", std::nullopt, headers, body), 2);
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, headers + ".absent", body), 2);
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, headers, ::testing::TempDir()), 2);  // a directory
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, Write("garbage", "not headers\n"), body), 2);
  EXPECT_EQ(RunVerify(kSecret, std::nullopt, Write("partial", "webhook-id: x\n"), body), 1);
}

}  // namespace
}  // namespace learnwire::cli
