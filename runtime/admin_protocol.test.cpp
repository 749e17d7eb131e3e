// The shell's frames (runtime/admin_protocol.hpp) and the admin key file (runtime/admin_key.hpp).
#define BOOST_TEST_MODULE admin_protocol
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "runtime/admin_key.hpp"
#include "runtime/admin_protocol.hpp"
#include "runtime/client_protocol.hpp"

using namespace holo;
using namespace holo::proto;

BOOST_AUTO_TEST_CASE(request_round_trip_and_access) {
  admin_request r{"kill", "k1", "n2", std::string(64, 'a'), {{"actor", "s:0"}}};
  auto back = decode_admin_request(encode_admin_request(r));
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->kind == "kill");
  BOOST_TEST(back->node == "n2");
  BOOST_TEST(back->admin_key == std::string(64, 'a'));
  BOOST_TEST(back->args.at("actor") == "s:0");
  BOOST_TEST(back->args.size() == 1u);
  auto hdr = decode_request_header(encode_admin_request(r));
  BOOST_REQUIRE(hdr.ok());
  BOOST_TEST(hdr->node == "n2");
  BOOST_TEST((access_of("kill") == access::admin));
  BOOST_TEST((access_of("backup") == access::admin));
  BOOST_TEST((access_of("trace") == access::read_only));
  BOOST_TEST((access_of("models") == access::open));
  BOOST_TEST((access_of("placement") == access::open));
  // An oversized argument is refused, not truncated.
  r.args["actor"] = std::string(admin_arg_bytes_max + 1, 'x');
  BOOST_TEST(!decode_admin_request(encode_admin_request(r)).ok());
  // The kill encoder carries the key only when given one.
  BOOST_TEST(decode_admin_request(encode_kill("k", "s:0")).value().admin_key.empty());
  BOOST_TEST(decode_admin_request(encode_kill("k", "s:0", "abc")).value().admin_key == "abc");
}

BOOST_AUTO_TEST_CASE(table_ok_and_error_replies) {
  table t{"n1", {"name", "restarts", "pct"}, {{std::string("s:0"), std::int64_t{2}, 12.5}, {std::string("router"), std::int64_t{0}, 0.0}}};
  auto r = decode_admin_reply(encode_table_reply("a1", "actors", t), "a1");
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->kind == "actors");
  BOOST_TEST(r->t.node == "n1");
  BOOST_TEST(r->t.rows.size() == 2u);
  BOOST_TEST(to_text(r->t.rows[0][0]) == "s:0");
  BOOST_TEST(std::get<std::int64_t>(r->t.rows[0][1]) == 2);
  BOOST_TEST(to_text(r->t.rows[0][2]) == "12.5");
  BOOST_TEST(!decode_admin_reply(encode_table_reply("a1", "actors", t), "a2").ok());  // another id

  auto ok = decode_admin_reply(encode_ok_detail("d1", "drain", "draining s:0 on n2"), "d1");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->kind == "ok");
  BOOST_TEST(ok->detail == "draining s:0 on n2");

  auto denied = decode_admin_reply(encode_error("x", status_code::permission_denied, "needs the key"), "x");
  BOOST_REQUIRE(!denied.ok());
  BOOST_TEST((denied.error().code() == status_code::permission_denied));
  BOOST_TEST(denied.error().message() == "needs the key");
  auto missing = decode_admin_reply(encode_error("x", status_code::not_found, "no"), "x");
  BOOST_TEST((missing.error().code() == status_code::not_found));
}

BOOST_AUTO_TEST_CASE(admin_key_file) {
  char tmpl[] = "/tmp/holo-admin-key-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl));
  const std::string dir = tmpl, path = dir + "/admin.key";
  auto key = generate_admin_key();
  BOOST_REQUIRE(key.ok());
  BOOST_TEST(key->size() == admin_key_hex_chars);
  BOOST_TEST(*key != generate_admin_key().value());
  BOOST_REQUIRE(write_admin_key_file(path, *key, false).ok());
  BOOST_TEST((write_admin_key_file(path, *key, false).code() == status_code::already_exists));
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(read_admin_key_file(path).value() == *key);
  ::chmod(path.c_str(), 0640);
  auto loose = read_admin_key_file(path);
  BOOST_TEST((loose.error().code() == status_code::failed_precondition));
  BOOST_TEST(loose.error().message().find("chmod 600") != std::string::npos);
  BOOST_TEST((read_admin_key_file(dir + "/none").error().code() == status_code::not_found));
  {
    std::ofstream f(dir + "/bad.key");
    f << "not a key\n";
  }
  ::chmod((dir + "/bad.key").c_str(), 0600);
  BOOST_TEST((read_admin_key_file(dir + "/bad.key").error().code() == status_code::invalid_argument));

  BOOST_TEST(admin_key_matches(*key, *key));
  auto other = *key;
  other.back() = other.back() == 'a' ? 'b' : 'a';
  BOOST_TEST(!admin_key_matches(other, *key));
  BOOST_TEST(!admin_key_matches("", *key));
  BOOST_TEST(!admin_key_matches(*key, ""));  // no key configured matches nothing
  BOOST_TEST(!admin_key_matches(key->substr(1), *key));
  std::remove(path.c_str());
  std::remove((dir + "/bad.key").c_str());
  ::rmdir(dir.c_str());
}
