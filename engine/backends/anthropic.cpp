// Anthropic Messages API (POST {base_url}/v1/messages): the system prompt is a field of
// its own, max_tokens is required, and a stream is a sequence of typed SSE events.
#include <algorithm>

#include "backends/backend.hpp"
#include "backends/http_backend.hpp"
#include "backends/wire.hpp"
#include "backends/wire_json.hpp"

namespace moa {

namespace {

using namespace wire;

class AnthropicWire final : public WireFormat {
public:
    HttpRequest request(const Call& c, const std::string& key, bool stream) const override;
    Reply parse_response(const std::string& body) const override;
    std::string error_message(const std::string& body) const override;
    bool event(std::string_view json, StreamParser& p) const override;
};

HttpRequest AnthropicWire::request(const Call& c, const std::string& key, bool stream) const {
    const BackendSpec& b = *c.backend;
    const AgentSpec& a = *c.agent;
    HttpRequest r = json_post(c, b.base_url + "/v1/messages");
    std::string& body = r.body;
    r.headers.push_back("x-api-key: " + key);
    r.headers.push_back("anthropic-version: 2023-06-01");
    JsonWriter w(body);
    w.begin_object().key("model").value(a.model);
    w.key("max_tokens").value(a.max_tokens ? *a.max_tokens : 1024);
    // The system prompt is a field of its own; the other messages are the user's turns.
    std::string system;
    for (const auto& m : c.messages)
        if (m.role == Role::System) system += m.content;
    if (!system.empty()) w.key("system").value(system);
    w.key("messages").begin_array();
    for (const auto& m : c.messages)
        if (m.role != Role::System) w.begin_object().key("role").value("user").key("content").value(m.content).end_object();
    w.end_array();
    if (a.temperature) number(w.key("temperature"), std::min(*a.temperature, 1.0));
    if (a.top_p) number(w.key("top_p"), *a.top_p);
    if (!a.stop.empty()) w.key("stop_sequences").strings(a.stop);
    w.key("stream").value(stream).end_object();
    return r;
}

// Anthropic's input_tokens leave out the tokens read from (cache_read_input_tokens)
// or written to (cache_creation_input_tokens) its prompt cache: all three are input.
// A stream's message_start carries this object too (and output_tokens 1 so far).
template <typename Usage>
void read_input_usage(Usage&& usage, uint32_t& in, uint32_t& cached) {
    uint64_t n = 0, total = 0;
    bool any = false;
    for (const char* key : {"input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}) {
        if (usage[key].get_uint64().get(n) != simdjson::SUCCESS) continue;
        any = true;
        total += n;
        if (std::string_view(key) == "cache_read_input_tokens") cached = static_cast<uint32_t>(n);
    }
    if (any) in = static_cast<uint32_t>(total);
}

Reply AnthropicWire::parse_response(const std::string& body) const {
    Reply r;
    if (!whole_json(body, r)) return r;
    std::string copy = body;
    od::document doc;
    if (!parse(copy, doc)) return malformed("not JSON");
    std::string_view s;
    uint64_t n = 0;
    od::array content;
    if (doc["content"].get_array().get(content)) return malformed("no content");
    for (auto block : content) {
        od::object o;
        if (block.get_object().get(o)) return malformed("bad content block");
        if (o["text"].get_string().get(s) == simdjson::SUCCESS) r.text += s;
    }
    od::object usage;
    if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
        read_input_usage(usage, r.tokens_in, r.tokens_cached);
        if (usage["output_tokens"].get_uint64().get(n) == simdjson::SUCCESS) r.tokens_out = static_cast<uint32_t>(n);
    }
    return require_text(std::move(r));
}

std::string AnthropicWire::error_message(const std::string& body) const {
    std::string copy = body;
    od::document doc;
    std::string_view s;
    od::object err;
    if (parse(copy, doc) && doc["error"].get_object().get(err) == simdjson::SUCCESS &&
        err["message"].get_string().get(s) == simdjson::SUCCESS)
        return std::string(s);
    return trimmed_body(body);
}

bool AnthropicWire::event(std::string_view json, StreamParser& p) const {
    std::string buf(json);
    od::document doc;
    if (!parse(buf, doc)) return p.fail("malformed stream event");
    std::string_view s, type;
    uint64_t n = 0;
    if (doc["type"].get_string().get(type)) return true;
    if (type == "content_block_delta") {
        if (raw_string(doc["delta"]["text"], s)) p.text_piece(s);
    } else if (type == "message_start") {
        od::object usage;
        if (doc["message"]["usage"].get_object().get(usage) == simdjson::SUCCESS) {
            uint32_t in = p.tokens_in(), cached = p.tokens_cached();
            read_input_usage(usage, in, cached);
            p.set_tokens_in(in);
            p.set_tokens_cached(cached);
        }
    } else if (type == "message_delta") {
        if (doc["usage"]["output_tokens"].get_uint64().get(n) == simdjson::SUCCESS) p.set_tokens_out(n);
    } else if (type == "message_stop") {
        p.mark_complete();
    } else if (type == "error") {
        std::string_view m, et;
        std::string msg = doc["error"]["message"].get_string().get(m) == simdjson::SUCCESS ? std::string(m) : "stream error";
        if (doc["error"]["type"].get_string().get(et) != simdjson::SUCCESS) et = "";
        return p.fail(msg, transient_error(et, msg));
    }
    return true;
}

const AnthropicWire kWire;

}  // namespace

extern const Provider kAnthropicProvider{
    .kind = BackendKind::Anthropic,
    .remote = true,
    .make = [](const BackendSpec&, BackendContext& ctx) { return make_http_backend(ctx, kWire); },
    .cache_identity = nullptr,
    .wire = &kWire,
};

}  // namespace moa
