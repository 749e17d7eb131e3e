#define BOOST_TEST_MODULE keys
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "runtime/keys.hpp"
#include "test/temp_dir.hpp"

namespace fs = std::filesystem;
using holo::status_code;
using holo::test::temp_dir;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  BOOST_REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void write_text(const fs::path& p, const std::string& s, mode_t mode) {
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << s;
  }
  BOOST_REQUIRE(::chmod(p.c_str(), mode) == 0);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

template <class T>
std::string why(const holo::result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().to_string();
}

// The test vector from the ZeroMQ Z85 spec (RFC 32) is too short for a key; this pair is libzmq's
// own test vector for zmq_curve_public (tests/test_security_curve.cpp).
const std::string rfc_secret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const std::string rfc_public = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

}  // namespace

BOOST_AUTO_TEST_CASE(generated_keys_are_valid_and_consistent) {
  auto kp = holo::generate_keypair();
  BOOST_REQUIRE_MESSAGE(kp.ok(), why(kp));
  BOOST_CHECK_EQUAL(kp->public_z85.size(), 40u);
  BOOST_CHECK_EQUAL(kp->secret_z85.size(), 40u);
  BOOST_CHECK(holo::valid_z85_key(kp->public_z85));
  BOOST_CHECK(holo::valid_z85_key(kp->secret_z85));
  auto pub = holo::public_from_secret(kp->secret_z85);
  BOOST_REQUIRE_MESSAGE(pub.ok(), why(pub));
  BOOST_CHECK_EQUAL(*pub, kp->public_z85);
  auto other = holo::generate_keypair();
  BOOST_REQUIRE(other.ok());
  BOOST_CHECK(other->secret_z85 != kp->secret_z85);
}

BOOST_AUTO_TEST_CASE(public_from_secret_matches_libzmq_vector) {
  auto pub = holo::public_from_secret(rfc_secret);
  BOOST_REQUIRE_MESSAGE(pub.ok(), why(pub));
  BOOST_CHECK_EQUAL(*pub, rfc_public);
  auto bad = holo::public_from_secret("short");
  BOOST_REQUIRE(!bad.ok());
  BOOST_CHECK(bad.error().code() == status_code::invalid_argument);
}

BOOST_AUTO_TEST_CASE(z85_validation_and_decoding) {
  BOOST_CHECK(holo::valid_z85_key(rfc_public));
  BOOST_CHECK(!holo::valid_z85_key(""));
  BOOST_CHECK(!holo::valid_z85_key(rfc_public.substr(0, 39)));
  BOOST_CHECK(!holo::valid_z85_key(rfc_public + "0"));
  BOOST_CHECK(!holo::valid_z85_key(std::string(39, '0') + " "));   // space is not Z85
  BOOST_CHECK(!holo::valid_z85_key(std::string(39, '0') + "\""));  // nor is a quote
  BOOST_CHECK(!holo::valid_z85_key(std::string(40, '#')));         // Z85 chars, but overflows 2^32
  BOOST_CHECK(holo::valid_z85_key(std::string(40, '0')));          // all-zero key decodes

  auto zero = holo::decode_key(std::string(40, '0'));
  BOOST_REQUIRE(zero.ok());
  for (auto b : *zero) BOOST_CHECK_EQUAL(b, 0);
  // "HelloWorld" is the RFC 32 test vector for the bytes 86 4F D2 6F B5 59 F7 5B.
  auto hello = holo::decode_key("HelloWorld" + std::string(30, '0'));
  BOOST_REQUIRE(hello.ok());
  const std::uint8_t want[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
  BOOST_CHECK_EQUAL_COLLECTIONS(hello->begin(), hello->begin() + 8, want, want + 8);
  BOOST_CHECK(holo::decode_key("abc").error().code() == status_code::invalid_argument);
}

BOOST_AUTO_TEST_CASE(write_then_read_key_files) {
  temp_dir d;
  auto kp = holo::generate_keypair();
  BOOST_REQUIRE(kp.ok());
  const std::string base = d.file("node");
  auto s = holo::write_keypair_files(base, *kp, false);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
  BOOST_CHECK_EQUAL(mode_of(base + ".key"), 0600u);
  BOOST_CHECK_EQUAL(mode_of(base + ".pub"), 0644u);
  BOOST_CHECK_EQUAL(read_text(base + ".key"), kp->secret_z85 + "\n");
  BOOST_CHECK_EQUAL(read_text(base + ".pub"), kp->public_z85 + "\n");
  auto sec = holo::read_secret_key_file(base + ".key");
  BOOST_REQUIRE_MESSAGE(sec.ok(), why(sec));
  BOOST_CHECK_EQUAL(*sec, kp->secret_z85);
}

BOOST_AUTO_TEST_CASE(secret_key_is_0600_even_with_a_permissive_umask) {
  temp_dir d;
  auto kp = holo::generate_keypair();
  BOOST_REQUIRE(kp.ok());
  mode_t old = ::umask(0);
  auto s = holo::write_keypair_files(d.file("n"), *kp, false);
  ::umask(old);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
  BOOST_CHECK_EQUAL(mode_of(d.file("n.key")), 0600u);
  BOOST_CHECK_EQUAL(mode_of(d.file("n.pub")), 0644u);
}

BOOST_AUTO_TEST_CASE(refuses_to_overwrite_without_force) {
  temp_dir d;
  auto first = holo::generate_keypair();
  auto second = holo::generate_keypair();
  BOOST_REQUIRE(first.ok() && second.ok());
  const std::string base = d.file("node");
  BOOST_REQUIRE(holo::write_keypair_files(base, *first, false).ok());

  auto s = holo::write_keypair_files(base, *second, false);
  BOOST_CHECK(s.code() == status_code::already_exists);
  BOOST_CHECK_MESSAGE(s.message().find(base + ".key") != std::string::npos, s.message());
  BOOST_CHECK(s.message().find("--force") != std::string::npos);
  BOOST_CHECK_EQUAL(read_text(base + ".key"), first->secret_z85 + "\n");  // untouched

  // Only the .pub existing is refused too, and no .key is left behind.
  fs::remove(base + ".key");
  s = holo::write_keypair_files(base, *second, false);
  BOOST_CHECK(s.code() == status_code::already_exists);
  BOOST_CHECK(!fs::exists(base + ".key"));

  // With overwrite: replaced, and a loose old mode does not survive.
  BOOST_REQUIRE(holo::write_keypair_files(base, *first, true).ok());
  BOOST_REQUIRE(::chmod((base + ".key").c_str(), 0644) == 0);
  s = holo::write_keypair_files(base, *second, true);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
  BOOST_CHECK_EQUAL(read_text(base + ".key"), second->secret_z85 + "\n");
  BOOST_CHECK_EQUAL(read_text(base + ".pub"), second->public_z85 + "\n");
  BOOST_CHECK_EQUAL(mode_of(base + ".key"), 0600u);
}

BOOST_AUTO_TEST_CASE(write_refuses_a_mismatched_pair) {
  temp_dir d;
  auto a = holo::generate_keypair();
  auto b = holo::generate_keypair();
  BOOST_REQUIRE(a.ok() && b.ok());
  holo::curve_keypair mixed{a->public_z85, b->secret_z85};
  auto s = holo::write_keypair_files(d.file("x"), mixed, false);
  BOOST_CHECK(s.code() == status_code::invalid_argument);
  BOOST_CHECK(!fs::exists(d.file("x.key")));
}

BOOST_AUTO_TEST_CASE(read_refuses_group_or_world_readable_files) {
  temp_dir d;
  const fs::path p = d.file("loose.key");
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601, 0610}) {
    write_text(p, rfc_secret + "\n", mode);
    auto r = holo::read_secret_key_file(p.string());
    BOOST_REQUIRE(!r.ok());
    BOOST_CHECK(r.error().code() == status_code::failed_precondition);
    BOOST_CHECK_MESSAGE(r.error().message().find("chmod 600 " + p.string()) != std::string::npos,
                        r.error().message());
  }
  write_text(p, rfc_secret + "\n", 0400);  // owner read-only is fine
  auto ok = holo::read_secret_key_file(p.string());
  BOOST_REQUIRE_MESSAGE(ok.ok(), why(ok));
  BOOST_CHECK_EQUAL(*ok, rfc_secret);
}

BOOST_AUTO_TEST_CASE(read_refuses_bad_content_and_non_files) {
  temp_dir d;
  const fs::path p = d.file("k.key");
  write_text(p, rfc_secret, 0600);  // no newline: fine
  BOOST_CHECK(holo::read_secret_key_file(p.string()).ok());

  for (const std::string& bad : {std::string(), rfc_secret + "\n\n", rfc_secret + " ", " " + rfc_secret,
                                 rfc_secret + "\r\n", rfc_secret.substr(1) + "\n",
                                 rfc_secret + "\n" + rfc_public + "\n", std::string(4096, 'a')}) {
    write_text(p, bad, 0600);
    auto r = holo::read_secret_key_file(p.string());
    BOOST_REQUIRE(!r.ok());
    BOOST_CHECK(r.error().code() == status_code::invalid_argument);
    BOOST_CHECK(r.error().message().find("40-character Z85") != std::string::npos);
  }

  auto missing = holo::read_secret_key_file(d.file("nope.key"));
  BOOST_REQUIRE(!missing.ok());
  BOOST_CHECK(missing.error().code() == status_code::not_found);

  BOOST_REQUIRE(::chmod(d.path().c_str(), 0700) == 0);
  auto dir = holo::read_secret_key_file(d.path());
  BOOST_REQUIRE(!dir.ok());
  BOOST_CHECK(dir.error().code() == status_code::invalid_argument);
  BOOST_CHECK(dir.error().message().find("not a regular file") != std::string::npos);

  const fs::path fifo = d.file("fifo.key");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = holo::read_secret_key_file(fifo.string());  // must not block
  BOOST_REQUIRE(!f.ok());
  BOOST_CHECK(f.error().message().find("not a regular file") != std::string::npos);
}
