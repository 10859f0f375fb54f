// JSON helpers for the wire formats' .cpp files only (simdjson is a heavy header):
// reading events and responses, and writing request bodies.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "moa/json_writer.hpp"
#include "runtime/call.hpp"

namespace moa::wire {

namespace od = simdjson::ondemand;

// Parses with this thread's parser (views die at its next use: copy what you keep).
// Pads `padded` in place.
bool parse(std::string& padded, od::document& doc);

// The raw body of a JSON string value (escapes intact), for decode_json_string:
// simdjson 3.0 rejects a lone surrogate, which streams split every N UTF-16 units send.
template <typename V>
bool raw_string(V&& v, std::string_view& out) {
    od::raw_json_string rs;
    if (std::forward<V>(v).get_raw_json_string().get(rs) != simdjson::SUCCESS) return false;
    const char* b = rs.raw();
    const char* e = b;
    while (*e != '"') e += *e == '\\' ? 2 : 1;  // the document was indexed: the quote is there
    out = std::string_view(b, static_cast<size_t>(e - b));
    return true;
}

// Request bodies, written with the one JsonWriter.
// The body reserves room for the messages and the other fields at once (one allocation).
// A JSON POST to `url` with room reserved for the call's messages in its body.
HttpRequest json_post(const Call& c, std::string url);
// A sampling parameter as %.6g (what the providers have always been sent).
JsonWriter& number(JsonWriter& w, double x);
// "messages": [{"role": ..., "content": ...}, ...] (OpenAI and Ollama share it).
void messages(JsonWriter& w, const std::vector<Message>& msgs);

}  // namespace moa::wire
