#include "http/client_address.h"

#include <gtest/gtest.h>

namespace learnwire::http {
namespace {

std::vector<core::Cidr> Trusted() { return {*core::ParseCidr("10.0.0.0/8")}; }

Request From(std::string peer, std::vector<std::string> xff = {}) {
  Request r;
  r.remote_addr = std::move(peer);
  for (auto& v : xff) {
    r.headers.emplace("x-forwarded-for", v);
  }
  return r;
}

TEST(ClientAddressTest, AnUntrustedPeerIsTheClientWhateverItForwards) {
  EXPECT_EQ(ClientAddress(From("203.0.113.9", {"198.51.100.1"}), Trusted()), "203.0.113.9");
}

TEST(ClientAddressTest, ATrustedProxyNamesTheClient) {
  EXPECT_EQ(ClientAddress(From("10.0.0.2", {"198.51.100.1"}), Trusted()), "198.51.100.1");
}

TEST(ClientAddressTest, TrustedHopsAreSkippedRightToLeft) {
  EXPECT_EQ(ClientAddress(From("10.0.0.2", {"6.6.6.6, 198.51.100.1, 10.1.1.1"}), Trusted()),
            "198.51.100.1");
  EXPECT_EQ(ClientAddress(From("10.0.0.2", {"6.6.6.6", "198.51.100.1"}), Trusted()),
            "198.51.100.1");
}

TEST(ClientAddressTest, GarbageInTheHeaderStopsTheWalk) {
  EXPECT_EQ(ClientAddress(From("10.0.0.2", {"198.51.100.1, nonsense"}), Trusted()), "10.0.0.2");
}

TEST(ClientAddressTest, NoTrustedProxiesMeansThePeer) {
  EXPECT_EQ(ClientAddress(From("10.0.0.2", {"198.51.100.1"}), {}), "10.0.0.2");
}

}  // namespace
}  // namespace learnwire::http
