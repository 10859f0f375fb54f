#include "backends/wire.hpp"

#include "backends/backend.hpp"
#include "backends/wire_json.hpp"
#include "moa/batch_io.hpp"  // append_json_string, append_utf8
#include "moa/ascii.hpp"

namespace moa {

namespace wire {

namespace {
thread_local od::parser tl_parser;
}  // namespace

bool parse(std::string& padded, od::document& doc) {
    padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
    return tl_parser.iterate(padded).get(doc) == simdjson::SUCCESS;
}

HttpRequest json_post(const Call& c, std::string url) {
    HttpRequest r;
    r.url = std::move(url);
    r.headers = {"Content-Type: application/json", "Expect:"};  // no 100-continue wait on big bodies
    size_t size = 256;
    for (const auto& m : c.messages) size += m.content.size() + 32;
    r.body.reserve(size);
    return r;
}

JsonWriter& number(JsonWriter& w, double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return w.raw(buf);
}

void messages(JsonWriter& w, const std::vector<Message>& msgs) {
    w.key("messages").begin_array();
    for (const auto& m : msgs) w.begin_object().key("role").value(to_string(m.role)).key("content").value(m.content).end_object();
    w.end_array();
}

}  // namespace wire

void decode_json_string(std::string_view raw, std::string& out, uint16_t& high) {
    constexpr uint32_t kReplacement = 0xFFFD;
    auto flush_high = [&] {
        if (high) append_utf8(out, kReplacement);
        high = 0;
    };
    for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c != '\\' || i + 1 >= raw.size()) {
            flush_high();
            out += c;
            continue;
        }
        char e = raw[++i];
        if (e != 'u') {
            flush_high();
            switch (e) {
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                default: out += e; break;  // \" \\ \/
            }
            continue;
        }
        uint32_t u = 0;
        size_t k = 0;
        for (; k < 4 && i + 1 < raw.size() && ascii::hex_value(raw[i + 1]) >= 0; ++k)
            u = u * 16 + static_cast<uint32_t>(ascii::hex_value(raw[++i]));
        if (k < 4) {  // a broken escape: say so in the text rather than drop it
            flush_high();
            append_utf8(out, kReplacement);
            continue;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            flush_high();
            high = static_cast<uint16_t>(u);
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            if (high) append_utf8(out, 0x10000 + ((static_cast<uint32_t>(high) - 0xD800) << 10) + (u - 0xDC00));
            else append_utf8(out, kReplacement);
            high = 0;
        } else {
            flush_high();
            append_utf8(out, u);
        }
    }
}

bool transient_error(std::string_view type, std::string_view message) {
    for (std::string_view t : {"overloaded", "server_error", "rate_limit", "api_error", "timeout"})
        if (type.find(t) != std::string_view::npos) return true;
    return message.find("verload") != std::string_view::npos;
}

Reply malformed(const char* why) {
    Reply r;
    r.status = CallStatus::Error;
    r.error_kind = ErrorKind::MalformedResponse;
    r.text = std::string("malformed response from the provider: ") + why;
    return r;
}

bool whole_json(const std::string& body, Reply& r) {
    // On-Demand validates only what it touches: a truncated body would read as
    // "no choices". Validate the whole document first and say what is wrong.
    thread_local simdjson::dom::parser full;
    if (!full.parse(body).error()) return true;
    std::string head = body.substr(0, 60);
    for (auto& ch : head)
        if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    std::string_view rest = ascii::trim_left(body, " \t\r\n");
    std::string why = rest.empty()         ? "an empty body"
                      : rest.front() == '{' ? "not a complete JSON object (cut short, or followed by other text)"
                                            : "not JSON";
    r = malformed("");
    r.text = "malformed response from the provider: " + why + ": " + std::to_string(body.size()) +
             " bytes starting \"" + head + (body.size() > 60 ? "...\"" : "\"");
    return false;
}

Reply require_text(Reply r) {
    if (r.text.empty()) {
        r.status = CallStatus::Error;
        r.error_kind = ErrorKind::EmptyAnswer;
        r.text = "the provider returned an empty answer";
    }
    return r;
}

std::string trimmed_body(const std::string& body) {
    std::string t = body.substr(0, 300);
    for (auto& ch : t)
        if (ch == '\n' || ch == '\r') ch = ' ';
    return t.empty() ? "(empty body)" : t;
}

// ---- StreamParser ----------------------------------------------------------------

StreamParser::StreamParser(BackendKind kind) : wire_(provider_of(kind).wire) {}

bool StreamParser::feed(std::string_view bytes, const TextFn& on_text) {
    on_text_ = &on_text;
    pending_.append(bytes);
    size_t start = 0;
    bool ok = true;
    for (;;) {
        size_t nl = pending_.find('\n', start);
        if (nl == std::string::npos) break;
        std::string_view l(pending_.data() + start, nl - start);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        start = nl + 1;
        if (!line(l)) {
            ok = false;
            break;
        }
    }
    on_text_ = nullptr;
    if (ok) pending_.erase(0, start);
    return ok;
}

void StreamParser::finish(const TextFn& on_text) {
    if (!high_surrogate_) return;
    high_surrogate_ = 0;
    const std::string bad = "\xEF\xBF\xBD";  // U+FFFD for the unpaired half
    text_ += bad;
    if (on_text) on_text(bad);
}

bool StreamParser::line(std::string_view l) {
    if (wire_->framing() == WireFormat::Framing::Ndjson) {  // one object per line
        if (l.empty()) return true;
        return wire_->event(l, *this);
    }
    // SSE: only data lines matter ("event:" names are repeated in Anthropic's JSON).
    if (l.rfind("data:", 0) != 0) return true;
    l.remove_prefix(5);
    if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    if (l == "[DONE]") {
        complete_ = true;
        return true;
    }
    return wire_->event(l, *this);
}

void StreamParser::text_piece(std::string_view raw) {
    std::string t;
    decode_json_string(raw, t, high_surrogate_);
    text_ += t;
    if (on_text_ && *on_text_ && !t.empty()) (*on_text_)(t);
}

bool StreamParser::fail(std::string error, bool transient) {
    error_ = std::move(error);
    error_transient_ = transient;
    return false;
}

}  // namespace moa
