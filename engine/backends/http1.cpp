#include "backends/http1.hpp"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "moa/ascii.hpp"

namespace moa::http1 {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool has_header(const std::vector<std::string>& headers, std::string_view name) {
    for (const auto& h : headers)
        if (h.size() > name.size() && h[name.size()] == ':' && ascii::lower(std::string_view(h).substr(0, name.size())) == name)
            return true;
    return false;
}

}  // namespace

bool parse_url(const std::string& url, Url& out) {
    if (url.size() < 7 || ascii::lower(std::string_view(url).substr(0, 7)) != "http://") return false;
    // A space or a control character would end up in the request line or the Host
    // header (a CR LF there writes a header of its own): such a URL is left to
    // libcurl, which refuses it ("URL rejected: Malformed input").
    for (unsigned char c : url)
        if (c <= 0x20 || c == 0x7f) return false;
    std::string_view rest = std::string_view(url).substr(7);
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
    out = Url{};
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
        out.userinfo = percent_decode(authority.substr(0, at));
        authority = authority.substr(at + 1);
    }
    out.host_header = std::string(authority);
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) return false;
        out.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') return false;
        if (!after.empty()) port = after.substr(1);
    } else {
        size_t colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (out.host.empty()) return false;
    if (!port.empty()) {
        int p = 0;
        for (char c : port) {
            if (!ascii::is_digit(c) || p > 65535) return false;
            p = p * 10 + (c - '0');
        }
        if (p < 1 || p > 65535) return false;
        out.port = p;
    }
    out.target = target.empty() ? "/" : target[0] == '?' ? "/" + std::string(target) : std::string(target);
    return true;
}

std::string base64(std::string_view in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
    }
    return out;
}

std::string request(const Url& u, const std::vector<std::string>& headers, const std::string& body) {
    std::string r;
    r.reserve(256 + body.size() + 64 * headers.size());
    r += "POST ";
    r += u.target;
    r += " HTTP/1.1\r\nHost: ";
    r += u.host_header;
    r += "\r\n";
    // As curl does with user:password in a URL (the password never leaves this header).
    if (!u.userinfo.empty() && !has_header(headers, "authorization")) r += "Authorization: Basic " + base64(u.userinfo) + "\r\n";
    if (!has_header(headers, "accept")) r += "Accept: */*\r\n";
    r += "Accept-Encoding: gzip, deflate\r\n";
    for (const auto& h : headers) {
        r += h;
        r += "\r\n";
    }
    r += "Content-Length: ";
    r += std::to_string(body.size());
    r += "\r\n\r\n";
    r += body;
    return r;
}

struct Response::Inflate {
    z_stream z{};
    bool ended = false;
    Inflate() { inflateInit2(&z, 15 + 32); }  // zlib or gzip, told by the header
    ~Inflate() { inflateEnd(&z); }
};

Response::Response() = default;
Response::~Response() = default;
Response::Response(Response&&) noexcept = default;
Response& Response::operator=(Response&&) noexcept = default;

Response::Result Response::fail(std::string why) {
    error_ = std::move(why);
    keep_alive_ = false;
    return Result::Error;
}

Response::Result Response::feed(const char* data, size_t len, const Header& on_header, const Body& on_body) {
    if (len) got_bytes_ = true;
    size_t pos = 0;
    while (pos < len || state_ == State::Head) {
        if (state_ == State::Done) {
            keep_alive_ = false;  // bytes after the response: nothing to reuse
            return Result::Done;
        }
        if (state_ == State::Head) {
            size_t old = head_.size();
            head_.append(data + pos, len - pos);
            size_t end = head_end(old >= 2 ? old - 2 : 0);
            if (end == std::string::npos) {
                if (head_.size() > (64u << 10)) return fail("response head larger than 64 KiB");
                return Result::More;
            }
            pos += end - old;
            head_.resize(end);
            if (Result r = head(on_header); r != Result::More) return done_at(r, pos < len);
            continue;
        }
        size_t used = 0;
        Result r = body(data + pos, len - pos, used, on_body);
        pos += used;
        if (r != Result::More) return done_at(r, pos < len);
    }
    return state_ == State::Done ? Result::Done : Result::More;
}

// Bytes after a complete response (a misbehaving server, or one that pipelines
// something nobody asked for) would be read as the start of the next answer on
// this connection: it is not reused.
Response::Result Response::done_at(Result r, bool bytes_left) {
    if (r == Result::Done && bytes_left) keep_alive_ = false;
    return r;
}

// Just past the empty line that ends the head, searching from `from`; npos if it has
// not arrived. Lines end with CRLF or, as some servers write them and curl reads
// them, a bare LF.
size_t Response::head_end(size_t from) const {
    for (size_t i = head_.find('\n', from); i != std::string::npos; i = head_.find('\n', i + 1)) {
        if (i + 1 < head_.size() && head_[i + 1] == '\n') return i + 2;
        if (i + 2 < head_.size() && head_[i + 1] == '\r' && head_[i + 2] == '\n') return i + 3;
    }
    return std::string::npos;
}

namespace {

// "5" or "5, 5" (a list of one value, RFC 9110 8.6): that length; nullopt for
// anything else, which is not a length a body can be framed by.
std::optional<uint64_t> content_length(std::string_view v) {
    std::optional<uint64_t> n;
    for (size_t p = 0;;) {
        size_t comma = v.find(',', p);
        std::string_view item = ascii::trim(v.substr(p, comma == std::string_view::npos ? comma : comma - p));
        if (item.empty() || item.size() > 18) return std::nullopt;
        uint64_t x = 0;
        for (char c : item) {
            if (!ascii::is_digit(c)) return std::nullopt;
            x = x * 10 + static_cast<uint64_t>(c - '0');
        }
        if (n && *n != x) return std::nullopt;
        n = x;
        if (comma == std::string_view::npos) return n;
        p = comma + 1;
    }
}

// The next line of a head from `p` (ending in LF or CRLF, without it).
std::string_view next_line(std::string_view h, size_t& p) {
    size_t e = h.find('\n', p);
    std::string_view line = h.substr(p, e == std::string_view::npos ? e : e - p);
    p = e == std::string_view::npos ? h.size() : e + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

// long: one pass over the status line and the headers the framing depends on.
Response::Result Response::head(const Header& on_header) {
    std::string_view h(head_);
    size_t p = 0;
    std::string_view status_line = next_line(h, p);
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ')
        return fail("not an HTTP/1.x response");
    bool http10 = status_line[7] == '0';
    status_ = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    if (status_ < 100 || status_ > 999) return fail("bad status line");
    on_header("", "");
    keep_alive_ = !http10;
    bool has_length = false;
    uint64_t length = 0;
    std::string encoding, te, bad_length;
    while (p < h.size()) {
        std::string_view line = next_line(h, p);
        if (line.empty()) break;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = ascii::lower(line.substr(0, colon));
        std::string_view value = ascii::trim(line.substr(colon + 1));
        on_header(name, value);
        // The value in lower case only for the headers that frame the body (a
        // provider sends twenty others, each a copy for nothing).
        if (name == "content-length") {
            std::optional<uint64_t> n = content_length(ascii::lower(value));
            if (!n || (has_length && *n != length)) bad_length = value;
            else has_length = true, length = *n;
        } else if (name == "transfer-encoding") {
            std::string v = ascii::lower(value);
            te += te.empty() ? v : ", " + v;
        } else if (name == "connection") {
            std::string v = ascii::lower(value);
            if (v.find("close") != std::string::npos) keep_alive_ = false;
            if (v.find("keep-alive") != std::string::npos && http10) keep_alive_ = true;
        } else if (name == "content-encoding") {
            encoding = ascii::lower(value);
        }
    }
    head_.clear();
    if (status_ >= 100 && status_ < 200) return Result::More;  // 100 Continue and the like: the real head follows
    bool chunked = false;
    if (!te.empty()) {
        // The last coding frames the body; only chunked is one a client can read.
        std::string_view last = ascii::trim(std::string_view(te).substr(te.rfind(',') == std::string::npos ? 0 : te.rfind(',') + 1));
        if (last != "chunked") return fail("unsupported Transfer-Encoding: " + te);
        chunked = true;
        // With both, chunked frames the body (RFC 9112 6.3): the length is ignored,
        // and the connection is not reused (it may have been framed otherwise upstream).
        if (has_length || !bad_length.empty()) keep_alive_ = false;
    } else if (!bad_length.empty()) {
        return fail("bad Content-Length: " + bad_length);
    }
    if (!encoding.empty() && encoding != "identity") {
        if (encoding != "gzip" && encoding != "x-gzip" && encoding != "deflate") {
            bad_encoding_ = true;
            return fail("unsupported Content-Encoding: " + encoding);
        }
        inflate_ = std::make_unique<Inflate>();
    }
    if (status_ == 204 || status_ == 304) state_ = State::Done;
    else if (chunked) state_ = State::ChunkSize;
    else if (has_length) state_ = length == 0 ? State::Done : State::Fixed, left_ = length;
    else state_ = State::UntilClose, keep_alive_ = false;
    return state_ == State::Done ? Result::Done : Result::More;
}

// long: the chunked-encoding state machine, one case per state.
Response::Result Response::body(const char* data, size_t len, size_t& used, const Body& on_body) {
    auto take_line = [&]() -> bool {  // appends up to a '\n' to line_; true once it has one
        const void* nl = std::memchr(data + used, '\n', len - used);
        size_t n = nl ? static_cast<const char*>(nl) - (data + used) + 1 : len - used;
        line_.append(data + used, n);
        used += n;
        return nl != nullptr;
    };
    while (used < len) {
        switch (state_) {
            case State::Fixed:
            case State::ChunkData:
            case State::UntilClose: {
                size_t n = state_ == State::UntilClose ? len - used : static_cast<size_t>(std::min<uint64_t>(left_, len - used));
                if (!emit(data + used, n, on_body)) return aborted_ ? Result::Aborted : Result::Error;
                used += n;
                if (state_ == State::UntilClose) break;
                left_ -= n;
                if (left_ == 0) state_ = state_ == State::Fixed ? State::Done : State::ChunkCrlf;
                if (state_ == State::Done) return Result::Done;
                break;
            }
            case State::ChunkSize: {
                if (!take_line()) {
                    if (line_.size() > 1024) return fail("bad chunk size line");
                    return Result::More;
                }
                uint64_t size = 0;
                size_t digits = 0;
                for (char c : line_) {
                    int v = hex_value(c);
                    if (v < 0) break;
                    if (size >> 58) return fail("chunk too large");
                    size = size * 16 + static_cast<uint64_t>(v);
                    ++digits;
                }
                if (digits == 0) return fail("bad chunk size line");
                line_.clear();
                left_ = size;
                state_ = size == 0 ? State::Trailer : State::ChunkData;
                break;
            }
            case State::ChunkCrlf:
            case State::Trailer: {
                if (!take_line()) {
                    // A chunk's CRLF is two bytes; a trailer line gets 8 KiB. Past that
                    // the server is not sending HTTP, and the line would grow with it.
                    if (state_ == State::ChunkCrlf && line_.size() > 2) return fail("chunk not followed by CRLF");
                    if (line_.size() > 8192) return fail("trailer line longer than 8 KiB");
                    return Result::More;
                }
                bool empty = line_ == "\r\n" || line_ == "\n";
                line_.clear();
                if (state_ == State::ChunkCrlf) {
                    if (!empty) return fail("chunk not followed by CRLF");
                    state_ = State::ChunkSize;
                } else if (empty) {
                    state_ = State::Done;
                    return Result::Done;
                }
                break;
            }
            case State::Head:
            case State::Done: return Result::Done;
        }
    }
    return Result::More;
}

bool Response::emit(const char* data, size_t len, const Body& on_body) {
    if (!inflate_) {
        if (len && !on_body(data, len)) return aborted_ = true, false;
        return true;
    }
    Inflate& f = *inflate_;
    if (f.ended) return true;  // bytes after the end of the compressed stream
    char out[16384];
    f.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    f.z.avail_in = static_cast<uInt>(len);
    while (f.z.avail_in > 0) {
        f.z.next_out = reinterpret_cast<Bytef*>(out);
        f.z.avail_out = sizeof out;
        int rc = inflate(&f.z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            bad_encoding_ = true;
            fail("bad compressed body");
            return false;
        }
        size_t n = sizeof out - f.z.avail_out;
        if (n && !on_body(out, n)) return aborted_ = true, false;
        if (rc == Z_STREAM_END) {
            f.ended = true;
            break;
        }
        if (rc == Z_BUF_ERROR && n == 0) break;
    }
    return true;
}

Response::Result Response::eof(const Body& on_body) {
    keep_alive_ = false;
    if (state_ == State::UntilClose) {
        (void)on_body;
        state_ = State::Done;
        return Result::Done;
    }
    if (state_ == State::Done) return Result::Done;
    return fail(got_bytes_ ? "connection closed before the end of the response" : "connection closed with no response");
}

}  // namespace moa::http1
