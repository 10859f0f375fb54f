// HTTP/1.1 wire pieces for the native client (backends/http_native.*), no I/O here:
// the parts of a plain http:// URL, the request head, and an incremental response
// parser (status line, headers, Content-Length / chunked / until-close bodies,
// gzip and deflate decoded with zlib).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moa::http1 {

struct Url {
    std::string host;        // without brackets for IPv6
    int port = 80;
    std::string target;      // path and query, "/" at least
    std::string userinfo;    // "user:password", percent-decoded; goes into Basic auth only
    std::string host_header; // Host: as written in the URL (brackets, port if given)
};

// Parses an http:// URL; false for anything else (https, a bad port, ...).
bool parse_url(const std::string& url, Url& out);

std::string base64(std::string_view in);

// The request head and body in one buffer, as curl sends a POST: the caller's
// headers, Basic auth from the userinfo unless an Authorization header is given,
// Content-Length, and Accept-Encoding for what the parser decodes.
std::string request(const Url& u, const std::vector<std::string>& headers, const std::string& body);

// Incremental response parser: feed() the bytes as they arrive.
class Response {
public:
    using Header = std::function<void(std::string_view name_lower, std::string_view value)>;
    using Body = std::function<bool(const char* data, size_t len)>;  // false aborts
    enum class Result { More, Done, Error, Aborted };
    Response();
    ~Response();
    Response(Response&&) noexcept;
    Response& operator=(Response&&) noexcept;

    // `on_header` sees every header of the final response (and a call with an empty
    // name when a new response head starts: after a 1xx); `on_body` the decoded body.
    Result feed(const char* data, size_t len, const Header& on_header, const Body& on_body);
    // The peer closed the connection: Done if the body is complete (read until close).
    Result eof(const Body& on_body);

    int status() const { return status_; }
    bool keep_alive() const { return keep_alive_; }
    bool got_bytes() const { return got_bytes_; }
    bool head_done() const { return state_ > State::Head; }
    const std::string& error() const { return error_; }  // why Error
    bool bad_encoding() const { return bad_encoding_; }

private:
    enum class State { Head, Fixed, ChunkSize, ChunkData, ChunkCrlf, Trailer, UntilClose, Done };
    Result head(const Header& on_header);
    Result body(const char* data, size_t len, size_t& used, const Body& on_body);
    bool emit(const char* data, size_t len, const Body& on_body);  // decodes, then on_body
    Result fail(std::string why);
    Result done_at(Result r, bool bytes_left);
    size_t head_end(size_t from) const;

    State state_ = State::Head;
    std::string head_;      // bytes of the head so far
    std::string line_;      // a chunk-size or trailer line so far
    uint64_t left_ = 0;     // body or chunk bytes still to come
    int status_ = 0;
    bool keep_alive_ = true;
    bool got_bytes_ = false;
    bool bad_encoding_ = false;
    bool aborted_ = false;
    std::string error_;
    struct Inflate;
    std::unique_ptr<Inflate> inflate_;
};

}  // namespace moa::http1
