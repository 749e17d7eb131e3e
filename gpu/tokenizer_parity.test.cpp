// Tokenizer parity with llama.cpp: builds test models of each vocabulary family with model_builder,
// tokenizes tricky texts with our tokenizer and with llama.cpp (test/llamacpp/tokenize.mjs, run
// through node), and requires the same ids. Also shows that llama.cpp loads every weight type the
// builder writes. Needs test/llamacpp/setup.sh to have run; fails (never skips) otherwise.
#define BOOST_TEST_MODULE tokenizer_parity
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/json_lite.hpp"
#include "gpu/model_builder.hpp"
#include "gpu/vocab_loader.hpp"
#include "test/temp_dir.hpp"

using namespace holo::gpu;
using holo::test::temp_dir;
namespace fs = std::filesystem;
using ids = std::vector<std::int32_t>;

namespace {

const fs::path harness_dir = fs::path(HOLO_SOURCE_DIR) / "test" / "llamacpp";

void require_harness() {
  if (!fs::exists(harness_dir / "node_modules" / "node-llama-cpp"))
    BOOST_FAIL("the llama.cpp harness is not installed: run " + (harness_dir / "setup.sh").string() +
               " (needs node >= 20 and the npm registry)");
}

std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

// Runs `node SCRIPT ARGS`, returns stdout; fails the test with stderr when it exits non-zero.
std::string run_node(const std::string& script, const std::string& args, const fs::path& tmp) {
  const fs::path err = tmp / "node.stderr";
  const std::string cmd = "node '" + (harness_dir / script).string() + "' " + args + " 2>'" + err.string() + "'";
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

ids to_ids(const json_value& a) {
  ids out;
  for (const auto& v : a.items()) out.push_back(static_cast<std::int32_t>(v.as_int64().value_or(-1)));
  return out;
}

std::string show(const tokenizer& t, const ids& v) {
  std::string o;
  for (auto id : v) o += std::to_string(id) + "'" + t.token_text(id) + "' ";
  return o;
}

const std::vector<std::string> texts = {
    "Hello world",
    " Hello world",
    "  two leading spaces",
    "trailing space ",
    "multiple   spaces   inside",
    "   ",
    " ",
    "a",
    "\n",
    "line1\nline2\n\nline4\n",
    "\ttab\tseparated\t",
    "windows\r\nline endings\r\n",
    "digits 1234567890 and 3.14159",
    "1,000,000 and 2024-05-06 and 12:30",
    "caf\xC3\xA9 na\xC3\xAFve \xC3\xBC" "ber jalape\xC3\xB1o",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",  // 日本語のテキスト
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80",                    // Привет мир
    "emoji \xF0\x9F\x99\x82\xF0\x9F\x91\x8D\xF0\x9F\x9A\x80 \xE2\x9D\xA4\xEF\xB8\x8F",               // 🙂👍🚀 ❤️
    "family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",              // ZWJ sequence
    "I'm sure you'll see we've done what they'd wanted; IT'S DON'T",
    "<s>hello</s> <unk>",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nhello [/INST]",
    "The quick brown fox jumps over the lazy dog.",
    "def main():\n    print(\"Hello, world!\")\n    return 0\n",
    "x=1+2*3; y = x/4 - 5 != 6 && z || !w",
    "\xC2\xBD \xC2\xB2 \xE2\x85\xAB \xC7\x85",  // ½ ² Ⅻ ǅ
    "hello\xC2\xA0world",                          // NBSP
    "!!!???... ---",
    "www.example.com/path?q=1&r=2#frag",
    "[PAD700] <0x0A>",
    "\xE2\x96\x81" "already" "\xE2\x96\x81" "escaped",  // ▁ in the input
};

struct parity_result {
  int compared = 0;
  int mismatched = 0;
};

void check_model(const model_spec& spec, const fs::path& tmp, const std::string& label) {
  const fs::path model = tmp / (label + ".gguf");
  auto built = build_model(spec, model.string());
  BOOST_REQUIRE_MESSAGE(built.ok(), (built.ok() ? std::string() : built.error().to_string()));
  auto file = gguf_file::open(model.string());
  BOOST_REQUIRE(file.ok());
  auto tok = load_tokenizer(*file);
  BOOST_REQUIRE_MESSAGE(tok.ok(), (tok.ok() ? std::string() : tok.error().to_string()));

  const fs::path texts_file = tmp / (label + ".json");
  {
    std::ofstream out(texts_file);
    out << "[";
    for (std::size_t i = 0; i < texts.size(); ++i) out << (i ? "," : "") << json_quote(texts[i]);
    out << "]";
  }
  const std::string out = run_node("tokenize.mjs", "'" + model.string() + "' --texts '" + texts_file.string() + "'", tmp);
  json_limits limits;
  limits.document_bytes_max = 1 << 24;
  limits.elements_max = 1 << 20;
  auto doc = parse_json(out, limits);
  BOOST_REQUIRE_MESSAGE(doc.ok(), "harness output is not JSON: " + out.substr(0, 200));
  const json_value* plain = doc->find("plain");
  const json_value* special = doc->find("special");
  BOOST_REQUIRE(plain && special && plain->items().size() == texts.size() && special->items().size() == texts.size());
  BOOST_TEST(doc->find("bos")->as_int64().value_or(-1) == tok->bos_id());
  BOOST_TEST(doc->find("eos")->as_int64().value_or(-1) == tok->eos_id());

  for (std::size_t i = 0; i < texts.size(); ++i) {
    for (bool parse_special : {false, true}) {
      const ids want = to_ids((parse_special ? special : plain)->items()[i]);
      const ids got = tok->encode(texts[i], false, parse_special);
      BOOST_TEST_CONTEXT(label << " text #" << i << " " << json_quote(texts[i]) << " parse_special=" << parse_special) {
        BOOST_TEST(got == want, "holo:      " << show(*tok, got) << "\nllama.cpp: " << show(*tok, want));
      }
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(harness_is_installed) { require_harness(); }

BOOST_AUTO_TEST_CASE(spm_llama) {
  require_harness();
  temp_dir tmp;
  model_spec spec;
  spec.vocab = vocab_kind::spm;
  spec.weights = weight_mix::q8_0;
  check_model(spec, tmp.path(), "spm_llama");
}

BOOST_AUTO_TEST_CASE(bpe_llama3) {
  require_harness();
  temp_dir tmp;
  model_spec spec;
  spec.vocab = vocab_kind::bpe;
  spec.weights = weight_mix::q8_0;
  check_model(spec, tmp.path(), "bpe_llama");
}

BOOST_AUTO_TEST_CASE(bpe_qwen2) {
  require_harness();
  temp_dir tmp;
  model_spec spec;
  spec.arch = model_arch::qwen2;
  spec.vocab = vocab_kind::bpe;
  spec.weights = weight_mix::q8_0;
  spec.tied_output = true;
  check_model(spec, tmp.path(), "bpe_qwen2");
}

BOOST_AUTO_TEST_CASE(spm_large_vocab) {  // 32000 tokens: learnt pieces up to the cap, then [PAD]s
  require_harness();
  temp_dir tmp;
  model_spec spec;
  spec.vocab = vocab_kind::spm;
  spec.n_vocab = 32000;
  spec.n_embd = 64, spec.n_head = 2, spec.n_head_kv = 1, spec.n_ff = 128, spec.n_layer = 1;
  spec.weights = weight_mix::f16;
  check_model(spec, tmp.path(), "spm_32k");
}

// llama.cpp loads every weight type the builder writes, and runs them: greedy decoding yields n ids.
BOOST_AUTO_TEST_CASE(llama_cpp_loads_and_runs_every_weight_type) {
  require_harness();
  temp_dir tmp;
  for (auto mix : {weight_mix::f32, weight_mix::f16, weight_mix::bf16, weight_mix::q8_0, weight_mix::q4_0,
                   weight_mix::q4_k, weight_mix::q5_k, weight_mix::q6_k, weight_mix::q4_k_m, weight_mix::q5_k_m}) {
    const auto arch = static_cast<int>(mix) % 2 ? model_arch::qwen2 : model_arch::llama;  // both, alternately
    {
      BOOST_TEST_CONTEXT(to_string(mix) << " " << to_string(arch)) {
        model_spec spec;
        spec.weights = mix;
        spec.arch = arch;
        spec.vocab = arch == model_arch::qwen2 ? vocab_kind::bpe : vocab_kind::spm;
        spec.n_vocab = 600;
        const fs::path model = tmp.file("m.gguf");
        BOOST_REQUIRE(build_model(spec, model.string()).ok());
        const std::string out = run_node("generate.mjs", "'" + model.string() + "' --prompt 1,2,3,4 --n 4 --ctx 64", tmp.path());
        auto doc = parse_json(out);
        BOOST_REQUIRE_MESSAGE(doc.ok(), "generate.mjs output is not JSON: " + out);
        BOOST_TEST(doc->find("generated")->items().size() == 4u);
      }
    }
  }
}
