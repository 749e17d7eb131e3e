#include "gpu/chat_template.hpp"

#include <array>
#include <cctype>
#include <utility>

namespace holo::gpu {
namespace {

constexpr std::array<std::pair<std::string_view, chat_family>, 24> family_names = {{
    {"chatml", chat_family::chatml},
    {"llama2", chat_family::llama2},
    {"llama2-sys", chat_family::llama2_sys},
    {"llama2-sys-bos", chat_family::llama2_sys_bos},
    {"llama2-sys-strip", chat_family::llama2_sys_strip},
    {"mistral-v1", chat_family::mistral_v1},
    {"mistral-v3", chat_family::mistral_v3},
    {"mistral-v3-tekken", chat_family::mistral_v3_tekken},
    {"mistral-v7", chat_family::mistral_v7},
    {"mistral-v7-tekken", chat_family::mistral_v7_tekken},
    {"phi3", chat_family::phi3},
    {"phi4", chat_family::phi4},
    {"falcon3", chat_family::falcon3},
    {"zephyr", chat_family::zephyr},
    {"gemma", chat_family::gemma},
    {"vicuna", chat_family::vicuna},
    {"vicuna-orca", chat_family::vicuna_orca},
    {"deepseek", chat_family::deepseek},
    {"deepseek2", chat_family::deepseek2},
    {"deepseek3", chat_family::deepseek3},
    {"command-r", chat_family::command_r},
    {"llama3", chat_family::llama3},
    {"llama4", chat_family::llama4},
    {"granite", chat_family::granite},
}};

std::string supported_list() {
  std::string out;
  for (const auto& [name, f] : family_names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Trims ASCII whitespace at both ends, as llama.cpp's trim (isspace) does.
std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The outcome of detection: a family we render, or the name of one llama.cpp knows and we do not.
struct detection {
  bool found = false;
  chat_family family = chat_family::chatml;
  std::string_view unsupported;  // non-empty: recognised but not rendered
};

detection yes(chat_family f) { return {true, f, {}}; }
detection known_only(std::string_view name) { return {true, chat_family::chatml, name}; }

template <class Has>
detection detect_mistral_or_llama2(Has has) {
  if (has("[SYSTEM_PROMPT]")) return yes(chat_family::mistral_v7);
  if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
    if (has(" [INST]")) return yes(chat_family::mistral_v1);
    if (has("\"[INST]\"")) return yes(chat_family::mistral_v3_tekken);
    return yes(chat_family::mistral_v3);
  }
  if (has("content.strip()")) return yes(chat_family::llama2_sys_strip);
  if (has("bos_token + '[INST]")) return yes(chat_family::llama2_sys_bos);
  if (has("<<SYS>>")) return yes(chat_family::llama2_sys);
  return yes(chat_family::llama2);
}

// llm_chat_detect_template's tests, in its order (the order matters: markers overlap).
detection detect_family(std::string_view t) {
  auto has = [t](std::string_view m) { return t.find(m) != std::string_view::npos; };
  if (has("<|im_start|>")) {
    if (has("<|im_sep|>")) return yes(chat_family::phi4);
    if (has("<end_of_utterance>")) return known_only("smolvlm");
    return yes(chat_family::chatml);
  }
  if (t.substr(0, 7) == "mistral" || has("[INST]")) return detect_mistral_or_llama2(has);
  if (has("<|assistant|>") && has("<|end|>")) return yes(chat_family::phi3);
  if (has("[gMASK]<sop>")) return known_only("chatglm4");
  if (has("<|assistant|>") && has("<|user|>")) {
    return has("</s>") ? yes(chat_family::falcon3) : known_only("glmedge");
  }
  if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) return known_only("glmedge");
  if (has("<|user|>") && has("<|endoftext|>")) return yes(chat_family::zephyr);
  if (has("bos_token + message['role']")) return known_only("monarch");
  if (has("<start_of_turn>")) return yes(chat_family::gemma);
  if (has("'\\n\\nAssistant: ' + eos_token")) return known_only("orion");
  if (has("GPT4 Correct ")) return known_only("openchat");
  if (has("USER: ") && has("ASSISTANT: ")) {
    return yes(has("SYSTEM: ") ? chat_family::vicuna_orca : chat_family::vicuna);
  }
  if (has("### Instruction:") && has("<|EOT|>")) return yes(chat_family::deepseek);
  if (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")) return yes(chat_family::command_r);
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return yes(chat_family::llama3);
  if (has("[gMASK]sop")) return known_only("chatglm3");
  if (has("<\xE7\x94\xA8\xE6\x88\xB7>")) return known_only("minicpm");  // <用户>
  if (has("'Assistant: ' + message['content'] + eos_token")) return yes(chat_family::deepseek2);
  if (has("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>") && has("<\xEF\xBD\x9C" "User\xEF\xBD\x9C>") &&
      has("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>")) {
    return yes(chat_family::deepseek3);
  }
  if (has("[|system|]") && has("[|assistant|]") && has("[|endofturn|]")) return known_only("exaone");
  if (has("rwkv-world")) return known_only("rwkv-world");
  if (has("<|start_of_role|>")) return yes(chat_family::granite);
  if (has("<|role_start|>")) return known_only("megrez");
  if (has("<|header_start|>") && has("<|header_end|>")) return yes(chat_family::llama4);
  return {};
}

using messages = std::span<const chat_message>;

void render_mistral(chat_family f, messages msgs, std::string& out) {
  if (f == chat_family::mistral_v7 || f == chat_family::mistral_v7_tekken) {
    const std::string_view sp = f == chat_family::mistral_v7 ? " " : "";
    for (const chat_message& m : msgs) {
      if (m.role == "system") ((out += "[SYSTEM_PROMPT]") += sp) += m.content + "[/SYSTEM_PROMPT]";
      else if (m.role == "user") ((out += "[INST]") += sp) += m.content + "[/INST]";
      else ((out += sp) += m.content) += "</s>";
    }
    return;
  }
  const std::string_view lead = f == chat_family::mistral_v1 ? " " : "";
  const std::string_view trail = f == chat_family::mistral_v3_tekken ? "" : " ";
  bool inside_turn = false;
  for (const chat_message& m : msgs) {
    if (!inside_turn) {
      ((out += lead) += "[INST]") += trail;
      inside_turn = true;
    }
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else if (m.role == "user") {
      ((out += m.content) += lead) += "[/INST]";
    } else {
      (out += trail) += (f == chat_family::mistral_v3 ? trim(m.content) : m.content) + "</s>";
      inside_turn = false;
    }
  }
}

void render_llama2(chat_family f, messages msgs, std::string& out) {
  const bool system_block = f != chat_family::llama2;
  const bool bos_inside = f == chat_family::llama2_sys_bos;
  const bool strip = f == chat_family::llama2_sys_strip;
  bool inside_turn = true;  // the first [INST] is written here; BOS comes from the tokenizer
  out += "[INST] ";
  for (const chat_message& m : msgs) {
    const std::string content = strip ? trim(m.content) : m.content;
    if (!inside_turn) {
      inside_turn = true;
      out += bos_inside ? "<s>[INST] " : "[INST] ";
    }
    if (m.role == "system") {
      out += system_block ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
    } else if (m.role == "user") {
      out += content + " [/INST]";
    } else {
      out += content + "</s>";
      inside_turn = false;
    }
  }
}

void render_gemma(messages msgs, bool gen, std::string& out) {
  std::string system;  // gemma has no system turn: it is prefixed to the next user turn
  for (const chat_message& m : msgs) {
    if (m.role == "system") {
      system += trim(m.content);
      continue;
    }
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n";
    if (!system.empty() && role != "model") {
      out += system + "\n\n";
      system.clear();
    }
    out += trim(m.content) + "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
}

void render_simple_roles(chat_family f, messages msgs, bool gen, std::string& out) {
  for (const chat_message& m : msgs) {
    switch (f) {
      case chat_family::chatml: out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n"; break;
      case chat_family::phi3: out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n"; break;
      case chat_family::phi4:
        out += "<|im_start|>" + m.role + "<|im_sep|>" + m.content + "<|im_end|>";
        break;
      case chat_family::falcon3: out += "<|" + m.role + "|>\n" + m.content + "\n"; break;
      case chat_family::zephyr: out += "<|" + m.role + "|>\n" + m.content + "<|endoftext|>\n"; break;
      case chat_family::llama3:
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
        break;
      case chat_family::llama4:
        out += "<|header_start|>" + m.role + "<|header_end|>\n\n" + trim(m.content) + "<|eot|>";
        break;
      case chat_family::granite:
        out += "<|start_of_role|>" + m.role + "<|end_of_role|>";
        if (m.role == "assistant_tool_call") out += "<|tool_call|>";
        out += m.content + "<|end_of_text|>\n";
        break;
      default: break;
    }
  }
  if (!gen) return;
  switch (f) {
    case chat_family::chatml: out += "<|im_start|>assistant\n"; break;
    case chat_family::phi3:
    case chat_family::falcon3:
    case chat_family::zephyr: out += "<|assistant|>\n"; break;
    case chat_family::phi4: out += "<|im_start|>assistant<|im_sep|>"; break;
    case chat_family::llama3: out += "<|start_header_id|>assistant<|end_header_id|>\n\n"; break;
    case chat_family::llama4: out += "<|header_start|>assistant<|header_end|>\n\n"; break;
    case chat_family::granite: out += "<|start_of_role|>assistant<|end_of_role|>\n"; break;
    default: break;
  }
}

void render_system_user_assistant(chat_family f, messages msgs, bool gen, std::string& out) {
  const std::string user3 = "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>";
  const std::string assistant3 = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";
  const std::string eos3 = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
  for (const chat_message& m : msgs) {
    const bool sys = m.role == "system", user = m.role == "user", asst = m.role == "assistant";
    switch (f) {
      case chat_family::vicuna:
      case chat_family::vicuna_orca:
        if (sys) out += f == chat_family::vicuna_orca ? "SYSTEM: " + m.content + "\n" : m.content + "\n\n";
        else if (user) out += "USER: " + m.content + "\n";
        else if (asst) out += "ASSISTANT: " + m.content + "</s>\n";
        break;
      case chat_family::deepseek:
        if (sys) out += m.content;
        else if (user) out += "### Instruction:\n" + m.content + "\n";
        else if (asst) out += "### Response:\n" + m.content + "\n<|EOT|>\n";
        break;
      case chat_family::deepseek2:
        if (sys) out += m.content + "\n\n";
        else if (user) out += "User: " + m.content + "\n\n";
        else if (asst) out += "Assistant: " + m.content + eos3;
        break;
      case chat_family::deepseek3:
        if (sys) out += m.content + "\n\n";
        else if (user) out += user3 + m.content;
        else if (asst) out += assistant3 + m.content + eos3;
        break;
      case chat_family::command_r: {
        const char* tag = sys ? "<|SYSTEM_TOKEN|>" : user ? "<|USER_TOKEN|>" : asst ? "<|CHATBOT_TOKEN|>" : nullptr;
        if (tag) out += std::string("<|START_OF_TURN_TOKEN|>") + tag + trim(m.content) + "<|END_OF_TURN_TOKEN|>";
        break;
      }
      default: break;
    }
  }
  if (!gen) return;
  switch (f) {
    case chat_family::vicuna:
    case chat_family::vicuna_orca: out += "ASSISTANT:"; break;
    case chat_family::deepseek: out += "### Response:\n"; break;
    case chat_family::deepseek2: out += "Assistant:"; break;
    case chat_family::deepseek3: out += assistant3; break;
    case chat_family::command_r: out += "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"; break;
    default: break;
  }
}

}  // namespace

std::string_view to_string(chat_family f) {
  for (const auto& [name, family] : family_names) {
    if (family == f) return name;
  }
  return "unknown";
}

result<chat_template> chat_template::from_name(std::string_view name) {
  for (const auto& [n, f] : family_names) {
    if (n == name) return chat_template(f);
  }
  return status::not_found("unknown chat template name '" + std::string(name) +
                           "'; supported: " + supported_list());
}

result<chat_template> chat_template::detect(std::string_view jinja_text) {
  if (auto by_name = from_name(jinja_text); by_name.ok()) return by_name;
  const detection d = detect_family(jinja_text);
  if (!d.found) {
    return status::not_found("the chat template matches no supported family; choose one by name: " +
                             supported_list());
  }
  if (!d.unsupported.empty()) {
    return status::unimplemented("the chat template looks like '" + std::string(d.unsupported) +
                                 "', which is not supported; choose one by name: " + supported_list());
  }
  return chat_template(d.family);
}

std::string chat_template::render(std::span<const chat_message> msgs, bool add_generation_prompt) const {
  std::string out;
  switch (family_) {
    case chat_family::mistral_v1:
    case chat_family::mistral_v3:
    case chat_family::mistral_v3_tekken:
    case chat_family::mistral_v7:
    case chat_family::mistral_v7_tekken: render_mistral(family_, msgs, out); break;
    case chat_family::llama2:
    case chat_family::llama2_sys:
    case chat_family::llama2_sys_bos:
    case chat_family::llama2_sys_strip: render_llama2(family_, msgs, out); break;
    case chat_family::gemma: render_gemma(msgs, add_generation_prompt, out); break;
    case chat_family::vicuna:
    case chat_family::vicuna_orca:
    case chat_family::deepseek:
    case chat_family::deepseek2:
    case chat_family::deepseek3:
    case chat_family::command_r: render_system_user_assistant(family_, msgs, add_generation_prompt, out); break;
    default: render_simple_roles(family_, msgs, add_generation_prompt, out); break;
  }
  return out;
}

}  // namespace holo::gpu
