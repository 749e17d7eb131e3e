#include "actors/http_ollama.hpp"

#include <algorithm>
#include <ctime>

namespace holo::http::ollama {

namespace {

status unsupported(std::string what) { return status::unimplemented(what + " is not supported by this server"); }

bool non_empty(const json_value* v) {
  if (!v || v->is_null()) return false;
  if (v->is_string()) return !v->as_string().empty();
  if (v->is_array()) return !v->items().empty();
  if (v->is_object()) return !v->members().empty();
  return true;
}

// Ollama's `options`, mapped to our sampler. Unknown options are ignored, as Ollama does (it only
// warns): they tune its runner (num_gpu, num_thread, mirostat...), not the meaning of the answer.
status read_options(const json_value& body, proto::generate_options& o) {
  auto* opts = body.find("options");
  if (!opts || opts->is_null()) return {};
  if (!opts->is_object()) return field_error("options", "must be an object");
  auto num = [&](std::string_view k, std::optional<double>& out) -> status {
    auto v = opt_number(*opts, k);
    if (!v) return v.error().with_context("options");
    out = *v;
    return {};
  };
  auto integer = [&](std::string_view k, std::optional<std::int64_t>& out) -> status {
    auto v = opt_int(*opts, k);
    if (!v) return v.error().with_context("options");
    out = *v;
    return {};
  };
  HOLO_TRY(num("temperature", o.temperature));
  HOLO_TRY(num("top_p", o.top_p));
  HOLO_TRY(num("min_p", o.min_p));
  HOLO_TRY(num("repeat_penalty", o.repeat_penalty));
  HOLO_TRY(num("frequency_penalty", o.frequency_penalty));
  HOLO_TRY(num("presence_penalty", o.presence_penalty));
  HOLO_TRY(integer("top_k", o.top_k));
  HOLO_TRY(integer("repeat_last_n", o.repeat_last_n));
  std::optional<std::int64_t> seed, num_predict, num_ctx;
  HOLO_TRY(integer("seed", seed));
  // Ollama's default seed is -1: random. Ours is "absent".
  if (seed && *seed >= 0) o.seed = static_cast<std::uint64_t>(*seed);
  HOLO_TRY(integer("num_predict", num_predict));
  HOLO_TRY(integer("num_ctx", num_ctx));
  // num_predict -1 (infinite) and -2 (fill the context) both mean: until the model stops, within
  // the node's cap.
  if (num_predict && *num_predict >= 0) o.max_tokens = *num_predict;
  else if (num_predict && *num_predict < -2) return field_error("options.num_predict", "must be -2, -1 or more");
  if (num_ctx) {
    if (*num_ctx < 1) return field_error("options.num_ctx", "must be 1 or more");
    // The KV window is the model's configured context_length, fixed per shard; a smaller num_ctx
    // can only bound what is generated within it.
    if (!o.max_tokens || *o.max_tokens > *num_ctx) o.max_tokens = *num_ctx;
  }
  auto stop = string_or_list(*opts, "stop");
  if (!stop) return stop.error().with_context("options");
  o.stop = std::move(*stop);
  return {};
}

status read_chat(const json_value& body, request& r) {
  auto* ms = body.find("messages");
  if (!ms || ms->is_null() || (ms->is_array() && ms->items().empty())) {
    r.load_only = true;
    return {};
  }
  if (!ms->is_array()) return field_error("messages", "must be an array");
  if (ms->items().size() > proto::messages_max)
    return field_error("messages", "has more than " + std::to_string(proto::messages_max) + " entries");
  for (std::size_t i = 0; i < ms->items().size(); ++i) {
    auto& m = ms->items()[i];
    const auto at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return field_error(at, "must be an object");
    auto role = opt_string(m, "role", 64);
    if (!role) return role.error();
    if (!*role) return field_error(at + ".role", "is required");
    if (**role != "system" && **role != "user" && **role != "assistant") return unsupported("role '" + **role + "'");
    auto content = opt_string(m, "content", proto::prompt_bytes_max);
    if (!content) return content.error();
    if (non_empty(m.find("images"))) return unsupported("images");
    if (non_empty(m.find("tool_calls"))) return unsupported("tool calls");
    r.gen.messages.push_back({**role, content->value_or("")});
  }
  return {};
}

status read_generate(const json_value& body, request& r) {
  auto prompt = opt_string(body, "prompt", proto::prompt_bytes_max);
  if (!prompt) return prompt.error();
  auto system = opt_string(body, "system", proto::prompt_bytes_max);
  if (!system) return system.error();
  auto raw = opt_bool(body, "raw");
  if (!raw) return raw.error();
  if (non_empty(body.find("images"))) return unsupported("images");
  if (non_empty(body.find("suffix"))) return unsupported("suffix (fill-in-the-middle)");
  if (non_empty(body.find("template"))) return unsupported("a template override");
  if (non_empty(body.find("context"))) return unsupported("context (token state from an earlier reply)");
  if (!*prompt || (*prompt)->empty()) {
    r.load_only = true;
    return {};
  }
  // Like Ollama: the prompt goes through the model's chat template as a user turn, unless raw.
  if (raw->value_or(false)) {
    r.gen.prompt = **prompt;
    return {};
  }
  if (*system && !(*system)->empty()) r.gen.messages.push_back({"system", **system});
  r.gen.messages.push_back({"user", **prompt});
  return {};
}

void details(json_out& j, const model_description& m) {
  j.key("details").begin_object();
  j.field("parent_model", "");
  j.field("format", "gguf");
  j.field("family", m.architecture);
  j.key("families");
  if (m.architecture.empty()) j.null();
  else j.begin_array().str(m.architecture).end_array();
  j.field("parameter_size", m.parameter_size);
  j.field("quantization_level", m.quantization);
  j.end_object();
}

std::string rfc3339(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void model_entry(json_out& j, const model_description& m) {
  j.begin_object();
  j.field("name", m.name);
  j.field("model", m.name);
  j.field("modified_at", rfc3339(m.modified_unix));
  j.field("size", static_cast<std::int64_t>(m.size_bytes));
  j.field("digest", m.digest);
  details(j, m);
}

void head(json_out& j, std::string_view model) {
  j.field("model", model);
  j.field("created_at", rfc3339_now());
}

void text_payload(json_out& j, endpoint kind, std::string_view text) {
  if (kind == endpoint::chat) j.key("message").begin_object().field("role", "assistant").field("content", text).end_object();
  else j.field("response", text);
}

std::int64_t ns(double ms) { return static_cast<std::int64_t>(std::max(0.0, ms) * 1e6); }

}  // namespace

result<request> parse_request(endpoint kind, std::string_view body_text) {
  auto parsed = parse_model_request(body_text);
  if (!parsed) return parsed.error();
  const json_value& body = parsed->body;
  request r;
  r.kind = kind;
  r.gen.model = std::move(parsed->model);
  if (non_empty(body.find("format"))) return unsupported("format (JSON mode and schemas)");
  if (non_empty(body.find("tools"))) return unsupported("tools");
  HOLO_TRY(kind == endpoint::chat ? read_chat(body, r) : read_generate(body, r));
  HOLO_TRY(read_options(body, r.gen.options));
  auto stream = opt_bool(body, "stream");
  if (!stream) return stream.error();
  r.stream = stream->value_or(true);
  return r;
}

std::string_view done_reason(std::string_view reason) {
  return reason == "length" || reason == "context" ? "length" : "stop";
}

std::string line_text(endpoint kind, std::string_view model, std::string_view text) {
  json_out j;
  j.begin_object();
  head(j, model);
  text_payload(j, kind, text);
  j.field("done", false);
  j.end_object();
  return j.take() + "\n";
}

std::string line_final(endpoint kind, std::string_view model, std::string_view text, const proto::done_event& d) {
  json_out j;
  j.begin_object();
  head(j, model);
  text_payload(j, kind, text);
  j.field("done", true);
  j.field("done_reason", done_reason(d.reason));
  const auto& t = d.timings;
  const double ttft = t.ttft_ms < 0 ? t.total_ms : t.ttft_ms;
  j.field("total_duration", ns(t.total_ms));
  j.field("load_duration", ns(t.queue_ms));  // waiting for a replica is what a load is to Ollama
  j.field("prompt_eval_count", d.prompt_tokens);
  j.field("prompt_eval_duration", ns(ttft - t.queue_ms));
  j.field("eval_count", d.generated_tokens);
  j.field("eval_duration", ns(t.total_ms - ttft));
  j.end_object();
  return j.take() + "\n";
}

std::string line_loaded(endpoint kind, std::string_view model) {
  json_out j;
  j.begin_object();
  head(j, model);
  text_payload(j, kind, "");
  j.field("done", true);
  j.field("done_reason", "load");
  j.end_object();
  return j.take() + "\n";
}

std::string error_body(std::string_view message) {
  json_out j;
  j.begin_object().field("error", message).end_object();
  return j.take();
}

std::string tags(const std::vector<model_description>& models) {
  json_out j;
  j.begin_object().key("models").begin_array();
  for (auto& m : models) {
    model_entry(j, m);
    j.end_object();
  }
  j.end_array().end_object();
  return j.take();
}

std::string ps(const std::vector<model_description>& models) {
  json_out j;
  j.begin_object().key("models").begin_array();
  for (auto& m : models) {
    model_entry(j, m);
    // Loaded until the node stops: there is no keep_alive expiry.
    j.field("expires_at", "9999-12-31T23:59:59Z");
    j.field("size_vram", 0);
    j.end_object();
  }
  j.end_array().end_object();
  return j.take();
}

std::string show(const model_description& m, std::int64_t configured_context) {
  json_out j;
  j.begin_object();
  j.field("modelfile", "# served by Holobionte: " + m.name + "\nFROM " + m.path + "\n");
  j.field("parameters", configured_context > 0 ? "num_ctx " + std::to_string(configured_context) : std::string());
  j.field("template", m.chat_template);
  details(j, m);
  j.key("model_info").begin_object();
  j.field("general.architecture", m.architecture);
  if (!m.architecture.empty() && m.context_length > 0) j.field(m.architecture + ".context_length", m.context_length);
  j.end_object();
  j.key("capabilities").begin_array().str("completion").end_array();
  j.field("modified_at", rfc3339(m.modified_unix));
  j.end_object();
  return j.take();
}

std::string version(std::string_view v) {
  json_out j;
  j.begin_object().field("version", v).end_object();
  return j.take();
}

}  // namespace holo::http::ollama
