#include "runtime/errors.hpp"

#include <caf/all.hpp>

namespace holo {

namespace {
constexpr caf::atom_value category = caf::atom("holo");
}

std::string to_string(errc x) {
  switch (x) {
    case errc::node_unreachable: return "node_unreachable";
    case errc::remote_timeout: return "remote_timeout";
    case errc::unknown_actor: return "unknown_actor";
    case errc::remote_failure: return "remote_failure";
    case errc::bad_frame: return "bad_frame";
    case errc::not_serializable: return "not_serializable";
  }
  return "unknown";
}

caf::error make_error(errc x, std::string context) {
  if (context.empty()) return caf::error{static_cast<std::uint8_t>(x), category};
  return caf::error{static_cast<std::uint8_t>(x), category, caf::make_message(std::move(context))};
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string s = "holo::" + to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>()) s += ": " + ctx.get_as<std::string>(0);
    return s;
  });
}

caf::error status_to_error(const status& s) {
  return make_error(errc::remote_failure, s.to_string());
}

}  // namespace holo
