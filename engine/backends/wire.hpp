// What the remote providers share: the request an HTTP call sends, the WireFormat
// interface each provider implements (openai.cpp, anthropic.cpp, ollama.cpp), and the
// stream parser that splits SSE / NDJSON lines and hands each event to the format.
// No I/O here: http_transport.cpp moves the bytes.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "moa/graph_spec.hpp"
#include "runtime/call.hpp"

namespace moa {

struct HttpRequest {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
};

class StreamParser;

// One provider's API.
class WireFormat {
public:
    virtual ~WireFormat() = default;
    // `key` is the API key's value (may be empty for keyless backends). It goes into a
    // header only; nothing else built here contains it.
    virtual HttpRequest request(const Call& c, const std::string& key, bool stream) const = 0;
    // A complete (non-streaming) response with a 2xx status.
    virtual Reply parse_response(const std::string& body) const = 0;
    // The provider's own message from an error body, or a trimmed body.
    virtual std::string error_message(const std::string& body) const = 0;
    // How a stream is framed: SSE ("data: {...}" lines) or NDJSON (one object a line).
    enum class Framing { Sse, Ndjson };
    virtual Framing framing() const { return Framing::Sse; }
    // One event of a stream (a JSON object): text, usage, end marker or error, told to
    // `p`. False on a malformed or error event (after p.fail()).
    virtual bool event(std::string_view json, StreamParser& p) const = 0;
};

// Incremental stream parser: feed bytes as they arrive, in chunks of any size.
class StreamParser {
public:
    using TextFn = std::function<void(std::string_view)>;
    StreamParser() = default;  // parses nothing until assigned one with a format
    explicit StreamParser(const WireFormat& wire) : wire_(&wire) {}
    explicit StreamParser(BackendKind kind);  // the registered provider's format
    // Returns false on a malformed event (error() says why).
    bool feed(std::string_view bytes, const TextFn& on_text);
    bool complete() const { return complete_; }  // the provider's end-of-stream marker was seen
    // Call once the stream ended: a high surrogate still waiting for its low half
    // becomes U+FFFD (never silently dropped).
    void finish(const TextFn& on_text);
    bool error_transient() const { return error_transient_; }  // an in-stream overload/server error
    const std::string& text() const { return text_; }
    const std::string& error() const { return error_; }
    uint32_t tokens_in() const { return tokens_in_; }
    uint32_t tokens_out() const { return tokens_out_; }
    uint32_t tokens_cached() const { return tokens_cached_; }  // of tokens_in, from the prompt cache

    // For WireFormat::event.
    void text_piece(std::string_view raw_json_string);  // the body of a JSON string, escapes intact
    void mark_complete() { complete_ = true; }
    bool fail(std::string error, bool transient = false);  // returns false
    void set_tokens_in(uint64_t n) { tokens_in_ = static_cast<uint32_t>(n); }
    void set_tokens_out(uint64_t n) { tokens_out_ = static_cast<uint32_t>(n); }
    void set_tokens_cached(uint64_t n) { tokens_cached_ = static_cast<uint32_t>(n); }

private:
    bool line(std::string_view l);
    const WireFormat* wire_ = nullptr;
    const TextFn* on_text_ = nullptr;  // during feed()
    std::string pending_;  // bytes after the last newline
    std::string text_, error_;
    bool complete_ = false;
    bool error_transient_ = false;
    uint16_t high_surrogate_ = 0;  // \uD800-\uDBFF at the end of the last piece of text
    uint32_t tokens_in_ = 0, tokens_out_ = 0, tokens_cached_ = 0;
};

// Decodes the body of a JSON string (between its quotes, escapes intact) into UTF-8.
// A UTF-16 surrogate pair may be split across calls: `high` carries the high half
// from one call to the next; an unpaired half becomes U+FFFD.
void decode_json_string(std::string_view raw, std::string& out, uint16_t& high);

// Shared by the formats' parse_response: false (and `r` a "malformed response" error
// saying what is wrong) unless `body` is one complete JSON document.
bool whole_json(const std::string& body, Reply& r);
// A "malformed response" error: `why` names what is missing.
Reply malformed(const char* why);
// An answer with no text becomes an "empty answer" error.
Reply require_text(Reply r);
// An error body that is not the provider's JSON: its start, on one line.
std::string trimmed_body(const std::string& body);
// Overload and server errors reported inside a 200 stream are worth another try.
bool transient_error(std::string_view type, std::string_view message);

}  // namespace moa
