// Backup archive format: round trips, every single-bit flip detected, wrong key, truncation, canary
// never in the archive bytes; the key file rules.
#define BOOST_TEST_MODULE backup_archive
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "persistence/backup_archive.hpp"
#include "persistence/backup_key.hpp"
#include "test/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace holo::persistence;
using holo::test::temp_dir;
using bytes = std::vector<std::uint8_t>;

namespace {

void write_file(const std::string& p, const bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
bytes read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(f), {});
}

backup_key fixed_key(std::uint8_t seed) {
  std::array<std::uint8_t, backup_key_bytes> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return backup_key(k);
}

bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

// Text-like rows: compresses well, like a database does.
bytes structured_bytes(std::size_t n, const std::string& canary = "") {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i)
    s += "row " + std::to_string(i) + " | request-" + std::to_string(i * 7919 % 10007) + " | tokens=" +
         std::to_string(i % 97) + " | " + canary + "\n";
  s.resize(n);
  return bytes(s.begin(), s.end());
}

bytes decrypt_to_memory(const std::string& archive, const backup_key& key, holo::status* err = nullptr) {
  bytes out;
  auto r = read_archive(archive, key, [&](const std::uint8_t* p, std::size_t n) {
    out.insert(out.end(), p, p + n);
    return holo::ok_status();
  });
  if (!r && err) *err = r.error();
  if (!r) BOOST_TEST_MESSAGE("read_archive: " + r.error().to_string());
  return r ? out : bytes{};
}

bool contains(const bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_of_random_structured_empty_and_multi_chunk_data) {
  temp_dir d;
  const auto key = fixed_key(1);
  struct input {
    std::string what;
    bytes data;
    std::uint32_t chunk_bytes;
  };
  const std::vector<input> inputs = {
      {"empty", {}, archive_chunk_bytes_default},
      {"one byte", {0x42}, archive_chunk_bytes_default},
      {"random 1 KiB - 1, 1 KiB chunks", random_bytes(1023, 1), 1024},
      {"random 1 KiB, 1 KiB chunks", random_bytes(1024, 2), 1024},
      {"random 200 KiB + 7, 64 KiB chunks", random_bytes(200 * 1024 + 7, 3), archive_chunk_bytes_default},
      {"random 3 MiB, 1 MiB chunks", random_bytes(3 * 1024 * 1024, 4), archive_chunk_bytes_max},
      {"structured 2 MiB, 1 KiB chunks", structured_bytes(2 * 1024 * 1024), 1024},
  };
  int n = 0;
  for (const auto& in : inputs) {
    BOOST_TEST_CONTEXT(in.what) {
      const std::string src = d.file("src" + std::to_string(n)), arc = d.file("arc" + std::to_string(n++));
      write_file(src, in.data);
      archive_options o;
      o.chunk_bytes = in.chunk_bytes;
      o.created_unix_seconds = 1700000000;
      auto w = write_archive(src, arc, key, o);
      BOOST_REQUIRE_MESSAGE(w.ok(), (w ? "" : w.error().to_string()));
      BOOST_TEST(w->plaintext_bytes == in.data.size());
      BOOST_TEST(w->archive_bytes == fs::file_size(arc));
      BOOST_TEST(((fs::status(arc).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write)));
      const bytes back = decrypt_to_memory(arc, key);
      BOOST_TEST((back == in.data));
      auto h = read_archive_header(arc);
      BOOST_REQUIRE(h.ok());
      BOOST_TEST(h->created_unix_seconds == 1700000000);
      BOOST_TEST(h->plaintext_bytes == in.data.size());
      BOOST_TEST(h->chunk_bytes == in.chunk_bytes);
      BOOST_TEST((h->key_id == key.key_id()));
      BOOST_TEST((h->plaintext_digest == w->plaintext_digest));
      auto v = verify_archive(arc, key);
      BOOST_REQUIRE(v.ok());
      BOOST_TEST(v->chunks == w->chunks);
      if (in.data.size() > 3 * in.chunk_bytes && in.what.rfind("random", 0) == 0) BOOST_TEST(w->chunks > 3u);
      // extract_archive writes the same bytes to a file.
      auto x = extract_archive(arc, key, d.file("out" + std::to_string(n)));
      BOOST_REQUIRE(x.ok());
      BOOST_TEST((read_file(d.file("out" + std::to_string(n))) == in.data));
    }
  }
  // An existing archive is never overwritten.
  write_file(d.file("again"), {1, 2, 3});
  auto again = write_archive(d.file("again"), d.file("arc0"), key);
  BOOST_REQUIRE(!again.ok());
  BOOST_TEST((again.error().code() == holo::status_code::already_exists));
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_detected) {
  temp_dir d;
  const auto key = fixed_key(2);
  bytes data = structured_bytes(40 * 1024);
  const bytes noise = random_bytes(24 * 1024, 9);
  data.insert(data.end(), noise.begin(), noise.end());
  write_file(d.file("src"), data);
  archive_options o;
  o.chunk_bytes = 2048;  // many chunks, so flips land in lengths, bodies and tags of several
  auto w = write_archive(d.file("src"), d.file("arc"), key, o);
  BOOST_REQUIRE(w.ok());
  BOOST_TEST_MESSAGE("archive " << w->archive_bytes << " bytes in " << w->chunks << " chunks");
  BOOST_REQUIRE(w->chunks >= 10u);
  const bytes good = read_file(d.file("arc"));
  std::mt19937_64 rng(12345);
  int detected = 0, in_header = 0, in_last_tag = 0;
  for (int i = 0; i < 1000; ++i) {
    std::size_t pos;
    if (i < 150) pos = rng() % archive_header_bytes;                 // header fields
    else if (i < 200) pos = good.size() - 1 - rng() % 21;            // final chunk: length, tag
    else pos = rng() % good.size();                                  // anywhere
    const int bit = static_cast<int>(rng() % 8);
    bytes bad = good;
    bad[pos] ^= static_cast<std::uint8_t>(1u << bit);
    write_file(d.file("flipped"), bad);
    holo::status err;
    auto r = read_archive(d.file("flipped"), key, nullptr);
    if (!r.ok()) {
      ++detected;
      in_header += pos < archive_header_bytes;
      in_last_tag += pos >= good.size() - 17;
      // Never mistaken for success, never a crash; a flip is damage, not a wrong key (the header
      // checksum guards the key id field).
      const auto code = r.error().code();
      BOOST_CHECK_MESSAGE(code == holo::status_code::data_loss || code == holo::status_code::invalid_argument ||
                              code == holo::status_code::unimplemented,
                          "byte " << pos << " bit " << bit << ": " << r.error().to_string());
    } else {
      BOOST_ERROR("flip at byte " << pos << " bit " << bit << " was not detected");
    }
  }
  BOOST_TEST(detected == 1000);
  BOOST_TEST(in_header >= 150);
  BOOST_TEST(in_last_tag > 0);
  // And the unflipped archive still reads, so the detections were not an artefact.
  BOOST_TEST((decrypt_to_memory(d.file("arc"), key) == data));
}

BOOST_AUTO_TEST_CASE(wrong_key_is_refused_as_wrong_key) {
  temp_dir d;
  write_file(d.file("src"), structured_bytes(100000));
  BOOST_REQUIRE(write_archive(d.file("src"), d.file("arc"), fixed_key(3)).ok());
  auto r = verify_archive(d.file("arc"), fixed_key(4));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message().rfind("wrong key", 0) == 0, r.error().message());
  BOOST_TEST((r.error().code() == holo::status_code::failed_precondition));
  BOOST_TEST(r.error().message().find(key_id_hex(fixed_key(3).key_id())) != std::string::npos);
  // extract leaves no file behind.
  auto x = extract_archive(d.file("arc"), fixed_key(4), d.file("out"));
  BOOST_REQUIRE(!x.ok());
  BOOST_TEST(!fs::exists(d.file("out")));
}

BOOST_AUTO_TEST_CASE(truncation_is_detected_at_every_kind_of_point) {
  temp_dir d;
  const auto key = fixed_key(5);
  write_file(d.file("src"), random_bytes(20000, 7));
  archive_options o;
  o.chunk_bytes = 4096;
  auto w = write_archive(d.file("src"), d.file("arc"), key, o);
  BOOST_REQUIRE(w.ok());
  const bytes good = read_file(d.file("arc"));
  // Chunk boundaries: the header, then each record 4 + 4096 + 17 bytes (the last shorter).
  std::vector<std::size_t> cuts = {0, 3, 8, 60, 119, 120, 121, 123, 124, 200};
  for (std::size_t at = archive_header_bytes; at < good.size(); at += 4 + 4096 + 17) cuts.push_back(at);
  for (std::size_t back : {1, 2, 16, 17, 18, 21, 22}) cuts.push_back(good.size() - back);
  for (std::size_t cut : cuts) {
    BOOST_TEST_CONTEXT("cut at " << cut << " of " << good.size()) {
      write_file(d.file("cut"), bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
      auto r = verify_archive(d.file("cut"), key);
      BOOST_REQUIRE(!r.ok());
      if (cut >= 8 && cut != 120)  // shorter than the magic is "not an archive"
        BOOST_TEST(r.error().message().find("truncated") != std::string::npos, r.error().message());
    }
  }
  // Cut exactly after the header: no chunk at all.
  write_file(d.file("cut"), bytes(good.begin(), good.begin() + archive_header_bytes));
  auto r = verify_archive(d.file("cut"), key);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message().find("truncated") != std::string::npos, r.error().message());
  // Bytes appended after the final chunk are refused too.
  bytes longer = good;
  longer.push_back(0);
  write_file(d.file("longer"), longer);
  auto l = verify_archive(d.file("longer"), key);
  BOOST_REQUIRE(!l.ok());
  BOOST_TEST(l.error().message().find("after the final chunk") != std::string::npos, l.error().message());
}

BOOST_AUTO_TEST_CASE(a_canary_in_the_data_never_appears_in_the_archive) {
  temp_dir d;
  const std::string canary = "CANARY-5f1e0c2b-holobionte-secret";
  bytes data;
  for (int i = 0; i < 5000; ++i) data.insert(data.end(), canary.begin(), canary.end());
  const bytes mixed = structured_bytes(300000, canary);
  data.insert(data.end(), mixed.begin(), mixed.end());
  write_file(d.file("src"), data);
  BOOST_REQUIRE(contains(read_file(d.file("src")), canary));
  for (int level : {1, 3, 19}) {
    archive_options o;
    o.zstd_level = level;
    const std::string arc = d.file("arc" + std::to_string(level));
    BOOST_REQUIRE(write_archive(d.file("src"), arc, fixed_key(6), o).ok());
    const bytes a = read_file(arc);
    BOOST_TEST(!contains(a, canary));
    BOOST_TEST(!contains(a, "CANARY"));
    BOOST_TEST(a.size() < data.size() / 4, "compressed: " << a.size() << " of " << data.size());
  }
}

BOOST_AUTO_TEST_CASE(other_files_and_versions_are_refused_clearly) {
  temp_dir d;
  const auto key = fixed_key(7);
  write_file(d.file("junk"), random_bytes(5000, 3));
  auto j = verify_archive(d.file("junk"), key);
  BOOST_REQUIRE(!j.ok());
  BOOST_TEST(j.error().message().find("not a Holobionte backup archive") != std::string::npos);
  write_file(d.file("src"), structured_bytes(5000));
  BOOST_REQUIRE(write_archive(d.file("src"), d.file("arc"), key).ok());
  bytes a = read_file(d.file("arc"));
  a[8] = 2;  // format_version 2
  write_file(d.file("v2"), a);
  auto v = verify_archive(d.file("v2"), key);
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.error().message().find("unsupported archive format version 2") != std::string::npos);
  auto h = read_archive_header(d.file("v2"));
  BOOST_TEST(!h.ok());
  BOOST_TEST(!verify_archive(d.file("missing"), key).ok());
}

BOOST_AUTO_TEST_CASE(key_files_are_made_private_and_refused_when_open_to_others) {
  temp_dir d;
  auto k = generate_backup_key();
  BOOST_REQUIRE(k.ok());
  BOOST_REQUIRE(write_backup_key_file(d.file("k"), *k, false).ok());
  BOOST_TEST(((fs::status(d.file("k")).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write)));
  BOOST_TEST(fs::file_size(d.file("k")) == 65u);
  auto back = read_backup_key_file(d.file("k"));
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((back->key_id() == k->key_id()));
  BOOST_TEST(std::equal(back->data(), back->data() + backup_key_bytes, k->data()));
  // No overwrite without asking; a second key differs.
  auto again = write_backup_key_file(d.file("k"), *k, false);
  BOOST_TEST((!again.ok() && again.code() == holo::status_code::already_exists));
  auto k2 = generate_backup_key();
  BOOST_TEST((k2->key_id() != k->key_id()));
  // Group- or world-readable: refused like ssh refuses such a key, with the fix in the message.
  ::chmod((d.file("k")).c_str(), 0640);
  auto open = read_backup_key_file(d.file("k"));
  BOOST_REQUIRE(!open.ok());
  BOOST_TEST((open.error().code() == holo::status_code::failed_precondition));
  BOOST_TEST(open.error().message().find("chmod 600") != std::string::npos);
  ::chmod((d.file("k")).c_str(), 0604);
  BOOST_TEST(!read_backup_key_file(d.file("k")).ok());
  // Base64 is accepted; junk is not.
  {
    std::ofstream f(d.file("b64"));
    f << "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
  }
  ::chmod((d.file("b64")).c_str(), 0600);
  auto b = read_backup_key_file(d.file("b64"));
  BOOST_REQUIRE_MESSAGE(b.ok(), (b ? "" : b.error().to_string()));
  BOOST_TEST(b->data()[31] == 31);
  {
    std::ofstream f(d.file("bad"));
    f << "not a key\n";
  }
  ::chmod((d.file("bad")).c_str(), 0600);
  BOOST_TEST(!read_backup_key_file(d.file("bad")).ok());
  BOOST_TEST((read_backup_key_file(d.file("none")).error().code() == holo::status_code::not_found));
}
