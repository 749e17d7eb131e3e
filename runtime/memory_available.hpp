// How much RAM a node can give to models now, for the placement planner: what the kernel says is
// available (MemAvailable: free pages plus the page cache it could drop) plus this process's own
// anonymous memory. Adding our own anonymous pages back makes the figure stable under our own
// loads: a KV cache we allocate moves bytes from MemAvailable to RssAnon, the sum stays; weights we
// mmap sit in the page cache, which MemAvailable already counts. Other programs growing or
// shrinking move it, which is the point: a desktop whose browser took 6 GiB has 6 GiB less for us.
//
// The node measures at start and then every few seconds (the health actor); a new figure is
// announced to the cluster only when it drifted far enough from the announced one
// (memory_drift_worth_announcing) so that the plan does not flap with every page fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace holo {

// "MemAvailable:  123456 kB" of /proc/meminfo text, in bytes; nullopt when absent or malformed.
std::optional<std::uint64_t> parse_meminfo_available(std::string_view meminfo);
// "RssAnon:  1234 kB" of /proc/<pid>/status text, in bytes; nullopt when absent or malformed.
std::optional<std::uint64_t> parse_status_rss_anon(std::string_view status);

// MemAvailable + this process's RssAnon, at most `total_bytes`. nullopt when /proc cannot be read
// (not Linux, or /proc not mounted): the caller then uses the total.
std::optional<std::uint64_t> usable_memory_bytes(std::uint64_t total_bytes);

// Whether `measured` differs from `announced` by at least max(announced / 8, 256 MiB): smaller
// swings (page cache churn, a burst of allocations) are not worth re-planning for.
bool memory_drift_worth_announcing(std::uint64_t announced, std::uint64_t measured);

}  // namespace holo
