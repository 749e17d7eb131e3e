// The build's version, for --version, logs, the health reply and holo_build_info.
#pragma once

#include <string_view>

namespace holo {

inline constexpr std::string_view version_string() { return "0.1.0"; }

}  // namespace holo
