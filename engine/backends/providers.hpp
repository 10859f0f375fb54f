// The three wire formats: OpenAI-compatible chat completions, Anthropic Messages,
// Ollama /api/chat. Request bodies, whole responses, and streams (SSE or NDJSON),
// parsed with simdjson (in providers.cpp only). No I/O here: http.cpp moves bytes.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/call.hpp"

namespace moa {

struct HttpRequest {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
};

// `key` is the API key's value (may be empty for keyless backends). It goes into a
// header only; nothing else built here contains it.
HttpRequest build_request(const Call& c, const std::string& key, bool stream);

// A complete (non-streaming) response with a 2xx status.
Reply parse_response(BackendKind kind, const std::string& body);

// The provider's own error message from an error body, or a trimmed body.
std::string provider_error_message(BackendKind kind, const std::string& body);

// Incremental stream parser: feed bytes as they arrive, in chunks of any size.
class StreamParser {
public:
    explicit StreamParser(BackendKind kind) : kind_(kind) {}
    // Returns false on a malformed event (error() says why).
    bool feed(std::string_view bytes, const std::function<void(std::string_view)>& on_text);
    bool complete() const { return complete_; }  // the provider's end-of-stream marker was seen
    // Call once the stream ended: a high surrogate still waiting for its low half
    // becomes U+FFFD (never silently dropped).
    void finish(const std::function<void(std::string_view)>& on_text);
    bool error_transient() const { return error_transient_; }  // an in-stream overload/server error
    const std::string& text() const { return text_; }
    const std::string& error() const { return error_; }
    uint32_t tokens_in() const { return tokens_in_; }
    uint32_t tokens_out() const { return tokens_out_; }

private:
    bool line(std::string_view l, const std::function<void(std::string_view)>& on_text);
    bool event(std::string_view json, const std::function<void(std::string_view)>& on_text);
    BackendKind kind_;
    std::string pending_;  // bytes after the last newline
    std::string text_, error_;
    bool complete_ = false;
    bool error_transient_ = false;
    uint16_t high_surrogate_ = 0;  // \uD800-\uDBFF at the end of the last piece of text
    uint32_t tokens_in_ = 0, tokens_out_ = 0;
};

// Decodes the body of a JSON string (between its quotes, escapes intact) into UTF-8.
// A UTF-16 surrogate pair may be split across calls: `high` carries the high half
// from one call to the next; an unpaired half becomes U+FFFD.
void decode_json_string(std::string_view raw, std::string& out, uint16_t& high);

}  // namespace moa
