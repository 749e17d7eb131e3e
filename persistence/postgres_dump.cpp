#include "persistence/postgres_dump.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "persistence/backup_io.hpp"

extern char** environ;

namespace holo::persistence {

namespace {

constexpr std::size_t stderr_keep = 2048;  // bytes of a tool's stderr kept for the error message

std::string tool_path(const std::string& name) {
  const char* dir = std::getenv("HOLO_PG_BINDIR");
  return dir != nullptr && dir[0] != '\0' ? std::string(dir) + "/" + name : name;
}

// Runs argv[0] (searched in PATH when it has no slash) with stdout discarded; its exit code, and the
// start of its stderr in `err`.
result<int> run_tool(const std::vector<std::string>& args, std::string& err) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return status::unavailable("pipe: " + errno_text(errno));
  unique_fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  (void)write_end.close("pipe");
  if (rc != 0) {
    if (rc == ENOENT)
      return status::not_found(args[0] + " not found (install postgresql-client, or set HOLO_PG_BINDIR)");
    return status::unavailable("cannot start " + args[0] + ": " + errno_text(rc));
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (err.size() < stderr_keep) err.append(buf, std::min<std::size_t>(std::size_t(n), stderr_keep - err.size()));
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return status::unavailable("waitpid " + args[0] + ": " + errno_text(errno));
  }
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return WEXITSTATUS(wstatus);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

result<std::uint64_t> dump_postgres(const std::string& dsn, const std::string& out_path) {
  // pg_dump opens the file itself (keeping an existing file's mode): create it 0600 first, so the
  // clear-text dump is never readable by anyone else.
  auto created = create_exclusive(out_path, 0600);
  if (!created) return created.error();
  (void)created->close(out_path);
  std::string err;
  auto rc = run_tool({tool_path("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file=" + out_path,
                      "--dbname=" + dsn},
                     err);
  if (!rc || *rc != 0) {
    (void)::unlink(out_path.c_str());
    if (!rc) return rc.error();
    return status::unavailable("pg_dump failed (exit " + std::to_string(*rc) + "): " + trimmed(err));
  }
  struct stat st{};
  if (::stat(out_path.c_str(), &st) != 0) return status::unavailable("cannot stat " + out_path + ": " + errno_text(errno));
  return static_cast<std::uint64_t>(st.st_size);
}

result<backup_record> create_postgres_backup(const std::string& dsn, const std::string& dir, const backup_key& key,
                                             const backup_options& options) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return status::unavailable("cannot create backup folder " + dir + ": " + errno_text(errno));
  const std::string dump = temp_sibling(dir + "/holo-snapshot", "pgdump");
  auto dumped = dump_postgres(dsn, dump);
  if (!dumped) return dumped.error();
  return archive_snapshot(dump, payload_kind::postgres_dump, dir, key, options);
}

result<archive_info> restore_postgres(const std::string& archive_path, const backup_key& key, const std::string& dsn) {
  auto header = read_archive_header(archive_path);
  if (!header) return header.error();
  if (header->kind != payload_kind::postgres_dump) {
    return status::failed_precondition(archive_path + " holds a " + to_string(header->kind) +
                                       ", not a PostgreSQL dump: restore it with --db");
  }
  const char* tmp = std::getenv("TMPDIR");
  const std::string dump = temp_sibling(std::string(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp") + "/holo-restore",
                                        "pgdump");
  // Every chunk is authenticated and the digest checked before pg_restore sees a byte.
  auto info = extract_archive(archive_path, key, dump);
  if (!info) return info.error();
  std::string err;
  auto rc = run_tool({tool_path("pg_restore"), "--single-transaction", "--exit-on-error", "--clean", "--if-exists",
                      "--no-owner", "--no-privileges", "--dbname=" + dsn, dump},
                     err);
  (void)::unlink(dump.c_str());
  if (!rc) return rc.error();
  if (*rc != 0)
    return status::unavailable("pg_restore failed (exit " + std::to_string(*rc) +
                               "; the transaction was rolled back, the database is unchanged): " + trimmed(err));
  return *info;
}

}  // namespace holo::persistence
