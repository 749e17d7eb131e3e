#include "runtime/admin_query.hpp"

namespace holo {

result<proto::table> ask_admin_table(client& c, const std::string& kind, std::chrono::milliseconds timeout) {
  std::string id;
  auto frame = c.request(
      [&](const std::string& fresh) {
        id = fresh;
        proto::admin_request r;
        r.kind = kind;
        r.id = fresh;
        return proto::encode_admin_request(r);
      },
      timeout);
  if (!frame) return frame.error();
  auto reply = proto::decode_admin_reply(*frame, id);
  if (!reply) return reply.error();
  return reply->t;
}

}  // namespace holo
