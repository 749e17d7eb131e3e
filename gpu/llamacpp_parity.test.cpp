// Forward-pass parity with llama.cpp: tiny seeded F32 models of both architectures (model_builder),
// a few prompts, greedy decoding in our engine and in llama.cpp (test/llamacpp/generate.mjs, the
// prebuilt CPU llama.cpp of node-llama-cpp, run through node): the generated ids must be equal.
// Needs test/llamacpp/setup.sh to have run; fails (never skips) otherwise.
//
// Where the two may legitimately differ (see docs/engine.md, "Parity with llama.cpp"): llama.cpp
// rounds Q and the softmax probabilities to F16 inside attention (its F16 KV cache's dot products),
// we keep them f32; the logit differences are ~1e-4 relative, far below the top-2 gaps these
// prompts produce -- the test prints the gap wherever ids differ, to tell a near-tie from a bug.
#define BOOST_TEST_MODULE llamacpp_parity
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpu/engine_test_util.hpp"
#include "gpu/json_lite.hpp"

using namespace holo::gpu;
namespace fs = std::filesystem;
using ids = std::vector<std::int32_t>;

namespace {

const fs::path harness_dir = fs::path(HOLO_SOURCE_DIR) / "test" / "llamacpp";
constexpr int n_generate = 16;

test::temp_dir& dir() {
  static test::temp_dir d("llamacpp_parity");
  return d;
}

void require_harness() {
  if (!fs::exists(harness_dir / "node_modules" / "node-llama-cpp"))
    BOOST_FAIL("the llama.cpp harness is not installed: run " + (harness_dir / "setup.sh").string() +
               " (needs node >= 20 and the npm registry)");
}

std::string run_node(const std::string& args) {
  const fs::path err = dir().file("node.stderr");
  const std::string cmd =
      "node '" + (harness_dir / "greedy.mjs").string() + "' " + args + " 2>'" + err.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(p, "cannot run: " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  BOOST_REQUIRE_MESSAGE(rc == 0, "llama.cpp harness failed (" + cmd + "):\n" + ss.str());
  return out;
}

std::string flash_mode() {
  const char* f = std::getenv("HOLO_PARITY_FLASH_ATTN");
  return f ? f : "auto";  // llama.cpp's default; "off" takes its non-flash attention path
}

struct llamacpp_run {
  ids generated;
  std::vector<double> gap;  // per step: llama.cpp's top-1 minus top-2 logit
};

llamacpp_run llamacpp_greedy(const std::string& model_path, const ids& prompt) {
  std::string list;
  for (auto id : prompt) list += (list.empty() ? "" : ",") + std::to_string(id);
  const std::string out = run_node("'" + model_path + "' --prompt " + list + " --n " + std::to_string(n_generate) +
                                   " --threads 2 --ctx 256 --flash-attn " + flash_mode());
  auto doc = parse_json(out);
  BOOST_REQUIRE_MESSAGE(doc.ok(), "greedy.mjs printed no JSON: " + out);
  const json_value* gen = doc->find("generated");
  const json_value* top = doc->find("top");
  BOOST_REQUIRE(gen != nullptr && top != nullptr);
  llamacpp_run r;
  for (const auto& v : gen->items()) r.generated.push_back(static_cast<std::int32_t>(v.as_int64().value_or(-1)));
  for (const auto& step : top->items()) {
    const auto& c = step.items();
    r.gap.push_back(c.size() >= 2 ? c[0].items()[1].as_double() - c[1].items()[1].as_double()
                                  : 0.0);
  }
  return r;
}

// Our greedy ids, and at the first position where they differ from `want`, the gap between our
// top two logits there (a near-tie is not a bug).
std::string compare(const std::shared_ptr<model>& m, const ids& prompt, const llamacpp_run& ref, ids& got) {
  const ids& want = ref.generated;
  auto s = test::session_or_fail(m);
  got = test::greedy(*s, prompt, n_generate);
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size()) return "";
  auto s2 = test::session_or_fail(m);
  ids prefix = prompt;
  prefix.insert(prefix.end(), got.begin(), got.begin() + static_cast<std::ptrdiff_t>(i));
  auto l = s2->prefill(prefix);
  BOOST_REQUIRE(l.ok());
  const auto& v = *l;
  const auto a = static_cast<std::size_t>(got[i]), b = static_cast<std::size_t>(want[i]);
  std::ostringstream os;
  os << "first difference at generated token " << i << ": ours " << got[i] << " (logit " << v[a] << "), llama.cpp "
     << want[i] << " (our logit " << v[b] << "); llama.cpp's top-2 logit gap there "
     << (i < ref.gap.size() ? ref.gap[i] : -1.0);
  return os.str();
}

std::string show(const ids& v) {
  std::string o;
  for (auto id : v) o += std::to_string(id) + " ";
  return o;
}

// Both sides see the first differing step as a tie: llama.cpp's top-2 gap and our gap between our
// token and llama.cpp's are below this (logits here are O(1); F16 attention rounding moves them
// by ~1e-4).
constexpr double near_tie_logit_gap = 1e-3;

bool tie_gap_ok(const std::shared_ptr<model>& m, const ids& prompt, const llamacpp_run& ref, const ids& got) {
  std::size_t i = 0;
  while (i < got.size() && i < ref.generated.size() && got[i] == ref.generated[i]) ++i;
  if (i >= got.size() || i >= ref.gap.size()) return false;
  auto s = test::session_or_fail(m);
  ids prefix = prompt;
  prefix.insert(prefix.end(), got.begin(), got.begin() + static_cast<std::ptrdiff_t>(i));
  auto l = s->prefill(prefix);
  BOOST_REQUIRE(l.ok());
  const double ours = double((*l)[static_cast<std::size_t>(got[i])]) - double((*l)[static_cast<std::size_t>(ref.generated[i])]);
  return ref.gap[i] < near_tie_logit_gap && ours < near_tie_logit_gap;
}

void check_arch(model_arch arch) {
  require_harness();
  int full_matches = 0;
  for (std::uint64_t seed : {7u, 11u}) {
    auto spec = test::tiny_spec(arch, weight_mix::f32, seed);
    const auto path = test::build_tiny(dir(), spec);
    auto m = test::load_or_fail(path, "cpu", 2, 256);
    const tokenizer& tok = m->vocab();
    for (const std::string text : {"Once upon a time", "The quick brown fox jumps over the lazy dog.",
                                   "In a hole in the ground there lived"}) {
      ids prompt = tok.encode(text, true, false);
      BOOST_REQUIRE(!prompt.empty());
      const llamacpp_run ref = llamacpp_greedy(path, prompt);
      const ids& want = ref.generated;
      ids got;
      const std::string why = compare(m, prompt, ref, got);
      const std::string what = std::string(to_string(arch)) + " seed " + std::to_string(seed) + " \"" + text +
                               "\"\n  ours:      " + show(got) + "\n  llama.cpp: " + show(want) + "\n  " + why;
      if (got == want) {
        ++full_matches;
        continue;
      }
      // A near-tie: llama.cpp's own top-2 logits at the first differing step are within
      // near_tie_logit_gap, and so are ours for its token. F16 rounding inside llama.cpp's attention
      // decides those (docs/engine.md); after it the sequences are not comparable.
      const bool near_tie = tie_gap_ok(m, prompt, ref, got);
      BOOST_TEST_MESSAGE("near-tie divergence (accepted): " << what);
      BOOST_TEST(near_tie, what);
    }
  }
  // Near-ties are the exception: most prompts must match token for token.
  BOOST_TEST(full_matches >= 5, to_string(arch) << ": only " << full_matches << " of 6 prompts match in full");
}

}  // namespace

BOOST_AUTO_TEST_CASE(llama_greedy_ids_equal_llamacpp) { check_arch(model_arch::llama); }
BOOST_AUTO_TEST_CASE(qwen2_greedy_ids_equal_llamacpp) { check_arch(model_arch::qwen2); }
