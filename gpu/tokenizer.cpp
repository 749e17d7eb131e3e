#include "gpu/tokenizer.hpp"

#include <algorithm>
#include <bit>
#include <utility>

#include "gpu/tokenizer_state.hpp"
#include "gpu/unicode.hpp"

namespace holo::gpu {
namespace {

using detail::tokenizer_state;

// Limits on what a vocabulary may hold; real ones are ~50k-260k tokens of a few bytes.
constexpr std::size_t tokens_max = 1u << 22;
constexpr std::size_t token_bytes_max = 1u << 16;
// All token texts together (pieces take at most as much again): token_entry's 32-bit offsets.
constexpr std::size_t vocab_bytes_max = 1u << 30;

const std::string_view escaped_space = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Texts that end generation when present, whatever ids the metadata names (llama.cpp does the same
// to cover converters that only set eos_token_id).
constexpr std::string_view eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>"};

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  for (std::size_t pos = 0;;) {
    const std::size_t hit = s.find(from, pos);
    out.append(s.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
    if (hit == std::string_view::npos) return out;
    out.append(to);
    pos = hit + from.size();
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xE2>" -> 0xE2; -1 if `t` is not of that form.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

status check_id(const std::optional<std::int32_t>& id, const char* name, std::size_t n) {
  if (id && (*id < 0 || static_cast<std::size_t>(*id) >= n)) {
    return status::invalid_argument(std::string(name) + " = " + std::to_string(*id) +
                                    " is outside the vocabulary of " + std::to_string(n) + " tokens");
  }
  return ok_status();
}

result<pretokenizer_kind> pre_from_name(const std::string& pre, bool& ignore_merges,
                                        bool& add_bos_default) {
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "dbrx" ||
      pre == "smaug-bpe") {
    ignore_merges = pre != "dbrx" && pre != "smaug-bpe";
    add_bos_default = ignore_merges;
    return pretokenizer_kind::llama3;
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2" || pre == "megrez") {
    return pretokenizer_kind::qwen2;
  }
  // llama.cpp's "default" (also used when the key is missing) runs extra splits before the GPT-2
  // pattern (punctuation runs, digit triples); we use the GPT-2 pattern alone there.
  if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2" || pre == "phi-2" ||
      pre == "mpt" || pre == "olmo") {
    return pretokenizer_kind::gpt2;
  }
  return status::unimplemented("BPE pre-tokenizer '" + pre +
                               "' is not supported (supported: llama3/llama-bpe, qwen2, gpt-2, "
                               "default)");
}

// Sizes, types and texts of the token list; fills s.tokens and s.id_slots.
status load_tokens(vocab_data& d, tokenizer_state& s) {
  const std::size_t n = d.tokens.size();
  if (n == 0) return status::invalid_argument("the vocabulary has no tokens");
  if (n > tokens_max) return status::invalid_argument("more than tokens_max tokens");
  if (!d.scores.empty() && d.scores.size() != n) {
    return status::invalid_argument("scores has " + std::to_string(d.scores.size()) +
                                    " entries for " + std::to_string(n) + " tokens");
  }
  if (!d.token_types.empty() && d.token_types.size() != n) {
    return status::invalid_argument("token_type has " + std::to_string(d.token_types.size()) +
                                    " entries for " + std::to_string(n) + " tokens");
  }
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::string& t = d.tokens[i];
    if (t.empty()) t = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp names them
    if (t.size() > token_bytes_max) {
      return status::invalid_argument("token " + std::to_string(i) + " is longer than token_bytes_max");
    }
    bytes += t.size();
  }
  if (bytes > vocab_bytes_max) return status::invalid_argument("token texts beyond vocab_bytes_max");
  s.tokens.resize(n);
  s.chars.reserve(2 * bytes);  // the texts, then the pieces (build_tables), each no longer than its text
  s.id_slots.assign(std::bit_ceil(2 * n), -1);
  for (std::size_t i = 0; i < n; ++i) {
    detail::token_entry& e = s.tokens[i];
    e.text_at = static_cast<std::uint32_t>(s.chars.size());
    e.text_bytes = static_cast<std::uint32_t>(d.tokens[i].size());
    s.chars += d.tokens[i];
    const std::string_view text = s.text(static_cast<std::int32_t>(i));
    e.score = d.scores.empty() ? 0.0f : d.scores[i];
    const std::int32_t t = d.token_types.empty() ? 1 : d.token_types[i];
    if (t < 0 || t > 6) {
      return status::invalid_argument("token " + std::to_string(i) + " has unknown type " +
                                      std::to_string(t));
    }
    e.type = t == 0 ? token_type::normal : static_cast<token_type>(t);
    if (e.type == token_type::byte && parse_byte_token(text) < 0) {
      return status::invalid_argument("byte token " + std::to_string(i) + " is not of the form <0xXX>");
    }
    if (const std::int32_t first = s.index_token(static_cast<std::int32_t>(i)); first >= 0) {
      return status::invalid_argument("duplicate token text at ids " + std::to_string(first) + " and " +
                                      std::to_string(i));
    }
  }
  return ok_status();
}

status load_merges(const vocab_data& d, tokenizer_state& s) {
  s.merge_ranks.reserve(d.merges.size());
  for (std::size_t i = 0; i < d.merges.size(); ++i) {
    const std::string& m = d.merges[i];
    // Split at the first space after the first byte, as llama.cpp does.
    const std::size_t sp = m.size() < 2 ? std::string::npos : m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size()) {
      return status::invalid_argument("merge " + std::to_string(i) + " is not of the form 'left right'");
    }
    // The first occurrence keeps its (better) rank.
    s.merge_ranks.emplace(m, static_cast<std::int32_t>(i));
  }
  return ok_status();
}

status load_specials(const vocab_data& d, tokenizer_state& s) {
  const std::size_t n = s.tokens.size();
  HOLO_TRY(check_id(d.bos_token_id, "bos_token_id", n));
  HOLO_TRY(check_id(d.eos_token_id, "eos_token_id", n));
  HOLO_TRY(check_id(d.eot_token_id, "eot_token_id", n));
  HOLO_TRY(check_id(d.eom_token_id, "eom_token_id", n));
  HOLO_TRY(check_id(d.unknown_token_id, "unknown_token_id", n));
  HOLO_TRY(check_id(d.padding_token_id, "padding_token_id", n));
  // llama.cpp's defaults when a key is absent, kept only where they fit the vocabulary.
  const bool spm = s.kind == tokenizer_kind::spm;
  auto pick = [n](const std::optional<std::int32_t>& v, std::int32_t dflt) {
    if (v) return *v;
    return dflt >= 0 && static_cast<std::size_t>(dflt) < n ? dflt : -1;
  };
  s.bos = pick(d.bos_token_id, spm ? 1 : 11);
  s.eos = pick(d.eos_token_id, spm ? 2 : 11);
  s.unk = pick(d.unknown_token_id, spm ? 0 : -1);
  s.eot = pick(d.eot_token_id, -1);
  s.eom = pick(d.eom_token_id, -1);
  s.pad = pick(d.padding_token_id, -1);
  s.add_bos = d.add_bos_token.value_or(s.add_bos);
  s.add_eos = d.add_eos_token.value_or(s.add_eos);
  s.add_space_prefix = d.add_space_prefix.value_or(s.add_space_prefix);
  if (s.add_bos && s.bos < 0) return status::invalid_argument("add_bos_token is set but there is no BOS");
  if (s.add_eos && s.eos < 0) return status::invalid_argument("add_eos_token is set but there is no EOS");
  return ok_status();
}

// End-of-generation set, control marking of EOG texts, special-token order and piece cache.
void build_tables(tokenizer_state& s) {
  const std::size_t n = s.tokens.size();
  s.eog.assign(n, 0);
  for (std::int32_t id : {s.eos, s.eot, s.eom}) {
    if (id >= 0) s.eog[id] = 1;
  }
  for (std::string_view t : eog_texts) {
    const std::int32_t id = s.find(t);
    if (id < 0) continue;
    s.eog[id] = 1;
    // llama.cpp overrides such tokens to control when a converter typed them normal.
    if (s.tokens[id].type == token_type::normal) s.tokens[id].type = token_type::control;
  }
  s.byte_ids.fill(-1);
  for (std::size_t i = 0; i < n; ++i) {
    const detail::token_entry& e = s.tokens[i];
    if (e.type == token_type::control || e.type == token_type::user_defined ||
        e.type == token_type::unknown) {
      s.special_ids.push_back(static_cast<std::int32_t>(i));
    }
  }
  std::stable_sort(s.special_ids.begin(), s.special_ids.end(), [&](std::int32_t a, std::int32_t b) {
    return s.text(a).size() > s.text(b).size();
  });
  for (int b = 0; b < 256; ++b) {
    if (s.kind == tokenizer_kind::spm) {
      static const char hex[] = "0123456789ABCDEF";
      const char name[] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', '\0'};
      s.byte_ids[b] = s.find(name);
      if (s.byte_ids[b] < 0) s.byte_ids[b] = s.find(std::string(1, static_cast<char>(b)));
    } else {
      std::string mapped;
      unicode::append_utf8(mapped, detail::bpe_byte_to_cpt(static_cast<std::uint8_t>(b)));
      s.byte_ids[b] = s.find(mapped);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    detail::token_entry& e = s.tokens[i];
    const std::string_view text = s.text(static_cast<std::int32_t>(i));
    std::string piece;
    switch (e.type) {
      case token_type::control:
      case token_type::unknown:
      case token_type::user_defined: piece = text; break;
      case token_type::byte: piece = std::string(1, static_cast<char>(parse_byte_token(text))); break;
      case token_type::unused: break;
      default:
        piece = s.kind == tokenizer_kind::spm ? replace_all(text, escaped_space, " ") : detail::bpe_decode_text(text);
    }
    e.piece_at = static_cast<std::uint32_t>(s.chars.size());
    e.piece_bytes = static_cast<std::uint32_t>(piece.size());
    s.chars += piece;
  }
  s.chars.shrink_to_fit();
}

// A piece of the input: raw text [begin, begin+len) or an already-recognised token.
struct fragment {
  std::size_t begin;
  std::size_t len;
  std::int32_t token;  // -1 for raw text
};

// Cuts special-token texts out of `text`, longest first (llama.cpp's tokenizer_st_partition).
std::vector<fragment> partition(const tokenizer_state& s, std::string_view text, bool parse_special) {
  std::vector<fragment> frags;
  if (!text.empty()) frags.push_back({0, text.size(), -1});
  std::vector<fragment> next;
  for (std::int32_t id : s.special_ids) {
    if (!parse_special && s.tokens[id].type != token_type::user_defined) continue;
    const std::string_view special = s.text(id);
    next.clear();
    for (const fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::size_t pos = f.begin;
      const std::size_t end = f.begin + f.len;
      for (;;) {
        const std::size_t hit = text.substr(0, end).find(special, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back({pos, hit - pos, -1});
        next.push_back({hit, special.size(), id});
        pos = hit + special.size();
      }
      if (pos < end) next.push_back({pos, end - pos, -1});
    }
    frags.swap(next);
  }
  return frags;
}

// The bytes `id` prints: control and unknown tokens only when unparse_special.
std::string_view piece_of(const tokenizer_state& s, std::int32_t id, bool unparse_special) {
  if (id < 0 || static_cast<std::size_t>(id) >= s.tokens.size()) return {};
  const detail::token_entry& e = s.tokens[id];
  if (!unparse_special && (e.type == token_type::control || e.type == token_type::unknown)) return {};
  return s.piece(id);
}

// Appends a piece, dropping one leading space when `strip` (then clears it).
void append_stripped(std::string_view piece, bool& strip, std::string& bytes) {
  if (strip && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
  strip = false;
  bytes.append(piece);
}

}  // namespace

result<tokenizer> tokenizer::create(vocab_data d) {
  auto s = std::make_shared<tokenizer_state>();
  if (d.model == "llama") {
    s->kind = tokenizer_kind::spm;
    s->add_bos = true;
    s->add_space_prefix = true;
  } else if (d.model == "gpt2") {
    s->kind = tokenizer_kind::bpe;
    bool add_bos_default = false;
    auto pre = pre_from_name(d.pre, s->ignore_merges, add_bos_default);
    if (!pre) return pre.error();
    s->pre = *pre;
    s->add_bos = add_bos_default;
  } else {
    return status::unimplemented("tokenizer model '" + d.model +
                                 "' is not supported (supported: llama, gpt2)");
  }
  HOLO_TRY(load_tokens(d, *s));
  if (s->kind == tokenizer_kind::bpe) HOLO_TRY(load_merges(d, *s));
  HOLO_TRY(load_specials(d, *s));
  build_tables(*s);
  s->chat_template = std::move(d.chat_template);
  return tokenizer(std::move(s));
}

std::vector<std::int32_t> tokenizer::encode(std::string_view text, bool add_special,
                                            bool parse_special) const {
  const tokenizer_state& s = *s_;
  std::vector<std::int32_t> out;
  if (add_special && s.add_bos) out.push_back(s.bos);
  bool prev_special = true;  // SentencePiece prefixes a space to the text after a special token
  for (const fragment& f : partition(s, text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.len);
    if (s.kind == tokenizer_kind::spm) {
      std::string escaped = replace_all(raw, " ", escaped_space);
      if (s.add_space_prefix && prev_special) escaped.insert(0, escaped_space);
      detail::spm_encode(s, escaped, out);
    } else {
      detail::bpe_encode(s, raw, out);
    }
    prev_special = false;
  }
  if (add_special && s.add_eos) out.push_back(s.eos);
  return out;
}

std::string tokenizer::token_text(std::int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  return std::string(s_->text(id));
}

std::string tokenizer::token_piece(std::int32_t id, bool unparse_special) const {
  return std::string(piece_of(*s_, id, unparse_special));
}

std::string tokenizer::decode(std::span<const std::int32_t> ids, decode_options opts) const {
  // Written independently of the detokenizer (whole sequence at once, as llama_detokenize) so that
  // tests can hold the streaming version against it.
  const tokenizer_state& s = *s_;
  bool strip = opts.sequence_start && s.add_space_prefix;
  if (opts.sequence_start && opts.remove_special && s.add_bos && !ids.empty() && ids.front() == s.bos) {
    strip = false;
    ids = ids.subspan(1);
  }
  if (opts.remove_special && s.add_eos && !ids.empty() && ids.back() == s.eos) {
    ids = ids.first(ids.size() - 1);
  }
  std::string bytes;
  for (std::int32_t id : ids) append_stripped(piece_of(s, id, opts.unparse_special), strip, bytes);
  std::string out;
  const std::size_t used = unicode::sanitize_utf8(bytes, out);
  if (used < bytes.size()) unicode::append_utf8(out, unicode::replacement);
  return out;
}

bool tokenizer::is_eog(std::int32_t id) const {
  return id >= 0 && id < n_vocab() && s_->eog[id] != 0;
}

bool tokenizer::is_control(std::int32_t id) const {
  return id >= 0 && id < n_vocab() && s_->tokens[id].type == token_type::control;
}

tokenizer_kind tokenizer::kind() const { return s_->kind; }
std::int32_t tokenizer::n_vocab() const { return static_cast<std::int32_t>(s_->tokens.size()); }
std::int32_t tokenizer::bos_id() const { return s_->bos; }
std::int32_t tokenizer::eos_id() const { return s_->eos; }
bool tokenizer::add_bos() const { return s_->add_bos; }
bool tokenizer::add_eos() const { return s_->add_eos; }
const std::string& tokenizer::chat_template() const { return s_->chat_template; }

// --- detokenizer ---

detokenizer::detokenizer(const tokenizer& tok, decode_options opts)
    : s_(tok.s_), opts_(opts), strip_space_(opts.sequence_start && tok.s_->add_space_prefix) {}

void detokenizer::append_piece(std::int32_t id, std::string& bytes) {
  append_stripped(piece_of(*s_, id, opts_.unparse_special), strip_space_, bytes);
}

std::string detokenizer::push(std::int32_t id) {
  const tokenizer_state& s = *s_;
  const bool first = first_;
  first_ = false;
  if (first && opts_.sequence_start && opts_.remove_special && s.add_bos && id == s.bos) {
    strip_space_ = false;  // llama.cpp keeps the space after a dropped BOS
    return {};
  }
  std::string bytes = std::move(pending_);
  pending_.clear();
  if (holding_eos_) {
    holding_eos_ = false;
    append_piece(s.eos, bytes);  // it was not the last token after all
  }
  if (opts_.remove_special && s.add_eos && id == s.eos) {
    holding_eos_ = true;
  } else {
    append_piece(id, bytes);
  }
  std::string out;
  const std::size_t used = unicode::sanitize_utf8(bytes, out);
  pending_.assign(bytes, used, std::string::npos);
  return out;
}

std::string detokenizer::flush() {
  holding_eos_ = false;  // a trailing EOS is dropped
  std::string out;
  if (!pending_.empty()) unicode::append_utf8(out, unicode::replacement);
  pending_.clear();
  return out;
}

}  // namespace holo::gpu
