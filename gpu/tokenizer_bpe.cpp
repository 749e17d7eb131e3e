// Byte-level BPE encoding as llama.cpp's llm_tokenizer_bpe does it: pre-tokenize into words, map
// each byte of a word to GPT-2's printable code point, start from one symbol per byte, repeatedly
// merge the adjacent pair with the lowest merge rank (leftmost on ties), then emit each symbol as
// its token or, failing that, as one token per byte.
#include <queue>

#include "gpu/tokenizer_state.hpp"
#include "gpu/unicode.hpp"

namespace holo::gpu::detail {
namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes (controls,
// space, 0x7F-0xA0, soft hyphen) to U+0100.. in byte order.
struct byte_map {
  std::array<char32_t, 256> to_cpt{};
  byte_map() {
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_cpt[b] = printable ? static_cast<char32_t>(b) : next++;
    }
  }
};
const byte_map& the_byte_map() {
  static const byte_map m;  // immutable after first use; thread-safe static init
  return m;
}

struct symbol {
  int prev;
  int next;
  std::size_t offset;  // into the mapped word
  std::size_t len;     // 0 once merged into its left neighbour
};

struct bigram {
  int left;
  int right;
  std::int32_t rank;
  std::size_t len;
};

struct bigram_order {
  // priority_queue pops the "largest": lowest rank, then leftmost.
  bool operator()(const bigram& a, const bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

class bpe_word {
 public:
  bpe_word(const tokenizer_state& s, std::string_view word) : s_(s) {
    for (char c : word) unicode::append_utf8(mapped_, bpe_byte_to_cpt(static_cast<unsigned char>(c)));
  }

  void run(std::vector<std::int32_t>& out) {
    if (s_.ignore_merges) {
      if (const std::int32_t id = s_.find(mapped_); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    for (std::size_t off = 0; off < mapped_.size();) {
      const std::size_t len = unicode::decode(mapped_, off).len;
      const int index = static_cast<int>(symbols_.size());
      symbols_.push_back({index - 1, off + len == mapped_.size() ? -1 : index + 1, off, len});
      off += len;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);
    while (!queue_.empty()) {
      const bigram b = queue_.top();
      queue_.pop();
      symbol& l = symbols_[b.left];
      symbol& r = symbols_[b.right];
      // Stale when either side changed since the pair was queued (symbols only grow).
      if (l.len == 0 || r.len == 0 || l.next != b.right || l.len + r.len != b.len) continue;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) emit(symbols_[i], out);
  }

 private:
  void try_add(int left, int right) {
    if (left < 0 || right < 0) return;
    const symbol& l = symbols_[left];
    const symbol& r = symbols_[right];
    key_.assign(mapped_, l.offset, l.len);
    key_ += ' ';
    key_.append(mapped_, r.offset, r.len);
    auto it = s_.merge_ranks.find(key_);
    if (it == s_.merge_ranks.end()) return;
    queue_.push({left, right, it->second, l.len + r.len});
  }

  void emit(const symbol& sym, std::vector<std::int32_t>& out) const {
    const std::string_view t = std::string_view(mapped_).substr(sym.offset, sym.len);
    if (const std::int32_t id = s_.find(t); id >= 0) {
      out.push_back(id);
      return;
    }
    // One token per byte; a vocab without that byte's token drops it, as llama.cpp does.
    for (std::size_t off = 0; off < t.size();) {
      const unicode::decoded d = unicode::decode(t, off);
      const int b = bpe_cpt_to_byte(d.cpt);
      if (b >= 0 && s_.byte_ids[b] >= 0) out.push_back(s_.byte_ids[b]);
      off += d.len;
    }
  }

  const tokenizer_state& s_;
  std::string mapped_;
  std::string key_;  // reused buffer for merge lookups
  std::vector<symbol> symbols_;
  std::priority_queue<bigram, std::vector<bigram>, bigram_order> queue_;
};

}  // namespace

char32_t bpe_byte_to_cpt(std::uint8_t b) { return the_byte_map().to_cpt[b]; }

int bpe_cpt_to_byte(char32_t c) {
  if (c < 0x100) {
    const bool printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
    return printable ? static_cast<int>(c) : -1;
  }
  if (c < 0x100 + 68) {
    // The (c - 0x100)-th non-printable byte.
    const auto& m = the_byte_map().to_cpt;
    for (int b = 0; b < 256; ++b) {
      if (m[b] == c) return b;
    }
  }
  return -1;
}

std::string bpe_decode_text(std::string_view text) {
  std::string out;
  for (std::size_t off = 0; off < text.size();) {
    const unicode::decoded d = unicode::decode(text, off);
    const int b = d.valid ? bpe_cpt_to_byte(d.cpt) : -1;
    if (b >= 0) out += static_cast<char>(b);
    else out.append(text.substr(off, d.len));
    off += d.len;
  }
  return out;
}

void bpe_encode(const tokenizer_state& s, std::string_view text, std::vector<std::int32_t>& out) {
  std::vector<std::string_view> words;
  pretokenize(s.pre, text, words);
  for (std::string_view w : words) bpe_word(s, w).run(out);
}

}  // namespace holo::gpu::detail
