#define BOOST_TEST_MODULE chat_template
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "gpu/chat_template.hpp"

using namespace holo::gpu;

namespace {

const std::vector<chat_message> conversation = {
    {"system", "You are helpful."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "How are you?"},
};

chat_family detected(const std::string& jinja) {
  auto t = chat_template::detect(jinja);
  BOOST_REQUIRE_MESSAGE(t.ok(), (t.ok() ? std::string() : t.error().to_string()));
  return t->family();
}

std::string render(chat_family f, bool gen = true) {
  return chat_template(f).render(conversation, gen);
}

// Short excerpts of real templates, each with the markers of its family.
const std::string qwen2_jinja =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";
const std::string llama3_jinja =
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' %}";
const std::string llama2_jinja =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
    "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' + content "
    "+ ' [/INST]' }}";
const std::string mistral_v7_jinja =
    "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}{{- '[INST]' + message['content'] "
    "+ '[/INST]' }}";
const std::string mistral_v3_jinja =
    "{{- '[AVAILABLE_TOOLS][' }}{%- if message['role'] == 'user' %}{{- '[INST]' + message['content'] "
    "+ '[/INST]' }}";
const std::string mistral_v1_jinja =
    "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}";
const std::string gemma_jinja =
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}";
const std::string phi3_jinja =
    "{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";
const std::string zephyr_jinja =
    "{{ '<|user|>\\n' + message['content'] + eos_token }}... '<|endoftext|>'";
const std::string command_r_jinja =
    "{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}";

}  // namespace

BOOST_AUTO_TEST_CASE(detects_families_from_jinja_markers) {
  BOOST_TEST((detected(qwen2_jinja) == chat_family::chatml));
  BOOST_TEST((detected(llama3_jinja) == chat_family::llama3));
  BOOST_TEST((detected(llama2_jinja) == chat_family::llama2_sys_bos));
  BOOST_TEST((detected("[INST] {{ m }} [/INST] <<SYS>>") == chat_family::llama2_sys));
  BOOST_TEST((detected("[INST] {{ m }} [/INST]") == chat_family::llama2));
  BOOST_TEST((detected("[INST] {{ content.strip() }}") == chat_family::llama2_sys_strip));
  BOOST_TEST((detected(mistral_v7_jinja) == chat_family::mistral_v7));
  BOOST_TEST((detected(mistral_v3_jinja) == chat_family::mistral_v3));
  BOOST_TEST((detected(mistral_v1_jinja) == chat_family::mistral_v1));
  BOOST_TEST((detected("[AVAILABLE_TOOLS]{{ \"[INST]\" }}") == chat_family::mistral_v3_tekken));
  BOOST_TEST((detected(gemma_jinja) == chat_family::gemma));
  BOOST_TEST((detected(phi3_jinja) == chat_family::phi3));
  BOOST_TEST((detected("<|im_start|>{{ role }}<|im_sep|>") == chat_family::phi4));
  BOOST_TEST((detected(zephyr_jinja) == chat_family::zephyr));
  BOOST_TEST((detected("<|user|>\n{{ c }}<|assistant|>\n</s>") == chat_family::falcon3));
  BOOST_TEST((detected(command_r_jinja) == chat_family::command_r));
  BOOST_TEST((detected("USER: {{ c }} ASSISTANT: ") == chat_family::vicuna));
  BOOST_TEST((detected("SYSTEM: {{ s }} USER: {{ c }} ASSISTANT: ") == chat_family::vicuna_orca));
  BOOST_TEST((detected("### Instruction:\n{{ c }}<|EOT|>") == chat_family::deepseek));
  BOOST_TEST((detected("<|start_of_role|>{{ r }}<|end_of_role|>") == chat_family::granite));
  BOOST_TEST((detected("<|header_start|>{{ r }}<|header_end|>") == chat_family::llama4));
  // A bare family name is accepted too.
  BOOST_TEST((detected("gemma") == chat_family::gemma));
}

BOOST_AUTO_TEST_CASE(unknown_and_unsupported_templates_are_errors) {
  auto unknown = chat_template::detect("{{ messages | tojson }}");
  BOOST_REQUIRE(!unknown.ok());
  BOOST_TEST((unknown.error().code() == holo::status_code::not_found));
  BOOST_TEST(unknown.error().message().find("chatml") != std::string::npos);
  BOOST_TEST(unknown.error().message().find("llama3") != std::string::npos);
  auto glm = chat_template::detect("[gMASK]<sop>{{ x }}");
  BOOST_REQUIRE(!glm.ok());
  BOOST_TEST((glm.error().code() == holo::status_code::unimplemented));
  BOOST_TEST(glm.error().message().find("chatglm4") != std::string::npos);
  BOOST_TEST(!chat_template::from_name("no-such-family").ok());
  BOOST_TEST((chat_template::from_name("mistral-v7-tekken")->family() == chat_family::mistral_v7_tekken));
  BOOST_TEST(to_string(chat_family::command_r) == "command-r");
}

BOOST_AUTO_TEST_CASE(renders_chatml) {
  BOOST_TEST(render(chat_family::chatml) ==
             "<|im_start|>system\nYou are helpful.<|im_end|>\n"
             "<|im_start|>user\nHi<|im_end|>\n"
             "<|im_start|>assistant\nHello!<|im_end|>\n"
             "<|im_start|>user\nHow are you?<|im_end|>\n"
             "<|im_start|>assistant\n");
  BOOST_TEST(render(chat_family::chatml, false).ends_with("How are you?<|im_end|>\n"));
}

BOOST_AUTO_TEST_CASE(renders_llama3_with_trimmed_content) {
  const std::vector<chat_message> msgs = {{"user", "  Hi \n"}};
  BOOST_TEST(chat_template(chat_family::llama3).render(msgs, true) ==
             "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n");
  BOOST_TEST(render(chat_family::llama3) ==
             "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
             "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
             "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

BOOST_AUTO_TEST_CASE(renders_llama2_variants) {
  BOOST_TEST(render(chat_family::llama2_sys) ==
             "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] How are you? [/INST]");
  BOOST_TEST(render(chat_family::llama2) ==
             "[INST] You are helpful.\nHi [/INST]Hello!</s>[INST] How are you? [/INST]");
  BOOST_TEST(render(chat_family::llama2_sys_bos) ==
             "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST]Hello!</s><s>[INST] How are you? [/INST]");
  const std::vector<chat_message> padded = {{"user", " Hi "}};
  BOOST_TEST(chat_template(chat_family::llama2_sys_strip).render(padded, true) == "[INST] Hi [/INST]");
}

BOOST_AUTO_TEST_CASE(renders_mistral_variants) {
  BOOST_TEST(render(chat_family::mistral_v7) ==
             "[SYSTEM_PROMPT] You are helpful.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello!</s>"
             "[INST] How are you?[/INST]");
  BOOST_TEST(render(chat_family::mistral_v7_tekken) ==
             "[SYSTEM_PROMPT]You are helpful.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello!</s>"
             "[INST]How are you?[/INST]");
  BOOST_TEST(render(chat_family::mistral_v3) ==
             "[INST] You are helpful.\n\nHi[/INST] Hello!</s>[INST] How are you?[/INST]");
  BOOST_TEST(render(chat_family::mistral_v3_tekken) ==
             "[INST]You are helpful.\n\nHi[/INST]Hello!</s>[INST]How are you?[/INST]");
  BOOST_TEST(render(chat_family::mistral_v1) ==
             " [INST] You are helpful.\n\nHi [/INST] Hello!</s> [INST] How are you? [/INST]");
}

BOOST_AUTO_TEST_CASE(renders_gemma_phi_zephyr) {
  BOOST_TEST(render(chat_family::gemma) ==
             "<start_of_turn>user\nYou are helpful.\n\nHi<end_of_turn>\n"
             "<start_of_turn>model\nHello!<end_of_turn>\n"
             "<start_of_turn>user\nHow are you?<end_of_turn>\n"
             "<start_of_turn>model\n");
  BOOST_TEST(render(chat_family::phi3) ==
             "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
             "<|user|>\nHow are you?<|end|>\n<|assistant|>\n");
  BOOST_TEST(render(chat_family::phi4) ==
             "<|im_start|>system<|im_sep|>You are helpful.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
             "<|im_start|>assistant<|im_sep|>Hello!<|im_end|><|im_start|>user<|im_sep|>How are you?"
             "<|im_end|><|im_start|>assistant<|im_sep|>");
  BOOST_TEST(render(chat_family::zephyr) ==
             "<|system|>\nYou are helpful.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n"
             "<|assistant|>\nHello!<|endoftext|>\n<|user|>\nHow are you?<|endoftext|>\n<|assistant|>\n");
}

BOOST_AUTO_TEST_CASE(renders_other_families) {
  BOOST_TEST(render(chat_family::command_r) ==
             "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are helpful.<|END_OF_TURN_TOKEN|>"
             "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
             "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello!<|END_OF_TURN_TOKEN|>"
             "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>How are you?<|END_OF_TURN_TOKEN|>"
             "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
  BOOST_TEST(render(chat_family::vicuna) ==
             "You are helpful.\n\nUSER: Hi\nASSISTANT: Hello!</s>\nUSER: How are you?\nASSISTANT:");
  BOOST_TEST(render(chat_family::deepseek) ==
             "You are helpful.### Instruction:\nHi\n### Response:\nHello!\n<|EOT|>\n"
             "### Instruction:\nHow are you?\n### Response:\n");
  BOOST_TEST(render(chat_family::granite) ==
             "<|start_of_role|>system<|end_of_role|>You are helpful.<|end_of_text|>\n"
             "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
             "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n"
             "<|start_of_role|>user<|end_of_role|>How are you?<|end_of_text|>\n"
             "<|start_of_role|>assistant<|end_of_role|>\n");
}
