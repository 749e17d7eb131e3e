// Cluster frames: a versioned envelope around a catalogue message (runtime/cluster_messages.hpp).
//
//   frame = MessagePack array [v, kind, type, from_node, from_actor, to_node, to_actor, corr, body]
//     v        protocol version (1); another version is answered with an error, not parsed further
//     kind     1 send (one-way), 2 request, 3 response, 4 error (body = remote_error)
//     type     the message's wire_id
//     corr     correlation id: a response or error carries its request's
//     body     bin: the message's own MessagePack encoding
//
// Decoding is bounded everywhere (unpack limits, name lengths, frame size) and never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "runtime/status.hpp"
#include "runtime/wire_codec.hpp"

namespace holo::wire {

class element_pool;  // runtime/element_pool.hpp

inline constexpr std::uint8_t version = 1;
inline constexpr std::size_t frame_bytes_max = 64 << 20;  // activations of a pipeline hop fit
inline constexpr std::size_t name_bytes_max = 64;          // node and actor names
inline constexpr std::size_t array_elems_max = 1 << 20;
inline constexpr std::size_t depth_max = 8;

enum class frame_kind : std::uint8_t { send = 1, request = 2, response = 3, error = 4 };

struct envelope {
  std::uint8_t v = version;
  frame_kind kind = frame_kind::send;
  std::uint16_t type = 0;
  std::string from_node;
  std::string from_actor;
  std::string to_node;
  std::string to_actor;
  std::uint64_t correlation = 0;
  std::string body;
};

// The body of an error frame.
struct remote_error {
  static constexpr const char* wire_name = "holo_remote_error";
  std::uint8_t code = 0;  // holo::status_code
  std::string message;
  HOLO_WIRE_FIELDS(code, message)
};

// An envelope whose names and body point into the frame it was decoded from (valid while the
// frame is): what the transport's I/O thread decodes every frame into, without a copy or an
// allocation.
struct envelope_view {
  std::uint8_t v = version;
  frame_kind kind = frame_kind::send;
  std::uint16_t type = 0;
  std::string_view from_node;
  std::string_view from_actor;
  std::string_view to_node;
  std::string_view to_actor;
  std::uint64_t correlation = 0;
  std::string_view body;
};

std::string encode_envelope(const envelope& e);
// The envelope around a catalogue message (what encode_message takes), written into `out`
// (cleared first; its capacity is reused, so a caller with a buffer of its own allocates nothing).
status encode_frame_to(std::string& out, frame_kind kind, std::string_view from_node, std::string_view from_actor,
                       std::string_view to_node, std::string_view to_actor, std::uint64_t correlation,
                       const caf::message& msg);
// The same into a new string.
result<std::string> encode_frame(frame_kind kind, std::string_view from_node, std::string_view from_actor,
                                 std::string_view to_node, std::string_view to_actor, std::uint64_t correlation,
                                 const caf::message& msg);
// Both decoders check the same things (version, exactly the 9 fields of version 1 and their types,
// name lengths, no trailing bytes); decode_envelope copies what decode_envelope_view points to.
result<envelope_view> decode_envelope_view(std::string_view frame);
result<envelope> decode_envelope(std::string_view frame);

// Encodes a catalogue message held in `msg` (a caf::message with exactly one catalogue element).
// Fails with invalid_argument for anything else.
result<std::uint16_t> encode_message(const caf::message& msg, std::string& body_out);
// Decodes a body of catalogue type `type` into a caf::message holding that one element.
result<caf::message> decode_message(std::uint16_t type, std::string_view body);
// The same, straight into a mailbox element from `sender` with id `mid` (one allocation less than
// decode_message + make_mailbox_element: what the transport does for every inbound message). With
// `pool` (runtime/element_pool.hpp; only on the pool's owner thread) the element is a recycled one.
result<caf::mailbox_element_ptr> decode_to_mailbox(std::uint16_t type, std::string_view body,
                                                   caf::strong_actor_ptr sender, caf::message_id mid,
                                                   element_pool* pool = nullptr);
// The wire name of a type id, or "" if unknown.
std::string_view type_name(std::uint16_t type);

// Registers every catalogue type with CAF (names for diagnostics and, one day, CAF's own network).
void register_types(caf::actor_system_config& cfg);

}  // namespace holo::wire
