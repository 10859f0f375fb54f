// OpenAI-compatible chat completions (POST {base_url}/chat/completions): OpenAI, and
// the many servers that speak its API (vLLM, llama.cpp, Together, Groq, ...).
#include "backends/backend.hpp"
#include "backends/http_backend.hpp"
#include "backends/wire.hpp"
#include "backends/wire_json.hpp"

namespace moa {

namespace {

using namespace wire;

class OpenAIWire final : public WireFormat {
public:
    HttpRequest request(const Call& c, const std::string& key, bool stream) const override;
    Reply parse_response(const std::string& body) const override;
    std::string error_message(const std::string& body) const override;
    bool event(std::string_view json, StreamParser& p) const override;
};

HttpRequest OpenAIWire::request(const Call& c, const std::string& key, bool stream) const {
    const BackendSpec& b = *c.backend;
    const AgentSpec& a = *c.agent;
    HttpRequest r = json_post(c, b.base_url + "/chat/completions");
    std::string& body = r.body;
    if (!key.empty()) r.headers.push_back("Authorization: Bearer " + key);
    JsonWriter w(body);
    w.begin_object().key("model").value(a.model);
    messages(w, c.messages);
    if (a.temperature) number(w.key("temperature"), *a.temperature);
    if (a.top_p) number(w.key("top_p"), *a.top_p);
    if (a.max_tokens) w.key("max_tokens").value(*a.max_tokens);
    if (a.seed) w.key("seed").value(*a.seed);
    if (!a.stop.empty()) w.key("stop").strings(a.stop);
    if (stream) w.key("stream_options").begin_object().key("include_usage").value(true).end_object();
    w.key("stream").value(stream).end_object();
    return r;
}

// `usage`: prompt_tokens (cached ones included), completion_tokens, and the cached
// part in prompt_tokens_details.cached_tokens. Null in a stream's other chunks.
void read_usage(od::document& doc, uint32_t& in, uint32_t& out, uint32_t& cached) {
    od::object usage;
    uint64_t n = 0;
    if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
        if (usage["prompt_tokens"].get_uint64().get(n) == simdjson::SUCCESS) in = static_cast<uint32_t>(n);
        if (usage["completion_tokens"].get_uint64().get(n) == simdjson::SUCCESS) out = static_cast<uint32_t>(n);
        if (usage["prompt_tokens_details"]["cached_tokens"].get_uint64().get(n) == simdjson::SUCCESS)
            cached = static_cast<uint32_t>(n);
    }
}

Reply OpenAIWire::parse_response(const std::string& body) const {
    Reply r;
    if (!whole_json(body, r)) return r;
    std::string copy = body;
    od::document doc;
    if (!parse(copy, doc)) return malformed("not JSON");
    std::string_view s;
    od::array choices;
    if (doc["choices"].get_array().get(choices)) return malformed("no choices");
    for (auto ch : choices) {
        if (ch["message"]["content"].get_string().get(s)) return malformed("no message.content");
        r.text = s;
        break;
    }
    read_usage(doc, r.tokens_in, r.tokens_out, r.tokens_cached);
    return require_text(std::move(r));
}

std::string OpenAIWire::error_message(const std::string& body) const {
    std::string copy = body;
    od::document doc;
    std::string_view s;
    od::object err;
    if (parse(copy, doc) && doc["error"].get_object().get(err) == simdjson::SUCCESS &&
        err["message"].get_string().get(s) == simdjson::SUCCESS)
        return std::string(s);
    return trimmed_body(body);
}

bool OpenAIWire::event(std::string_view json, StreamParser& p) const {
    std::string buf(json);
    od::document doc;
    if (!parse(buf, doc)) return p.fail("malformed stream event");
    // An error sent as an event of a 200 stream: the provider's message, not a
    // "truncated stream" retried until the attempts run out.
    od::object err;
    std::string_view m, s;
    if (doc["error"].get_object().get(err) == simdjson::SUCCESS) {
        std::string_view et;
        std::string msg = err["message"].get_string().get(m) == simdjson::SUCCESS ? std::string(m) : "error event in the stream";
        if (err["type"].get_string().get(et) != simdjson::SUCCESS) et = "";
        return p.fail(msg, transient_error(et, msg));
    }
    if (doc["error"].get_string().get(m) == simdjson::SUCCESS) return p.fail(std::string(m), transient_error("", m));
    od::array choices;
    if (doc["choices"].get_array().get(choices) == simdjson::SUCCESS) {
        for (auto ch : choices) {
            if (raw_string(ch["delta"]["content"], s)) p.text_piece(s);
            break;
        }
    }
    uint32_t in = p.tokens_in(), out = p.tokens_out(), cached = p.tokens_cached();
    read_usage(doc, in, out, cached);
    p.set_tokens_in(in);
    p.set_tokens_out(out);
    p.set_tokens_cached(cached);
    return true;
}

const OpenAIWire kWire;

}  // namespace

extern const Provider kOpenAIProvider{
    .kind = BackendKind::OpenAI,
    .remote = true,
    .make = [](const BackendSpec&, BackendContext& ctx) { return make_http_backend(ctx, kWire); },
    .cache_identity = nullptr,
    .wire = &kWire,
};

}  // namespace moa
