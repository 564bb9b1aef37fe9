#include "domain/identity.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "store/store.h"

namespace learnwire::domain {
namespace {

using core::Code;

std::unique_ptr<store::Store> OpenMigrated() {
  auto opened = store::OpenMigratedSqlite({":memory:"});
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  return std::move(opened).value();
}

// ---------------------------------------------------------------------------------------------
// CheckEmail (API.md "Requests": email)

struct EmailCase {
  const char* name;
  std::string email;
};

TEST(CheckEmailTest, AcceptsValidAddresses) {
  const EmailCase kValid[] = {
      {"simple", "a@b.co"},
      {"unicode local part", "\xC3\xA9lodie.m\xC3\xBCller@example.org"},
      {"64-character local part", std::string(64, 'a') + "@example.com"},
      {"plus and dots", "first.last+tag@sub.example.io"},
      {"254 characters in all", std::string(64, 'a') + "@" + std::string(63, 'b') + "." +
                                    std::string(63, 'c') + "." + std::string(61, 'd')},
  };
  for (const auto& c : kValid) {
    EXPECT_EQ(CheckEmail(c.email), std::nullopt) << c.name << ": " << c.email;
  }
}

TEST(CheckEmailTest, RefusesInvalidAddresses) {
  const EmailCase kInvalid[] = {
      {"no @", "ab.co"},
      {"no dot in the domain", "a@localhost"},
      {"space in the local part", "a b@x.io"},
      {"quote in the local part", "a\"b@x.io"},
      {"65-character local part", std::string(65, 'a') + "@example.com"},
      {"255 characters in all", std::string(64, 'a') + "@" + std::string(63, 'b') + "." +
                                    std::string(63, 'c') + "." + std::string(62, 'd')},
      {"U+FFFD in the local part",
       "a\xEF\xBF\xBD"
       "b@x.io"},
      {"empty domain label", "a@b..c"},
      {"label starting with '-'", "a@-b.io"},
      {"label ending with '-'", "a@b-.io"},
      {"empty local part", "@x.io"},
      {"empty domain", "a@"},
      {"two @", "a@b@x.io"},
      {"control character in the local part",
       "a\x01"
       "b@x.io"},
      {"DEL in the local part",
       "a\x7f"
       "b@x.io"},
      {"trailing dot", "a@x.io."},
  };
  for (const auto& c : kInvalid) {
    EXPECT_NE(CheckEmail(c.email), std::nullopt) << c.name << ": " << c.email;
  }
}

// API.md: the local part has no control character; C1 controls (U+0080..U+009F) are control
// characters as much as C0 ones (HasControl in domain/common.h counts them).
TEST(CheckEmailTest, RefusesC1ControlCharacterInLocalPart) {
  EXPECT_NE(CheckEmail("a\xC2\x85"
                       "b@x.io"),
            std::nullopt);  // U+0085 NEXT LINE
  EXPECT_NE(CheckEmail("a\xC2\x9F"
                       "b@x.io"),
            std::nullopt);  // U+009F
}

// API.md: "the local part 1–64 characters" — characters, as every other length in the API
// (names count code points), not UTF-8 bytes.
TEST(CheckEmailTest, CountsLocalPartLengthInCharactersNotBytes) {
  std::string local;
  for (int i = 0; i < 64; ++i) {
    local += "\xC3\xA9";  // é: 2 bytes, 1 character
  }
  EXPECT_EQ(CheckEmail(local + "@example.com"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// API keys

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenMigrated();
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> core::Status {
                     LW_ASSIGN_OR_RETURN(CreatedOrganization org,
                                         CreateOrganization(tx, deps(), "Org", "a@b.io",
                                                            AdminSecret{"pw", "not-a-real-hash"}));
                     org_id_ = org.organization.id;
                     first_key_ = org.first_key;
                     return core::Status::Ok();
                   })
                    .ok());
  }

  Deps deps() { return {&ids_, &clock_}; }

  CreatedKey MakeKey(const std::set<Scope>& scopes = DefaultScopes(),
                     std::optional<int64_t> expires_at = std::nullopt) {
    CreatedKey out;
    core::Status st = db_->Write([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(out, CreateKey(tx, deps(), org_id_, "k", scopes, expires_at));
      return core::Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
  }

  core::Result<ApiKey> Auth(const std::string& presented) {
    std::optional<core::Result<ApiKey>> out;
    core::Status st = db_->Read([&](store::Tx& tx) -> core::Status {
      out.emplace(Authenticate(tx, clock_, presented));
      return core::Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return *out;
  }

  core::ManualClock clock_;
  core::IdGenerator ids_{clock_};
  std::unique_ptr<store::Store> db_;
  std::string org_id_;
  CreatedKey first_key_;
};

TEST_F(IdentityTest, CreatedKeyHasTheDocumentedShape) {
  CreatedKey k = MakeKey();
  static const std::regex kShape("lw_([0-9A-HJKMNP-TV-Z]{26})_[0-9A-Za-z]{43}");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(k.secret_key, m, kShape)) << k.secret_key;
  EXPECT_EQ(k.key.id, "key_" + m[1].str());
  EXPECT_TRUE(core::IsValidId(k.key.id, "key"));
}

TEST_F(IdentityTest, AuthenticateAcceptsACreatedKey) {
  CreatedKey k = MakeKey();
  auto r = Auth(k.secret_key);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, k.key.id);
  EXPECT_EQ(r->organization_id, org_id_);
}

TEST_F(IdentityTest, AuthenticateAcceptsTheOrganizationsFirstKeyWithAllScopes) {
  auto r = Auth(first_key_.secret_key);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->scopes, AllScopes());
}

TEST_F(IdentityTest, AuthenticateRefusesAWrongSecret) {
  CreatedKey k = MakeKey();
  std::string wrong = k.secret_key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(Auth(wrong).status().code(), Code::kUnauthenticated);
}

TEST_F(IdentityTest, AuthenticateRefusesAnUnknownKeyId) {
  CreatedKey k = MakeKey();
  // Same secret, another (never issued) id.
  std::string other = "lw_" + ids_.NewBody() + k.secret_key.substr(3 + core::kIdBodyLength);
  EXPECT_EQ(Auth(other).status().code(), Code::kUnauthenticated);
}

TEST_F(IdentityTest, AuthenticateRefusesMalformedKeys) {
  CreatedKey k = MakeKey();
  const std::string& good = k.secret_key;
  std::string lower_id = good;
  for (std::size_t i = 3; i < 3 + core::kIdBodyLength; ++i) {
    lower_id[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower_id[i])));
  }
  std::string non_crockford = good;
  non_crockford[5] = 'U';  // not in Crockford's alphabet
  std::string bad_separator = good;
  bad_separator[3 + core::kIdBodyLength] = '-';
  const std::string kMalformed[] = {
      "",
      "lw_",
      "Bearer " + good,
      "xx" + good.substr(2),
      good.substr(0, good.size() - 1),
      good + "A",
      " " + good,
      non_crockford,
      bad_separator,
      "key_" + k.key.id.substr(4),
  };
  for (const auto& text : kMalformed) {
    EXPECT_EQ(Auth(text).status().code(), Code::kUnauthenticated) << "'" << text << "'";
  }
  if (lower_id != good) {
    EXPECT_EQ(Auth(lower_id).status().code(), Code::kUnauthenticated) << lower_id;
  }
}

TEST_F(IdentityTest, AuthenticateRefusesARevokedKey) {
  CreatedKey k = MakeKey();
  ASSERT_TRUE(
      db_->Write([&](store::Tx& tx) { return RevokeKey(tx, deps(), org_id_, k.key.id); }).ok());
  EXPECT_EQ(Auth(k.secret_key).status().code(), Code::kUnauthenticated);
}

TEST_F(IdentityTest, AuthenticateAcceptsAKeyBeforeItExpires) {
  int64_t now = core::ToUnixMs(clock_.Now());
  CreatedKey k = MakeKey(DefaultScopes(), now + 60'000);
  clock_.Advance(std::chrono::milliseconds(59'999));
  EXPECT_TRUE(Auth(k.secret_key).ok());
}

TEST_F(IdentityTest, AuthenticateRefusesAnExpiredKey) {
  int64_t now = core::ToUnixMs(clock_.Now());
  CreatedKey k = MakeKey(DefaultScopes(), now + 60'000);
  clock_.Advance(std::chrono::milliseconds(60'001));
  EXPECT_EQ(Auth(k.secret_key).status().code(), Code::kUnauthenticated);
}

TEST_F(IdentityTest, AuthenticateRefusesAKeyOfADisabledOrganization) {
  CreatedKey k = MakeKey();
  ASSERT_TRUE(
      db_->Write([&](store::Tx& tx) { return SetOrganizationDisabled(tx, deps(), org_id_, true); })
          .ok());
  EXPECT_EQ(Auth(k.secret_key).status().code(), Code::kUnauthenticated);
}

TEST_F(IdentityTest, ScopesRoundTripThroughTheStore) {
  const std::set<Scope> kScopes[] = {
      {Scope::kRead}, {Scope::kWrite, Scope::kAdmin}, {Scope::kWebhooks}, AllScopes()};
  for (const auto& scopes : kScopes) {
    CreatedKey k = MakeKey(scopes);
    auto authed = Auth(k.secret_key);
    ASSERT_TRUE(authed.ok());
    EXPECT_EQ(authed->scopes, scopes);
    std::optional<ApiKey> got;
    ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                     LW_ASSIGN_OR_RETURN(got, GetKey(tx, org_id_, k.key.id));
                     return core::Status::Ok();
                   })
                    .ok());
    EXPECT_EQ(got->scopes, scopes);
  }
}

TEST_F(IdentityTest, StoredSecretHashIsNotTheSecret) {
  CreatedKey k = MakeKey();
  std::string secret = k.secret_key.substr(3 + core::kIdBodyLength + 1);
  std::string stored;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                   LW_ASSIGN_OR_RETURN(
                       store::Rows rows,
                       tx.Query("SELECT secret_hash FROM api_keys WHERE id = $1", {k.key.id}));
                   if (rows.empty()) {
                     return core::NotFound("no row");
                   }
                   stored = rows[0].Str("secret_hash");
                   return core::Status::Ok();
                 })
                  .ok());
  EXPECT_FALSE(stored.empty());
  EXPECT_EQ(stored.find(secret), std::string::npos);
  EXPECT_EQ(stored.find(k.secret_key), std::string::npos);
  EXPECT_TRUE(std::regex_match(stored, std::regex("[0-9a-f]{64}"))) << stored;
}

TEST_F(IdentityTest, ResetPasswordOfAnUnknownEmailIsNotFound) {
  core::Status st = db_->Write([&](store::Tx& tx) {
    return ResetPassword(tx, deps(), "nobody@b.io", AdminSecret{"pw", "h"});
  });
  EXPECT_EQ(st.code(), Code::kNotFound);
}

TEST_F(IdentityTest, ResetPasswordFindsTheUserWhateverTheCaseOfTheEmail) {
  core::Status st = db_->Write([&](store::Tx& tx) {
    return ResetPassword(tx, deps(), "A@B.IO", AdminSecret{"pw", "h2"});
  });
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(PasswordTest, VerifyAcceptsTheRightPasswordAndRefusesAWrongOne) {
  auto hash = HashPassword("correct horse battery staple");
  ASSERT_TRUE(hash.ok()) << hash.status().message();
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse battery staple"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horse battery stapl"));
}

}  // namespace
}  // namespace learnwire::domain
