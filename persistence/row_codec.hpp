// How the structured columns of the journal are stored, the same in both backends: token ids as
// little-endian int32 bytes (4 bytes a token), texts and chat messages as MessagePack arrays,
// sampling options as a MessagePack map (absent key = engine default). Decoding is bounded and
// never throws: a corrupt column is data_loss naming it. Internal to persistence/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/store.hpp"

namespace holo::persist::codec {

std::string encode_tokens(const std::vector<std::int32_t>& t);
result<std::vector<std::int32_t>> decode_tokens(std::string_view b);

std::string encode_texts(const std::vector<std::string>& t);
result<std::vector<std::string>> decode_texts(std::string_view b);

std::string encode_messages(const std::vector<chat_message>& m);
result<std::vector<chat_message>> decode_messages(std::string_view b);

std::string encode_sampling(const sampling_options& s);
result<sampling_options> decode_sampling(std::string_view b);

// Outbox row keys.
std::string session_key(const std::string& session_id, std::int64_t seq);

}  // namespace holo::persist::codec
