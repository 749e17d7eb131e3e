// libFuzzer target for the cluster frame decoder: any bytes a peer (or an attacker that reached
// the port) can send. Decodes the envelope, then the body of whatever type it names. Built and run
// for a bounded time by test/fuzz.sh (ctest: fuzz_wire).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>

#include "runtime/element_pool.hpp"
#include "runtime/wire.hpp"
#include "runtime/wire_batch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto e = holo::wire::decode_envelope(frame);
  if (e.ok()) (void)holo::wire::decode_message(e->type, e->body);
  // A batch (first byte 0xc1): split it as the I/O thread does, and decode every frame inside.
  (void)holo::wire::for_each_batched_frame(frame, [](std::string_view f) {
    if (auto inner = holo::wire::decode_envelope(f); inner.ok()) (void)holo::wire::decode_message(inner->type, inner->body);
  });
  // The body decoder is reachable directly too (a valid envelope around a hostile body).
  if (size > 2) (void)holo::wire::decode_message(static_cast<std::uint16_t>(data[0] % 12), frame.substr(1));
  // And into recycled elements, as the I/O thread decodes: whatever earlier inputs left in an
  // element is overwritten or the decode fails; either way the element goes back (ASan watches).
  static auto* pool = holo::wire::element_pool::create();
  if (size > 2)
    (void)holo::wire::decode_to_mailbox(static_cast<std::uint16_t>(data[0] % 32), frame.substr(1), nullptr,
                                        caf::make_message_id(), pool);
  return 0;
}
