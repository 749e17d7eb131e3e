// --log-level / --log-format, shared by the subcommands that run something long-lived.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/logging.hpp"

namespace holo::cli {

struct log_options {
  std::string level = "info";
  std::string format = "text";

  void add_to(CLI::App* sub) {
    sub->add_option("--log-level", level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();
    sub->add_option("--log-format", format, "text (for people) or json (one JSON object per line)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
  }
  std::shared_ptr<const log::sink> make_sink() const {
    return std::make_shared<log::sink>(*log::parse_level(level), *log::parse_format(format));
  }
};

}  // namespace holo::cli
