// The shell's admin key (docs/shell.md, docs/security.md): a secret token shared by the operator's
// shell and every node of a cluster. Admin client kinds (kill, drain, checkpoint, backup) carry it
// in their `admin_key` field; a node compares it with the key it read at start.
//
// Format: one line of 64 lowercase hex characters (32 random bytes), in a regular file of mode 0600
// (a file others may read is refused, as ssh refuses such private keys).
//
// Plain functions, no shared state: any thread may call them. Failures are values: `not_found` for
// a missing file, `failed_precondition` for a file group or others may read, `invalid_argument` for
// content that is not a key, `already_exists` when a write would overwrite, `unavailable` for I/O.
#pragma once

#include <string>
#include <string_view>

#include "runtime/status.hpp"

namespace holo {

inline constexpr std::size_t admin_key_bytes = 32;
inline constexpr std::size_t admin_key_hex_chars = 2 * admin_key_bytes;

// 32 bytes from the kernel's random source (getrandom), as 64 hex characters.
result<std::string> generate_admin_key();

// Creates `path` with O_EXCL and mode 0600 holding `key` and a newline. With `overwrite`, an
// existing file is unlinked first (its mode never carries over).
status write_admin_key_file(const std::string& path, const std::string& key, bool overwrite);

// Reads and checks a key file (see the format above). Errors name the path.
result<std::string> read_admin_key_file(const std::string& path);

// True when `given` equals `expected`; the time taken depends on the lengths only, never on where
// the first difference is (a remote caller cannot guess the key byte by byte). An empty `expected`
// (no key configured) matches nothing.
bool admin_key_matches(std::string_view given, std::string_view expected);

}  // namespace holo
