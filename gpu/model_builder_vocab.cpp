// The vocabularies of built test models (model_builder.hpp: build_vocab): pieces learnt by a few
// hundred to a few thousand BPE merge steps over a small built-in English corpus.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "gpu/model_builder.hpp"
#include "gpu/pretokenizer.hpp"
#include "gpu/unicode.hpp"

namespace holo::gpu {

namespace {

// A few kilobytes of plain English with digits, punctuation, code and a few accented and non-Latin
// words, so the learnt pieces look like a real vocabulary's (common words whole, rare ones split).
constexpr std::string_view corpus = R"(The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran away into the forest.
Once upon a time, there was a little girl who lived in a village near the forest. Whenever she went out, the little girl wore a red riding cloak, so everyone in the village called her Little Red Riding Hood.
One morning, Little Red Riding Hood asked her mother if she could go to visit her grandmother as it had been a while since they had seen each other.
"That's a good idea," her mother said. "But you must be careful, and you must not stop on the way. Don't talk to strangers!"
The language model reads a sequence of tokens and predicts the next token. Each token is a number, and the model turns every number into a vector of weights.
A transformer has many layers. Every layer has attention and a feed forward network. The attention looks at the previous tokens; the network thinks about what it has seen.
In 2023 and 2024, people trained models with 7 billion, 13 billion and 70 billion parameters on trillions of tokens. Training took 1,000,000 hours on 2048 GPUs.
The price was $3.50 per hour, or about 12.5% less than last year. Call 555-0123 before 10:30 am on 05/06/2024.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 100 256 1000 1024 4096 65536 3.14159 2.71828 -42 +7 1e-5.
Questions are good. Why is the sky blue? Because the air scatters blue light more than red light. How far is the moon? About 384,400 kilometres.
We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable Rights.
It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief.
To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune.
I think, therefore I am. I'm sure you'll see that we've done what they'd wanted; it's what she's said and he'll do.
def main():
    print("Hello, world!")
    for i in range(10):
        if i % 2 == 0:
            print(i, "is even")
    return 0
int main(int argc, char** argv) { std::vector<int> v = {1, 2, 3}; return v.size() > 2 ? 0 : 1; }
{"name": "holo", "version": "0.1.0", "layers": [1, 2, 3], "ok": true}
SELECT name, count(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY count(*) DESC;
The café served crème brûlée and a naïve señor ordered jalapeño soup. Über cool, très chic, ça va?
Die Straße ist schön. El niño está aquí. Привет, мир! Γειά σου κόσμε. こんにちは世界. 你好，世界。 안녕하세요.
Emoji are text too: 🙂 👍 🚀 ❤️ — and so are dashes – and quotes “like this” and ‘this’… and the ellipsis.
Science tells us that water boils at 100 degrees Celsius at sea level, and that light travels at about 299,792 kilometres per second.
The history of computing began with mechanical calculators, then came electronic computers, personal computers, the internet and the smartphone.
Good morning! How are you today? I am fine, thank you. What would you like to do this afternoon? Let us go for a walk in the park.
The weather is nice today, with a clear sky, a light breeze and a temperature of about twenty degrees.
She sells sea shells by the sea shore. Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck?
A journey of a thousand miles begins with a single step. Knowledge is power. Time is money. Practice makes perfect.
The server answers requests from many users at the same time. It streams tokens back as soon as they are generated, one by one.
Machines in the cluster share the work: each machine holds some of the layers, and the activations flow from one machine to the next.
If a machine fails, the supervisor restarts it, and the router sends new requests to the machines that are still running.
)";

const std::string sp = "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr std::size_t learnt_pieces_max = 4000;  // merge steps; the corpus runs out well before

// One word of the training corpus as a sequence of piece ids, with its count.
struct train_word {
  std::vector<std::int32_t> syms;
  std::int64_t count = 0;
};

// Greedy BPE training: at each step merge the most frequent adjacent pair (ties: the smallest
// pair of piece ids, which is deterministic). Stops after `steps_max` merges or when every word is
// one piece. Appends new pieces to `pieces` and returns the merges as id pairs.
std::vector<std::pair<std::int32_t, std::int32_t>> train_bpe(std::vector<train_word>& words,
                                                             std::vector<std::string>& pieces,
                                                             std::size_t steps_max) {
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  std::unordered_map<std::string, std::int32_t> index;
  for (std::size_t i = 0; i < pieces.size(); ++i) index.emplace(pieces[i], static_cast<std::int32_t>(i));
  while (merges.size() < steps_max) {
    std::unordered_map<std::uint64_t, std::int64_t> counts;
    for (const auto& w : words)
      for (std::size_t i = 0; i + 1 < w.syms.size(); ++i)
        counts[(std::uint64_t(std::uint32_t(w.syms[i])) << 32) | std::uint32_t(w.syms[i + 1])] += w.count;
    std::uint64_t best = 0;
    std::int64_t best_count = 0;
    for (const auto& [pair, n] : counts)
      if (n > best_count || (n == best_count && pair < best)) best = pair, best_count = n;
    if (best_count == 0) break;
    const auto left = static_cast<std::int32_t>(best >> 32);
    const auto right = static_cast<std::int32_t>(best & 0xFFFFFFFFu);
    const std::string merged = pieces[std::size_t(left)] + pieces[std::size_t(right)];
    auto [it, added] = index.emplace(merged, static_cast<std::int32_t>(pieces.size()));
    if (added) pieces.push_back(merged);
    const std::int32_t id = it->second;
    for (auto& w : words) {
      std::vector<std::int32_t> out;
      out.reserve(w.syms.size());
      for (std::size_t i = 0; i < w.syms.size(); ++i) {
        if (i + 1 < w.syms.size() && w.syms[i] == left && w.syms[i + 1] == right) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(w.syms[i]);
        }
      }
      w.syms = std::move(out);
    }
    merges.emplace_back(left, right);
  }
  return merges;
}

// Splits `word` into code points (malformed bytes one each), appending unseen ones to `pieces`.
std::vector<std::int32_t> code_point_ids(std::string_view word, std::vector<std::string>& pieces,
                                         std::map<std::string, std::int32_t>& index) {
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t n = unicode::decode(word, i).len;
    std::string cp(word.substr(i, n));
    auto [it, added] = index.emplace(cp, static_cast<std::int32_t>(pieces.size()));
    if (added) pieces.push_back(cp);
    ids.push_back(it->second);
    i += n;
  }
  return ids;
}

void pad_vocab(vocab_data& v, std::int32_t n_vocab) {
  while (static_cast<std::int32_t>(v.tokens.size()) < n_vocab) {
    v.tokens.push_back("[PAD" + std::to_string(v.tokens.size()) + "]");
    v.scores.push_back(0.0f);
    v.token_types.push_back(static_cast<std::int32_t>(token_type::unused));
  }
}

std::int32_t add_token(vocab_data& v, std::string text, token_type type, float score = 0.0f) {
  v.tokens.push_back(std::move(text));
  v.token_types.push_back(static_cast<std::int32_t>(type));
  v.scores.push_back(score);
  return static_cast<std::int32_t>(v.tokens.size() - 1);
}

constexpr std::string_view llama2_template =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

constexpr std::string_view llama3_template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

constexpr std::string_view chatml_template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// SentencePiece: <unk> <s> </s>, <0x00>..<0xFF>, learnt pieces by descending score, the corpus
// alphabet, (chatml tokens for qwen2), [PAD] tokens.
result<vocab_data> build_spm(const model_spec& spec) {
  vocab_data v;
  v.model = "llama";
  v.scores.reserve(std::size_t(spec.n_vocab));
  v.unknown_token_id = add_token(v, "<unk>", token_type::unknown);
  v.bos_token_id = add_token(v, "<s>", token_type::control);
  v.eos_token_id = add_token(v, "</s>", token_type::control);
  for (int b = 0; b < 256; ++b) {
    char text[8];
    std::snprintf(text, sizeof text, "<0x%02X>", b);
    add_token(v, text, token_type::byte);
  }
  std::map<std::string, std::int32_t> word_counts;
  for (std::size_t i = 0; i < corpus.size();) {
    const std::size_t end = std::min(corpus.find_first_of(" \n", i), corpus.size());
    if (end > i) ++word_counts[sp + std::string(corpus.substr(i, end - i))];
    i = end + 1;
  }
  std::vector<std::string> pieces;  // alphabet first, then learnt pieces
  std::map<std::string, std::int32_t> index;
  std::vector<train_word> words;
  for (const auto& [w, n] : word_counts) words.push_back({code_point_ids(w, pieces, index), n});
  const std::size_t alphabet = pieces.size();
  const std::size_t extra = spec.arch == model_arch::qwen2 ? 2 : 0;
  const std::size_t fixed = v.tokens.size() + alphabet + extra;
  if (fixed > std::size_t(spec.n_vocab))
    return status::invalid_argument("vocabulary size " + std::to_string(spec.n_vocab) + " is below the " +
                                    std::to_string(fixed) + " fixed tokens of the SentencePiece vocabulary");
  train_bpe(words, pieces, std::min<std::size_t>(std::size_t(spec.n_vocab) - fixed, learnt_pieces_max));
  // Learnt pieces score by merge order (earlier = higher); the alphabet scores below them all.
  const auto n_learnt = static_cast<float>(pieces.size() - alphabet);
  for (std::size_t i = alphabet; i < pieces.size(); ++i)
    add_token(v, pieces[i], token_type::normal, -static_cast<float>(i - alphabet));
  for (std::size_t i = 0; i < alphabet; ++i)
    add_token(v, pieces[i], token_type::normal, -n_learnt - static_cast<float>(i));
  if (spec.arch == model_arch::qwen2) {
    add_token(v, "<|im_start|>", token_type::control);
    v.eot_token_id = add_token(v, "<|im_end|>", token_type::control);
  }
  v.add_bos_token = true;
  v.add_eos_token = false;
  v.chat_template = std::string(spec.arch == model_arch::qwen2 ? chatml_template : llama2_template);
  pad_vocab(v, spec.n_vocab);
  return v;
}

// GPT-2's bytes_to_unicode in its token order: the printable Latin-1 bytes map to themselves,
// the 68 others (controls, space, DEL, NBSP, soft hyphen) to U+0100.. in byte order.
struct byte_symbol {
  unsigned char byte;
  std::string text;
};

std::vector<byte_symbol> byte_alphabet() {
  std::vector<byte_symbol> out;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) continue;
    std::string s;
    unicode::append_utf8(s, char32_t(b));
    out.push_back({static_cast<unsigned char>(b), s});
  }
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) continue;
    std::string s;
    unicode::append_utf8(s, next++);
    out.push_back({static_cast<unsigned char>(b), s});
  }
  return out;
}

// Byte-level BPE: the 256 byte symbols, learnt merges, the family's special tokens, [PAD] tokens.
result<vocab_data> build_bpe(const model_spec& spec) {
  vocab_data v;
  v.model = "gpt2";
  const bool qwen = spec.arch == model_arch::qwen2;
  v.pre = qwen ? "qwen2" : "llama-bpe";
  std::vector<std::string> pieces;  // the byte symbols, then learnt pieces
  std::vector<std::int32_t> byte_id(256);
  for (auto& [b, text] : byte_alphabet()) {
    byte_id[b] = static_cast<std::int32_t>(pieces.size());
    pieces.push_back(text);
  }
  std::map<std::string, std::int64_t> word_counts;
  std::vector<std::string_view> split;
  pretokenize(qwen ? pretokenizer_kind::qwen2 : pretokenizer_kind::llama3, corpus, split);
  for (auto w : split) ++word_counts[std::string(w)];
  std::vector<train_word> words;
  for (const auto& [w, n] : word_counts) {
    train_word tw{{}, n};
    for (unsigned char c : w) tw.syms.push_back(byte_id[c]);
    words.push_back(std::move(tw));
  }
  const std::size_t n_special = qwen ? 3 : 5;
  const std::size_t budget = std::size_t(spec.n_vocab) - 256 - n_special;
  for (const auto& [l, r] : train_bpe(words, pieces, std::min<std::size_t>(budget, learnt_pieces_max)))
    v.merges.push_back(pieces[std::size_t(l)] + " " + pieces[std::size_t(r)]);
  for (auto& p : pieces) add_token(v, std::move(p), token_type::normal);
  if (qwen) {
    const std::int32_t eot = add_token(v, "<|endoftext|>", token_type::control);
    add_token(v, "<|im_start|>", token_type::control);
    const std::int32_t im_end = add_token(v, "<|im_end|>", token_type::control);
    v.bos_token_id = eot;  // as Qwen2's GGUF files say; add_bos_token is false
    v.eos_token_id = im_end;
    v.padding_token_id = eot;
    v.add_bos_token = false;
    v.chat_template = std::string(chatml_template);
  } else {
    v.bos_token_id = add_token(v, "<|begin_of_text|>", token_type::control);
    v.eos_token_id = add_token(v, "<|end_of_text|>", token_type::control);
    add_token(v, "<|start_header_id|>", token_type::control);
    add_token(v, "<|end_header_id|>", token_type::control);
    v.eot_token_id = add_token(v, "<|eot_id|>", token_type::control);
    v.add_bos_token = true;
    v.chat_template = std::string(llama3_template);
  }
  v.add_eos_token = false;
  pad_vocab(v, spec.n_vocab);
  v.scores.clear();  // byte-level BPE files carry no scores (merges rank the pieces)
  return v;
}

}  // namespace

result<vocab_data> build_vocab(const model_spec& spec) {
  if (spec.n_vocab < vocab_size_min || spec.n_vocab > model_limits::n_vocab_max)
    return status::invalid_argument("vocabulary size " + std::to_string(spec.n_vocab) + " is out of range [" +
                                    std::to_string(vocab_size_min) + ", " +
                                    std::to_string(model_limits::n_vocab_max) + "]");
  return spec.vocab == vocab_kind::spm ? build_spm(spec) : build_bpe(spec);
}

}  // namespace holo::gpu
