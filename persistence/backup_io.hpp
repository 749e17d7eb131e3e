// Small POSIX file helpers of the backup code (archive, snapshot, retention, key file): an
// owning file descriptor, full reads and writes that retry EINTR, fsync of a file's folder. Errors
// come back as holo::status values naming the path; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/status.hpp"

namespace holo::persistence {

std::string errno_text(int e);

// Owns a file descriptor; closes it on destruction.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes now and reports what close() saw (a delayed write error can surface only there).
  status close(const std::string& path);

 private:
  int fd_ = -1;
};

// Opens for reading (O_CLOEXEC). `not_found` when absent, `unavailable` for other errors.
result<unique_fd> open_read(const std::string& path);
// Creates a new file (O_EXCL, mode given) for writing.
result<unique_fd> create_exclusive(const std::string& path, unsigned mode);

// Reads up to `n` bytes, stopping early only at end of file; returns how many were read.
result<std::size_t> read_full(int fd, void* buf, std::size_t n, const std::string& path);
status write_full(int fd, const void* buf, std::size_t n, const std::string& path);
status fsync_fd(int fd, const std::string& path);
// fsync of the folder holding `path`, so a rename or create in it survives a power loss.
status fsync_parent_dir(const std::string& path);
// rename(2) then fsync of the folder.
status rename_durable(const std::string& from, const std::string& to);

// The folder part of `path` ("." when it has none).
std::string parent_dir(const std::string& path);
// A fresh name in the folder of `path`: `DIR/.BASE.TAG-RANDOM` (hidden, random suffix).
std::string temp_sibling(const std::string& path, const std::string& tag);

}  // namespace holo::persistence
