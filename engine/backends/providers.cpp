#include "backends/providers.hpp"

#include <simdjson.h>

#include "moa/batch_io.hpp"  // append_json_string

namespace moa {

namespace od = simdjson::ondemand;

namespace {

void field(std::string& b, const char* name) {
    b += ",\"";
    b += name;
    b += "\":";
}

std::string number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

void stop_list(std::string& b, const std::vector<std::string>& stop) {
    b += '[';
    for (size_t i = 0; i < stop.size(); ++i) {
        if (i) b += ',';
        append_json_string(b, stop[i]);
    }
    b += ']';
}

// "messages": [{"role": ..., "content": ...}, ...] (OpenAI and Ollama share it).
void messages(std::string& b, const std::vector<Message>& msgs) {
    field(b, "messages");
    b += '[';
    for (size_t i = 0; i < msgs.size(); ++i) {
        b += i ? ",{\"role\":\"" : "{\"role\":\"";
        b += msgs[i].role;
        b += "\",\"content\":";
        append_json_string(b, msgs[i].content);
        b += '}';
    }
    b += ']';
}

// Reads a JSON document; copies what it needs (views die with the parser's buffer).
thread_local od::parser tl_parser;
thread_local simdjson::dom::parser tl_dom;  // full validation of whole responses

bool parse(std::string& padded, od::document& doc) {
    padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
    return tl_parser.iterate(padded).get(doc) == simdjson::SUCCESS;
}

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

// Overload and server errors reported inside a 200 stream are worth another try.
bool transient_error(std::string_view type, std::string_view message) {
    for (std::string_view t : {"overloaded", "server_error", "rate_limit", "api_error", "timeout"})
        if (type.find(t) != std::string_view::npos) return true;
    return message.find("verload") != std::string_view::npos;
}

}  // namespace

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
        auto hex = [](char h) {
            if (h >= '0' && h <= '9') return h - '0';
            h = static_cast<char>(h | 0x20);
            return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
        };
        uint32_t u = 0;
        size_t k = 0;
        for (; k < 4 && i + 1 < raw.size() && hex(raw[i + 1]) >= 0; ++k) u = u * 16 + static_cast<uint32_t>(hex(raw[++i]));
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

HttpRequest build_request(const Call& c, const std::string& key, bool stream) {
    const BackendSpec& b = *c.backend;
    const AgentSpec& a = *c.agent;
    HttpRequest r;
    r.headers = {"Content-Type: application/json", "Expect:"};  // no 100-continue wait on big bodies
    std::string& body = r.body;
    body.reserve(256);
    for (const auto& m : c.messages) body.reserve(body.capacity() + m.content.size() + 32);
    body += "{\"model\":";
    append_json_string(body, a.model);
    switch (b.kind) {
        case BackendKind::Anthropic: {
            r.url = b.base_url + "/v1/messages";
            r.headers.push_back("x-api-key: " + key);
            r.headers.push_back("anthropic-version: 2023-06-01");
            field(body, "max_tokens");
            body += std::to_string(a.max_tokens ? *a.max_tokens : 1024);
            std::string system;
            for (const auto& m : c.messages)
                if (m.role[0] == 's') system += m.content;
            if (!system.empty()) {
                field(body, "system");
                append_json_string(body, system);
            }
            field(body, "messages");
            body += '[';
            bool first = true;
            for (const auto& m : c.messages) {
                if (m.role[0] == 's') continue;
                body += first ? "" : ",";
                first = false;
                body += "{\"role\":\"user\",\"content\":";
                append_json_string(body, m.content);
                body += '}';
            }
            body += ']';
            if (a.temperature) field(body, "temperature"), body += number(std::min(*a.temperature, 1.0));
            if (a.top_p) field(body, "top_p"), body += number(*a.top_p);
            if (!a.stop.empty()) field(body, "stop_sequences"), stop_list(body, a.stop);
            break;
        }
        case BackendKind::Ollama: {
            r.url = b.base_url + "/api/chat";
            if (!key.empty()) r.headers.push_back("Authorization: Bearer " + key);
            messages(body, c.messages);
            body += ",\"options\":{";
            std::string opts;
            if (a.temperature) opts += ",\"temperature\":" + number(*a.temperature);
            if (a.top_p) opts += ",\"top_p\":" + number(*a.top_p);
            if (a.max_tokens) opts += ",\"num_predict\":" + std::to_string(*a.max_tokens);
            if (a.seed) opts += ",\"seed\":" + std::to_string(*a.seed);
            if (!a.stop.empty()) {
                opts += ",\"stop\":";
                stop_list(opts, a.stop);
            }
            body += opts.empty() ? "" : opts.substr(1);
            body += '}';
            break;
        }
        default: {  // OpenAI-compatible
            r.url = b.base_url + "/chat/completions";
            if (!key.empty()) r.headers.push_back("Authorization: Bearer " + key);
            messages(body, c.messages);
            if (a.temperature) field(body, "temperature"), body += number(*a.temperature);
            if (a.top_p) field(body, "top_p"), body += number(*a.top_p);
            if (a.max_tokens) field(body, "max_tokens"), body += std::to_string(*a.max_tokens);
            if (a.seed) field(body, "seed"), body += std::to_string(*a.seed);
            if (!a.stop.empty()) field(body, "stop"), stop_list(body, a.stop);
            if (stream) body += ",\"stream_options\":{\"include_usage\":true}";
            break;
        }
    }
    field(body, "stream");
    body += stream ? "true" : "false";
    body += '}';
    return r;
}

std::string provider_error_message(BackendKind kind, const std::string& body) {
    std::string copy = body;
    od::document doc;
    if (parse(copy, doc)) {
        std::string_view s;
        if (kind == BackendKind::Ollama) {
            if (doc["error"].get_string().get(s) == simdjson::SUCCESS) return std::string(s);
        } else {
            od::object err;
            if (doc["error"].get_object().get(err) == simdjson::SUCCESS &&
                err["message"].get_string().get(s) == simdjson::SUCCESS)
                return std::string(s);
        }
    }
    std::string t = body.substr(0, 300);
    for (auto& ch : t)
        if (ch == '\n' || ch == '\r') ch = ' ';
    return t.empty() ? "(empty body)" : t;
}

Reply parse_response(BackendKind kind, const std::string& body) {
    Reply r;
    std::string copy = body;
    od::document doc;
    auto malformed = [&](const char* why) {
        r.status = CallStatus::Error;
        r.error_kind = "malformed response";
        r.text = std::string("malformed response from the provider: ") + why;
        return r;
    };
    // On-Demand validates only what it touches: a truncated body would read as
    // "no choices". Validate the whole document first and say what is wrong.
    if (auto err = tl_dom.parse(body).error()) {
        std::string head = body.substr(0, 60);
        for (auto& ch : head)
            if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
        size_t first = body.find_first_not_of(" \t\r\n");
        std::string why = first == std::string::npos ? "an empty body"
                          : body[first] == '{'       ? "not a complete JSON object (cut short, or followed by other text)"
                                                     : "not JSON";
        r = malformed("");
        (void)err;
        r.text = "malformed response from the provider: " + why + ": " + std::to_string(body.size()) +
                 " bytes starting \"" + head + (body.size() > 60 ? "...\"" : "\"");
        return r;
    }
    if (!parse(copy, doc)) return malformed("not JSON");
    std::string_view s;
    uint64_t n = 0;
    switch (kind) {
        case BackendKind::Anthropic: {
            od::array content;
            if (doc["content"].get_array().get(content)) return malformed("no content");
            for (auto block : content) {
                od::object o;
                if (block.get_object().get(o)) return malformed("bad content block");
                if (o["text"].get_string().get(s) == simdjson::SUCCESS) r.text += s;
            }
            od::object usage;
            if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
                if (usage["input_tokens"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_in = static_cast<uint32_t>(n);
                if (usage["output_tokens"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_out = static_cast<uint32_t>(n);
            }
            break;
        }
        case BackendKind::Ollama: {
            if (doc["message"]["content"].get_string().get(s)) return malformed("no message.content");
            r.text = s;
            if (doc["prompt_eval_count"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_in = static_cast<uint32_t>(n);
            if (doc["eval_count"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_out = static_cast<uint32_t>(n);
            break;
        }
        default: {
            od::array choices;
            if (doc["choices"].get_array().get(choices)) return malformed("no choices");
            for (auto ch : choices) {
                if (ch["message"]["content"].get_string().get(s)) return malformed("no message.content");
                r.text = s;
                break;
            }
            od::object usage;
            if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
                if (usage["prompt_tokens"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_in = static_cast<uint32_t>(n);
                if (usage["completion_tokens"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_out = static_cast<uint32_t>(n);
            }
            break;
        }
    }
    if (r.text.empty()) {
        r.status = CallStatus::Error;
        r.error_kind = "empty answer";
        r.text = "the provider returned an empty answer";
    }
    return r;
}

bool StreamParser::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_text) {
    pending_.append(bytes);
    size_t start = 0;
    for (;;) {
        size_t nl = pending_.find('\n', start);
        if (nl == std::string::npos) break;
        std::string_view l(pending_.data() + start, nl - start);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (!line(l, on_text)) return false;
        start = nl + 1;
    }
    pending_.erase(0, start);
    return true;
}

void StreamParser::finish(const std::function<void(std::string_view)>& on_text) {
    if (!high_surrogate_) return;
    high_surrogate_ = 0;
    const std::string bad = "\xEF\xBF\xBD";  // U+FFFD for the unpaired half
    text_ += bad;
    if (on_text) on_text(bad);
}

bool StreamParser::line(std::string_view l, const std::function<void(std::string_view)>& on_text) {
    if (kind_ == BackendKind::Ollama) {  // NDJSON: one object per line
        if (l.empty()) return true;
        return event(l, on_text);
    }
    // SSE: only data lines matter ("event:" names are repeated in Anthropic's JSON).
    if (l.rfind("data:", 0) != 0) return true;
    l.remove_prefix(5);
    if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    if (l == "[DONE]") {
        complete_ = true;
        return true;
    }
    return event(l, on_text);
}

bool StreamParser::event(std::string_view json, const std::function<void(std::string_view)>& on_text) {
    std::string buf(json);
    od::document doc;
    if (!parse(buf, doc)) {
        error_ = "malformed stream event";
        return false;
    }
    std::string_view s;
    uint64_t n = 0;
    auto emit = [&](std::string_view raw) {
        std::string t;
        decode_json_string(raw, t, high_surrogate_);
        text_ += t;
        if (on_text && !t.empty()) on_text(t);
    };
    if (kind_ == BackendKind::Ollama) {
        std::string_view err;
        if (doc["error"].get_string().get(err) == simdjson::SUCCESS) {
            error_ = std::string(err);
            return false;
        }
        if (raw_string(doc["message"]["content"], s)) emit(s);
        bool done = false;
        if (doc["done"].get_bool().get(done) == simdjson::SUCCESS && done) {
            complete_ = true;
            if (doc["prompt_eval_count"].get_uint64().get(n) == simdjson::SUCCESS) tokens_in_ = static_cast<uint32_t>(n);
            if (doc["eval_count"].get_uint64().get(n) == simdjson::SUCCESS) tokens_out_ = static_cast<uint32_t>(n);
        }
        return true;
    }
    if (kind_ == BackendKind::Anthropic) {
        std::string_view type;
        if (doc["type"].get_string().get(type)) return true;
        if (type == "content_block_delta") {
            if (raw_string(doc["delta"]["text"], s)) emit(s);
        } else if (type == "message_start") {
            if (doc["message"]["usage"]["input_tokens"].get_uint64().get(n) == simdjson::SUCCESS)
                tokens_in_ = static_cast<uint32_t>(n);
        } else if (type == "message_delta") {
            if (doc["usage"]["output_tokens"].get_uint64().get(n) == simdjson::SUCCESS)
                tokens_out_ = static_cast<uint32_t>(n);
        } else if (type == "message_stop") {
            complete_ = true;
        } else if (type == "error") {
            std::string_view m, et;
            error_ = doc["error"]["message"].get_string().get(m) == simdjson::SUCCESS ? std::string(m) : "stream error";
            if (doc["error"]["type"].get_string().get(et) != simdjson::SUCCESS) et = "";
            error_transient_ = transient_error(et, error_);
            return false;
        }
        return true;
    }
    // An error sent as an event of a 200 stream: the provider's message, not a
    // "truncated stream" retried until the attempts run out.
    od::object err;
    std::string_view m;
    if (doc["error"].get_object().get(err) == simdjson::SUCCESS) {
        std::string_view et;
        error_ = err["message"].get_string().get(m) == simdjson::SUCCESS ? std::string(m) : "error event in the stream";
        if (err["type"].get_string().get(et) != simdjson::SUCCESS) et = "";
        error_transient_ = transient_error(et, error_);
        return false;
    }
    if (doc["error"].get_string().get(m) == simdjson::SUCCESS) {
        error_ = std::string(m);
        error_transient_ = transient_error("", error_);
        return false;
    }
    od::array choices;
    if (doc["choices"].get_array().get(choices) == simdjson::SUCCESS) {
        for (auto ch : choices) {
            if (raw_string(ch["delta"]["content"], s)) emit(s);
            break;
        }
    }
    od::object usage;
    if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
        if (usage["prompt_tokens"].get_uint64().get(n) == simdjson::SUCCESS) tokens_in_ = static_cast<uint32_t>(n);
        if (usage["completion_tokens"].get_uint64().get(n) == simdjson::SUCCESS) tokens_out_ = static_cast<uint32_t>(n);
    }
    return true;
}

}  // namespace moa
