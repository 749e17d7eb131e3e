// holo keygen [--out BASE] [--force] | holo keygen --public-of FILE: make a node's CURVE keypair, or
// print the public key of a secret key file. The secret never goes to the terminal.
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/admin_key.hpp"
#include "runtime/keys.hpp"

namespace holo::cli {

namespace {

struct keygen_args {
  std::string out = "holo-node";
  bool force = false;
  std::string public_of;
  std::string admin;  // --admin FILE: make the shell's admin key instead of a keypair
};

// A TOML basic string: the path may hold quotes or backslashes; Z85 keys never do.
std::string toml_quoted(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

// The config names the key file from wherever the node starts, so print an absolute path.
std::string absolute_path(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();  // on failure, still right relative to here
}

int print_public_of(const std::string& path) {
  auto secret = read_secret_key_file(path);
  if (!secret) {
    std::cerr << "holo keygen: " << secret.error().message() << "\n";
    return 1;
  }
  auto pub = public_from_secret(*secret);
  if (!pub) {
    std::cerr << "holo keygen: " << path << ": " << pub.error().message() << "\n";
    return 1;
  }
  std::cout << *pub << "\n";
  return 0;
}

int generate(const keygen_args& a) {
  if (a.out.empty()) {
    std::cerr << "holo keygen: --out needs a base path, e.g. --out /etc/holobionte/nodo1\n";
    return 2;
  }
  auto keys = generate_keypair();
  if (!keys) {
    std::cerr << "holo keygen: " << keys.error().message() << "\n";
    return 1;
  }
  if (auto s = write_keypair_files(a.out, *keys, a.force); !s.ok()) {
    std::cerr << "holo keygen: " << s.message() << "\n";
    return 1;
  }
  const std::string key_path = absolute_path(a.out + ".key");
  std::cout << "wrote " << key_path << " (secret key, mode 0600: keep it on this node only)\n"
            << "  and " << absolute_path(a.out + ".pub") << " (public key)\n"
            << "public key: " << keys->public_z85 << "\n\n"
            << "Paste into this node's [[node]] section of the cluster configuration:\n"
            << "keys = { public_key = " << toml_quoted(keys->public_z85)
            << ", secret_key_file = " << toml_quoted(key_path) << " }\n";
  return 0;
}

// The shell's admin key (docs/shell.md): 32 random bytes as hex, mode 0600.
int generate_admin(const keygen_args& a) {
  auto key = generate_admin_key();
  if (!key) {
    std::cerr << "holo keygen: " << key.error().message() << "\n";
    return 1;
  }
  if (auto s = write_admin_key_file(a.admin, *key, a.force); !s.ok()) {
    std::cerr << "holo keygen: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << absolute_path(a.admin) << " (admin key, mode 0600)\n\n"
            << "Put it in the cluster configuration (every node reads it at start):\n"
            << "[admin]\nkey_file = " << toml_quoted(absolute_path(a.admin)) << "\n\n"
            << "and give it to the shell: holo shell --admin-key " << absolute_path(a.admin) << "\n";
  return 0;
}

}  // namespace

void add_keygen(CLI::App& app, command_registry& reg) {
  auto args = std::make_shared<keygen_args>();
  auto* sub = app.add_subcommand("keygen", "Make a CURVE keypair for a node (BASE.key, BASE.pub)");
  sub->footer(
      "Writes BASE.key (the secret key, created with mode 0600) and BASE.pub (the public key), then\n"
      "prints the `keys = { ... }` line for the node's [[node]] section. Every node's public key goes\n"
      "into the shared cluster configuration; the secret key file stays on its node only.\n"
      "Exit codes: 0 ok, 1 failure (e.g. the files exist: use --force), 2 usage error.\n"
      "With --admin FILE it makes the shell's admin key instead (docs/shell.md).\n"
      "Examples: holo keygen --out /etc/holobionte/nodo1\n"
      "          holo keygen --public-of /etc/holobionte/nodo1.key");
  auto* out = sub->add_option("-o,--out", args->out, "Base path of the key files")->capture_default_str();
  auto* force = sub->add_flag("-f,--force", args->force, "Replace existing BASE.key / BASE.pub");
  sub->add_option("--public-of", args->public_of, "Print the public key of this secret key file, write nothing")
      ->excludes(out)
      ->excludes(force);
  sub->add_option("--admin", args->admin, "Make the shell's admin key file FILE (64 hex characters, mode 0600)")
      ->excludes(out);
  reg.add(sub, [args] {
    if (!args->admin.empty()) return generate_admin(*args);
    return args->public_of.empty() ? generate(*args) : print_public_of(args->public_of);
  });
}

}  // namespace holo::cli
