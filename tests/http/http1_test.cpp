// The native client's HTTP/1.1 pieces without a socket: the response parser fed every
// case of a table whole, byte by byte and in odd slices (a server's bytes arrive in
// any split), and the URL parser. What a hostile or sloppy server sends must end in a
// clear error or in the answer curl would give, never in a wait for bytes that cannot
// come or in memory that grows with what the server sends.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

#include "backends/http1.hpp"

using moa::http1::Response;
using moa::http1::Url;

namespace {

struct Outcome {
    Response::Result result = Response::Result::More;
    int status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // of the last head
    bool keep_alive = false;
    std::string error;
};

// Feeds `bytes` in slices of `step`; then, if the parser still wants more and the
// server closes after its bytes, eof().
Outcome parse(const std::string& bytes, size_t step, bool close_after) {
    Outcome o;
    Response r;
    auto on_header = [&](std::string_view name, std::string_view value) {
        if (name.empty()) o.headers.clear();
        else o.headers.emplace_back(name, value);
    };
    auto on_body = [&](const char* d, size_t n) {
        o.body.append(d, n);
        return true;
    };
    size_t pos = 0;
    for (; pos < bytes.size() && o.result == Response::Result::More; pos += step)
        o.result = r.feed(bytes.data() + pos, std::min(step, bytes.size() - pos), on_header, on_body);
    if (o.result == Response::Result::More && close_after) o.result = r.eof(on_body);
    o.status = r.status();
    o.keep_alive = r.keep_alive();
    // Bytes after the answer that a later read brings arrive on an idle connection,
    // which the client closes (NativeHttp::ready); those of the same read, the parser
    // sees (keep_alive() turns false).
    if (o.result == Response::Result::Done && pos < bytes.size()) o.keep_alive = false;
    o.error = r.error();
    return o;
}

std::string gzip(const std::string& text) {
    z_stream z{};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string out(text.size() + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

struct Case {
    const char* name;
    std::string bytes;
    bool close_after;  // the server closes the connection after these bytes
    bool ok;           // Done, else Error
    int status;
    std::string body;  // when ok
    bool keep_alive;   // when ok
    std::string error; // a part of the error, when not ok
};

std::vector<Case> cases() {
    std::string big_trailer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Trailer: " +
                              std::string(200000, 'a');
    std::string no_crlf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi" + std::string(200000, 'b');
    std::string gz = gzip("{\"answer\":\"hello\"}");
    return {
        {"Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, true, 200, "hello", true, ""},
        {"chunked body with a chunk extension and a trailer",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", false,
         true, 200, "hello world", true, ""},
        {"HTTP/1.0 body until the server closes", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc", true, true, 200,
         "abc", false, ""},
        {"100 Continue before the answer",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true, 200, "ok", true, ""},
        {"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", false, true, 204, "", true, ""},
        {"Connection: close is not kept", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", false, true,
         200, "x", false, ""},
        {"a head with bare LF line ends (curl reads it too)", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", false, true, 200,
         "hi", true, ""},
        {"a head whose last lines mix LF and CRLF", "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nhi", false, true, 200, "hi",
         true, ""},
        {"chunk lines with bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\n0\n\n", false, true, 200,
         "hi", true, ""},
        {"the same Content-Length twice, or as a list of one value",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi", false, true, 200, "hi", true, ""},
        {"chunked wins over Content-Length, and the connection is not reused",
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", false, true,
         200, "hi", false, ""},
        {"a gzip body is decoded", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
                                       std::to_string(gz.size()) + "\r\n\r\n" + gz,
         false, true, 200, "{\"answer\":\"hello\"}", true, ""},
        {"bytes after the answer: the connection is not reused",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n", false, true, 200, "hi", false, ""},
        // Errors.
        {"two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", false,
         false, 200, "", false, "Content-Length"},
        {"a Content-Length that is not a number", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhi", false, false, 200, "",
         false, "Content-Length"},
        {"a negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi", false, false, 200, "", false,
         "Content-Length"},
        {"a transfer coding other than chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", true, false, 200,
         "", false, "Transfer-Encoding"},
        {"a trailer line that never ends", big_trailer, false, false, 200, "", false, "trailer"},
        {"chunk data that runs past its size with no CRLF", no_crlf, false, false, 200, "", false, "CRLF"},
        {"a head larger than 64 KiB", "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70000, 'h'), false, false, 0, "", false,
         "64 KiB"},
        {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", false, false, 0, "", false, "not an HTTP/1.x response"},
        {"a two-digit status", "HTTP/1.1 99 Odd\r\n\r\n", false, false, 99, "", false, "status"},
        {"closed with no byte", "", true, false, 0, "", false, "no response"},
        {"closed in the middle of the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", true, false, 200, "",
         false, "before the end"},
        {"a body that is not gzip", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello", false,
         false, 200, "", false, "compressed"},
        {"an encoding the client did not offer", "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx",
         false, false, 200, "", false, "Content-Encoding: br"},
    };
}

}  // namespace

TEST_CASE("http1: every response of the table parses the same whole, byte by byte and in odd slices") {
    for (const Case& c : cases()) {
        for (size_t step : {c.bytes.size() ? c.bytes.size() : 1, size_t{1}, size_t{2}, size_t{7}, size_t{4096}}) {
            INFO(c.name << " (fed " << step << " bytes at a time)");
            Outcome o = parse(c.bytes, step, c.close_after);
            if (c.ok) {
                CHECK(o.result == Response::Result::Done);
                CHECK(o.error == "");
                CHECK(o.status == c.status);
                CHECK(o.body == c.body);
                CHECK(o.keep_alive == c.keep_alive);
            } else {
                CHECK(o.result == Response::Result::Error);
                CHECK_THAT(o.error, Catch::Contains(c.error));
                CHECK_FALSE(o.keep_alive);
            }
        }
    }
}

TEST_CASE("http1: the headers of the final response reach the caller, lower-cased and trimmed") {
    Outcome o = parse("HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After:  3 \r\n"
                      "Content-Type: application/json\nContent-Length: 2\r\n\r\n{}",
                      3, false);
    REQUIRE(o.result == Response::Result::Done);
    CHECK(o.status == 429);
    using H = std::pair<std::string, std::string>;
    CHECK(o.headers == std::vector<H>{{"retry-after", "3"}, {"content-type", "application/json"}, {"content-length", "2"}});
}

TEST_CASE("http1: URLs with a control character or a space are not parsed, so libcurl refuses them as it does any") {
    Url u;
    CHECK(moa::http1::parse_url("http://127.0.0.1:8080/v1", u));
    CHECK(u.target == "/v1");
    for (const char* bad : {"http://127.0.0.1/v1\r\nX-Injected: 1", "http://127.0.0.1/v1 HTTP/1.0", "http://127.0.0.1/v\x01",
                            "http://127.0.0.1:80\n/v1", "http://127.0.0.1/v1\t"}) {
        INFO(bad);
        CHECK_FALSE(moa::http1::parse_url(bad, u));
    }
}

TEST_CASE("http1: a password in the URL goes into Basic auth only, decoded") {
    Url u;
    REQUIRE(moa::http1::parse_url("http://user:p%40ss@[::1]:8080/v1?x=1#frag", u));
    CHECK(u.host == "::1");
    CHECK(u.port == 8080);
    CHECK(u.target == "/v1?x=1");
    CHECK(u.userinfo == "user:p@ss");
    CHECK(u.host_header == "[::1]:8080");
    std::string req = moa::http1::request(u, {"Content-Type: application/json"}, "{}");
    CHECK_THAT(req, Catch::StartsWith("POST /v1?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"));
    CHECK_THAT(req, Catch::Contains("Authorization: Basic " + moa::http1::base64("user:p@ss") + "\r\n"));
    CHECK(req.find("p@ss") == std::string::npos);
    CHECK(req.find("p%40ss") == std::string::npos);
}
