// Chat prompt formatting. We do not run Jinja: like llama.cpp's llm_chat_detect_template, we
// recognise a model's template family from distinctive markers in its tokenizer.chat_template text
// and render the conversation with a hand-written formatter per family, producing the same string
// llama.cpp's llm_chat_apply_template does. BOS is not part of the output: the tokenizer adds it.
//
// Pure values: safe from any thread. Failure: an unrecognised template or name is an error (never a
// silent fallback to chatml), whose message lists the supported families.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.hpp"

namespace holo::gpu {

enum class chat_family {
  chatml,            // <|im_start|>role\n...<|im_end|>\n  (Qwen2, many fine-tunes)
  llama2,            // [INST] ... [/INST], system folded into the first turn
  llama2_sys,        // with <<SYS>> ... <</SYS>>
  llama2_sys_bos,    // with <s> before each later [INST]
  llama2_sys_strip,  // with contents stripped
  mistral_v1,
  mistral_v3,
  mistral_v3_tekken,
  mistral_v7,
  mistral_v7_tekken,
  phi3,     // <|user|>\n...<|end|>\n
  phi4,     // <|im_start|>role<|im_sep|>...<|im_end|>
  falcon3,  // <|user|>\n...\n
  zephyr,   // <|user|>\n...<|endoftext|>\n
  gemma,    // <start_of_turn>user\n...<end_of_turn>\n, "assistant" is "model"
  vicuna,
  vicuna_orca,
  deepseek,   // deepseek-coder: ### Instruction: / ### Response:
  deepseek2,  // User: / Assistant:
  deepseek3,  // <｜User｜> / <｜Assistant｜>
  command_r,  // <|START_OF_TURN_TOKEN|><|USER_TOKEN|>...
  llama3,     // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  llama4,     // <|header_start|>role<|header_end|>\n\n...<|eot|>
  granite,    // <|start_of_role|>role<|end_of_role|>...<|end_of_text|>\n
};

struct chat_message {
  std::string role;  // "system", "user", "assistant" (others pass through where a family allows)
  std::string content;
};

// llama.cpp's name for a family ("chatml", "llama3", "mistral-v7", ...).
std::string_view to_string(chat_family f);

class chat_template {
 public:
  // Recognises the family of a Jinja template text; a bare family name is accepted too, as in
  // llama.cpp. Errors: not_found (no known markers), unimplemented (a family llama.cpp knows that we
  // do not render, e.g. chatglm4), both listing the supported families.
  static result<chat_template> detect(std::string_view jinja_text);
  // Chooses a family by its name. Error: not_found, listing the supported names.
  static result<chat_template> from_name(std::string_view name);
  explicit chat_template(chat_family f) : family_(f) {}

  chat_family family() const { return family_; }

  // The prompt for `messages`; with add_generation_prompt, followed by the opening of an assistant
  // turn (for the families that have one).
  std::string render(std::span<const chat_message> messages, bool add_generation_prompt) const;

 private:
  chat_family family_;
};

}  // namespace holo::gpu
