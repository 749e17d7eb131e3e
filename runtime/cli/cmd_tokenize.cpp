// holo tokenize MODEL TEXT: the token ids a model's tokenizer gives TEXT (gpu/tokenizer.hpp).
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>

#include "gpu/gguf.hpp"
#include "gpu/ollama_store.hpp"
#include "gpu/vocab_loader.hpp"
#include "runtime/cli/commands.hpp"

namespace holo::cli {

namespace {

struct tokenize_args {
  std::string model;
  std::string text;
  bool no_bos = false;
  bool parse_special = false;
  bool pieces = false;
};

// Vocabulary text with control characters made visible, for --pieces.
std::string visible(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '\n') o += "\\n";
    else if (c == '\r') o += "\\r";
    else if (c == '\t') o += "\\t";
    else if (c < 0x20 || c == 0x7F) (o += "\\x") += {"0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]};
    else o += static_cast<char>(c);
  }
  return o;
}

int run(const tokenize_args& a) {
  auto path = gpu::resolve_model_path(a.model);
  if (!path) {
    std::cerr << "holo tokenize: " << path.error().to_string() << "\n";
    return path.error().code() == status_code::invalid_argument ? 2 : 1;
  }
  auto file = gpu::gguf_file::open(*path);
  if (!file) {
    std::cerr << "holo tokenize: " << file.error().to_string() << "\n";
    return 1;
  }
  auto tok = gpu::load_tokenizer(*file);
  if (!tok) {
    std::cerr << "holo tokenize: " << *path << ": " << tok.error().to_string() << "\n";
    return 1;
  }
  std::string text = a.text;
  if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), {});
  const auto ids = tok->encode(text, !a.no_bos, a.parse_special);
  if (a.pieces) {
    for (auto id : ids) std::cout << id << "\t" << visible(tok->token_text(id)) << "\n";
  } else {
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_tokenize(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<tokenize_args>();
  auto* sub = app.add_subcommand("tokenize", "Print the token ids a model's tokenizer gives a text");
  sub->footer(
      "MODEL is a GGUF file or ollama:NAME[:TAG] (a model pulled with Ollama, found in $OLLAMA_MODELS,\n"
      "~/.ollama/models or /usr/share/ollama/.ollama/models). BOS/EOS are added as the model says unless\n"
      "--no-bos. Special-token texts such as <|im_start|> are plain text unless --parse-special.\n"
      "Exit codes: 0 ok, 1 the model cannot be read, 2 usage error.\n"
      "Examples: holo tokenize /tmp/tiny.gguf 'Hello world'\n"
      "          holo tokenize ollama:qwen2:0.5b '<|im_start|>user' --parse-special --pieces\n"
      "          echo 'some text' | holo tokenize model.gguf - --no-bos");
  sub->add_option("model", a->model, "GGUF file or ollama:NAME[:TAG]")->required();
  sub->add_option("text", a->text, "Text to tokenize; - reads standard input")->required();
  sub->add_flag("--no-bos", a->no_bos, "Add no BOS/EOS");
  sub->add_flag("--parse-special", a->parse_special, "Recognise control-token texts in TEXT");
  sub->add_flag("--pieces", a->pieces, "One token per line: id, tab, its vocabulary text");
  reg.add(sub, [a] { return run(*a); });
}

}  // namespace holo::cli
