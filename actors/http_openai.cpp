#include "actors/http_openai.hpp"

namespace holo::http::openai {

namespace {

status unsupported(std::string what) { return status::unimplemented(what + " is not supported by this server"); }

// A message's content: a string, or an array of parts of which only {"type": "text"} is served.
result<std::string> content_of(const json_value& msg, std::size_t i) {
  auto* c = msg.find("content");
  const std::string name = "messages[" + std::to_string(i) + "].content";
  if (!c || c->is_null()) return std::string();  // an assistant turn that only called tools
  if (c->is_string()) return c->as_string();
  if (!c->is_array()) return field_error(name, "must be a string or an array of content parts");
  std::string text;
  for (auto& part : c->items()) {
    auto* type = part.find("type");
    auto* t = part.find("text");
    if (!type || !type->is_string()) return field_error(name, "parts need a 'type'");
    if (type->as_string() != "text") return unsupported("content of type '" + type->as_string() + "'");
    if (!t || !t->is_string()) return field_error(name, "text parts need a 'text' string");
    text += t->as_string();
  }
  return text;
}

status read_messages(const json_value& body, proto::generate_request& g) {
  auto* ms = body.find("messages");
  if (!ms || !ms->is_array()) return field_error("messages", "is required and must be an array");
  if (ms->items().empty()) return field_error("messages", "must not be empty");
  if (ms->items().size() > proto::messages_max)
    return field_error("messages", "has more than " + std::to_string(proto::messages_max) + " entries");
  for (std::size_t i = 0; i < ms->items().size(); ++i) {
    auto& m = ms->items()[i];
    if (!m.is_object()) return field_error("messages[" + std::to_string(i) + "]", "must be an object");
    auto* role = m.find("role");
    if (!role || !role->is_string()) return field_error("messages[" + std::to_string(i) + "].role", "is required");
    std::string r = role->as_string();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system prompt
    if (r != "system" && r != "user" && r != "assistant") return unsupported("role '" + role->as_string() + "'");
    auto text = content_of(m, i);
    if (!text) return text.error();
    g.messages.push_back({r, std::move(*text)});
  }
  return {};
}

status read_prompt(const json_value& body, proto::generate_request& g) {
  auto* p = body.find("prompt");
  if (!p || p->is_null()) return field_error("prompt", "is required");
  if (p->is_string()) {
    g.prompt = p->as_string();
  } else if (p->is_array() && p->items().size() == 1 && p->items()[0].is_string()) {
    g.prompt = p->items()[0].as_string();
  } else if (p->is_array()) {
    return unsupported("a prompt that is not one string (batches, token arrays)");
  } else {
    return field_error("prompt", "must be a string");
  }
  if (g.prompt->size() > proto::prompt_bytes_max)
    return field_error("prompt", "is longer than " + std::to_string(proto::prompt_bytes_max) + " bytes");
  return {};
}

// Sampling and length options shared by both endpoints, plus llama.cpp's common extensions.
status read_options(const json_value& body, endpoint kind, proto::generate_options& o) {
  auto num = [&](std::string_view k, std::optional<double>& out) -> status {
    auto v = opt_number(body, k);
    if (!v) return v.error();
    out = *v;
    return {};
  };
  HOLO_TRY(num("temperature", o.temperature));
  HOLO_TRY(num("top_p", o.top_p));
  HOLO_TRY(num("min_p", o.min_p));
  HOLO_TRY(num("frequency_penalty", o.frequency_penalty));
  HOLO_TRY(num("presence_penalty", o.presence_penalty));
  HOLO_TRY(num("repeat_penalty", o.repeat_penalty));
  auto top_k = opt_int(body, "top_k");
  if (!top_k) return top_k.error();
  o.top_k = *top_k;
  auto seed = opt_int(body, "seed");
  if (!seed) return seed.error();
  if (*seed) {
    if (**seed < 0) return field_error("seed", "must be 0 or more");
    o.seed = static_cast<std::uint64_t>(**seed);
  }
  // max_completion_tokens is the newer name; it wins when both are given.
  auto max_tokens = opt_int(body, "max_tokens");
  if (!max_tokens) return max_tokens.error();
  auto max_completion = opt_int(body, "max_completion_tokens");
  if (!max_completion) return max_completion.error();
  o.max_tokens = *max_completion ? *max_completion : *max_tokens;
  if (o.max_tokens && *o.max_tokens < 1) return field_error("max_tokens", "must be 1 or more");
  // OpenAI's legacy completions default to 16 tokens; chat runs until the model stops (node cap).
  if (!o.max_tokens && kind == endpoint::completion) o.max_tokens = 16;
  auto stop = string_or_list(body, "stop");
  if (!stop) return stop.error();
  o.stop = std::move(*stop);
  auto ignore_eos = opt_bool(body, "ignore_eos");  // llama-server's extension
  if (!ignore_eos) return ignore_eos.error();
  o.ignore_eos = ignore_eos->value_or(false);
  return {};
}

// Refuses what would silently change the meaning of the answer if ignored.
status refuse_unsupported(const json_value& body, endpoint kind) {
  if (auto n = opt_int(body, "n"); !n) return n.error();
  else if (*n && **n != 1) return unsupported("n other than 1");
  if (auto* l = body.find("logprobs"); l && !l->is_null() && !(l->is_bool() && !l->as_bool()))
    return unsupported("logprobs");
  if (auto* t = body.find("tools"); t && t->is_array() && !t->items().empty()) return unsupported("tools");
  if (auto* f = body.find("functions"); f && f->is_array() && !f->items().empty()) return unsupported("functions");
  if (auto* rf = body.find("response_format"); rf && rf->is_object()) {
    auto* type = rf->find("type");
    if (type && type->is_string() && type->as_string() != "text") return unsupported("response_format '" + type->as_string() + "'");
  }
  if (kind == endpoint::completion) {
    if (auto e = opt_bool(body, "echo"); !e) return e.error();
    else if (*e && **e) return unsupported("echo");
    if (auto s = opt_string(body, "suffix", 1 << 20); !s) return s.error();
    else if (*s && !(*s)->empty()) return unsupported("suffix");
    if (auto b = opt_int(body, "best_of"); !b) return b.error();
    else if (*b && **b != 1) return unsupported("best_of other than 1");
  }
  return {};
}

void common_head(json_out& j, const response_meta& m, bool chunk) {
  j.field("id", m.id);
  j.field("object", m.kind == endpoint::chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
  j.field("created", m.created);
  j.field("model", m.model);
  j.key("system_fingerprint").null();
}

void usage_object(json_out& j, const proto::done_event& d) {
  j.key("usage").begin_object();
  j.field("prompt_tokens", d.prompt_tokens);
  j.field("completion_tokens", d.generated_tokens);
  j.field("total_tokens", d.prompt_tokens + d.generated_tokens);
  j.end_object();
}

// One chunk with one choice; `fill` writes the choice's payload (delta or text) and finish_reason.
template <class Fill>
std::string chunk(const response_meta& m, Fill fill) {
  json_out j;
  j.begin_object();
  common_head(j, m, true);
  j.key("choices").begin_array().begin_object();
  j.field("index", 0);
  fill(j);
  j.end_object().end_array();
  if (m.include_usage) j.key("usage").null();
  j.end_object();
  return sse_event(j.text());
}

}  // namespace

result<request> parse_request(endpoint kind, std::string_view body_text) {
  auto parsed = parse_model_request(body_text);
  if (!parsed) return parsed.error();
  const json_value& body = parsed->body;
  request r;
  r.kind = kind;
  r.gen.model = std::move(parsed->model);
  HOLO_TRY(refuse_unsupported(body, kind));
  HOLO_TRY(kind == endpoint::chat ? read_messages(body, r.gen) : read_prompt(body, r.gen));
  HOLO_TRY(read_options(body, kind, r.gen.options));
  auto stream = opt_bool(body, "stream");
  if (!stream) return stream.error();
  r.stream = stream->value_or(false);
  if (auto* so = body.find("stream_options"); so && so->is_object()) {
    auto iu = opt_bool(*so, "include_usage");
    if (!iu) return iu.error();
    r.include_usage = iu->value_or(false);
  }
  if (auto user = opt_string(body, "user", proto::session_bytes_max); user.ok() && *user) r.gen.session = **user;
  return r;
}

std::string_view finish_reason(std::string_view done_reason) {
  return done_reason == "length" || done_reason == "context" ? "length" : "stop";
}

std::string sse_event(std::string_view json) {
  std::string s;
  s.reserve(json.size() + 8);
  s += "data: ";
  s += json;
  s += "\n\n";
  return s;
}

std::string chunk_role(const response_meta& m) {
  return chunk(m, [](json_out& j) {
    j.key("delta").begin_object().field("role", "assistant").field("content", "").end_object();
    j.key("logprobs").null();
    j.key("finish_reason").null();
  });
}

std::string chunk_text(const response_meta& m, std::string_view text) {
  return chunk(m, [&](json_out& j) {
    if (m.kind == endpoint::chat) j.key("delta").begin_object().field("content", text).end_object();
    else j.field("text", text);
    j.key("logprobs").null();
    j.key("finish_reason").null();
  });
}

std::string chunk_finish(const response_meta& m, const proto::done_event& done) {
  return chunk(m, [&](json_out& j) {
    if (m.kind == endpoint::chat) j.key("delta").begin_object().end_object();
    else j.field("text", "");
    j.key("logprobs").null();
    j.field("finish_reason", finish_reason(done.reason));
    // Our extension (clients ignore unknown keys): where it ran and how many dispatches it took.
    j.key("holo").begin_object().field("node", done.node).field("attempts", done.attempts).end_object();
  });
}

std::string chunk_usage(const response_meta& m, const proto::done_event& done) {
  json_out j;
  j.begin_object();
  common_head(j, m, true);
  j.key("choices").begin_array().end_array();
  usage_object(j, done);
  j.end_object();
  return sse_event(j.text());
}

std::string response(const response_meta& m, std::string_view text, const proto::done_event& done) {
  json_out j;
  j.begin_object();
  common_head(j, m, false);
  j.key("choices").begin_array().begin_object();
  j.field("index", 0);
  if (m.kind == endpoint::chat)
    j.key("message").begin_object().field("role", "assistant").field("content", text).end_object();
  else
    j.field("text", text);
  j.key("logprobs").null();
  j.field("finish_reason", finish_reason(done.reason));
  j.end_object().end_array();
  usage_object(j, done);
  j.key("holo").begin_object().field("node", done.node).field("attempts", done.attempts).end_object();
  j.end_object();
  return j.take();
}

std::string error_body(const http_error& e) {
  json_out j;
  j.begin_object().key("error").begin_object();
  j.field("message", e.message);
  j.field("type", e.type);
  if (e.param.empty()) j.key("param").null();
  else j.field("param", e.param);
  if (e.code.empty()) j.key("code").null();
  else j.field("code", e.code);
  j.end_object().end_object();
  return j.take();
}

std::string model_object(const model_entry& m) {
  json_out j;
  j.begin_object().field("id", m.id).field("object", "model").field("created", m.created).field("owned_by", "holobionte");
  j.end_object();
  return j.take();
}

std::string model_list(const std::vector<model_entry>& models) {
  json_out j;
  j.begin_object().field("object", "list").key("data").begin_array();
  for (auto& m : models) j.raw(model_object(m));
  j.end_array().end_object();
  return j.take();
}

}  // namespace holo::http::openai
