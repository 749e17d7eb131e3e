// SentencePiece (BPE-by-score) encoding as llama.cpp's llm_tokenizer_spm does it: start from one
// symbol per UTF-8 character, repeatedly merge the adjacent pair whose concatenation is the
// highest-scoring vocabulary piece (leftmost on ties), then emit each final symbol as its piece or,
// failing that, as <0xXX> byte tokens.
//
// llama.cpp also keeps a map to split a final symbol back along the merges that built it; that path
// can never run (a pair is merged only when its concatenation is a piece, so every multi-character
// symbol is a piece), and we leave it out.
#include <algorithm>
#include <queue>

#include "gpu/tokenizer_state.hpp"
#include "gpu/unicode.hpp"

namespace holo::gpu::detail {
namespace {

struct symbol {
  int prev;
  int next;
  std::size_t offset;  // into the escaped text
  std::size_t len;     // 0 once merged into its left neighbour
};

struct bigram {
  int left;
  int right;
  float score;
  std::size_t len;
};

struct bigram_order {
  // priority_queue pops the "largest": highest score, then leftmost.
  bool operator()(const bigram& a, const bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class spm_session {
 public:
  spm_session(const tokenizer_state& s, std::string_view text) : s_(s), text_(text) {}

  void run(std::vector<std::int32_t>& out) {
    for (std::size_t off = 0; off < text_.size();) {
      const std::size_t len =
          std::min(unicode::lead_length(static_cast<unsigned char>(text_[off])), text_.size() - off);
      const int index = static_cast<int>(symbols_.size());
      symbols_.push_back({index - 1, off + len == text_.size() ? -1 : index + 1, off, len});
      off += len;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);

    while (!queue_.empty()) {
      const bigram b = queue_.top();
      queue_.pop();
      symbol& l = symbols_[b.left];
      symbol& r = symbols_[b.right];
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) emit(i, out);
  }

 private:
  std::string_view text_of(std::size_t offset, std::size_t len) const {
    return text_.substr(offset, len);
  }

  void try_add(int left, int right) {
    if (left < 0 || right < 0) return;
    const symbol& l = symbols_[left];
    const std::string_view t = text_of(l.offset, l.len + symbols_[right].len);
    const std::int32_t id = s_.find(t);
    if (id < 0) return;
    queue_.push({left, right, s_.tokens[id].score, t.size()});
  }

  void emit(int index, std::vector<std::int32_t>& out) const {
    const symbol& sym = symbols_[index];
    const std::string_view t = text_of(sym.offset, sym.len);
    if (const std::int32_t id = s_.find(t); id >= 0) {
      out.push_back(id);
      return;
    }
    for (char c : t) {  // byte fallback; without a byte token, the unknown token
      const std::int32_t id = s_.byte_ids[static_cast<unsigned char>(c)];
      if (id >= 0) out.push_back(id);
      else if (s_.unk >= 0) out.push_back(s_.unk);
    }
  }

  const tokenizer_state& s_;
  std::string_view text_;
  std::vector<symbol> symbols_;
  std::priority_queue<bigram, std::vector<bigram>, bigram_order> queue_;
};

}  // namespace

void spm_encode(const tokenizer_state& s, std::string_view text, std::vector<std::int32_t>& out) {
  spm_session(s, text).run(out);
}

}  // namespace holo::gpu::detail
