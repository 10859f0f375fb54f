// Ollama's own API (POST {base_url}/api/chat): sampling goes in "options", a stream is
// NDJSON (one object a line, the last one with "done": true and the token counts).
#include "backends/backend.hpp"
#include "backends/http_backend.hpp"
#include "backends/wire.hpp"
#include "backends/wire_json.hpp"

namespace moa {

namespace {

using namespace wire;

class OllamaWire final : public WireFormat {
public:
    HttpRequest request(const Call& c, const std::string& key, bool stream) const override;
    Reply parse_response(const std::string& body) const override;
    std::string error_message(const std::string& body) const override;
    Framing framing() const override { return Framing::Ndjson; }
    bool event(std::string_view json, StreamParser& p) const override;
};

HttpRequest OllamaWire::request(const Call& c, const std::string& key, bool stream) const {
    const BackendSpec& b = *c.backend;
    const AgentSpec& a = *c.agent;
    HttpRequest r = json_post(c, b.base_url + "/api/chat");
    std::string& body = r.body;
    if (!key.empty()) r.headers.push_back("Authorization: Bearer " + key);
    JsonWriter w(body);
    w.begin_object().key("model").value(a.model);
    messages(w, c.messages);
    w.key("options").begin_object();  // sampling goes here, {} when none is set
    if (a.temperature) number(w.key("temperature"), *a.temperature);
    if (a.top_p) number(w.key("top_p"), *a.top_p);
    if (a.max_tokens) w.key("num_predict").value(*a.max_tokens);
    if (a.seed) w.key("seed").value(*a.seed);
    if (!a.stop.empty()) w.key("stop").strings(a.stop);
    w.end_object();
    w.key("stream").value(stream).end_object();
    return r;
}

void read_counts(od::document& doc, uint32_t& in, uint32_t& out) {
    uint64_t n = 0;
    if (doc["prompt_eval_count"].get_uint64().get(n) == simdjson::SUCCESS) in = static_cast<uint32_t>(n);
    if (doc["eval_count"].get_uint64().get(n) == simdjson::SUCCESS) out = static_cast<uint32_t>(n);
}

Reply OllamaWire::parse_response(const std::string& body) const {
    Reply r;
    if (!whole_json(body, r)) return r;
    std::string copy = body;
    od::document doc;
    if (!parse(copy, doc)) return malformed("not JSON");
    std::string_view s;
    if (doc["message"]["content"].get_string().get(s)) return malformed("no message.content");
    r.text = s;
    read_counts(doc, r.tokens_in, r.tokens_out);
    return require_text(std::move(r));
}

std::string OllamaWire::error_message(const std::string& body) const {
    std::string copy = body;
    od::document doc;
    std::string_view s;
    if (parse(copy, doc) && doc["error"].get_string().get(s) == simdjson::SUCCESS) return std::string(s);
    return trimmed_body(body);
}

bool OllamaWire::event(std::string_view json, StreamParser& p) const {
    std::string buf(json);
    od::document doc;
    if (!parse(buf, doc)) return p.fail("malformed stream event");
    std::string_view err, s;
    if (doc["error"].get_string().get(err) == simdjson::SUCCESS) return p.fail(std::string(err));
    if (raw_string(doc["message"]["content"], s)) p.text_piece(s);
    bool done = false;
    if (doc["done"].get_bool().get(done) == simdjson::SUCCESS && done) {
        p.mark_complete();
        uint32_t in = p.tokens_in(), out = p.tokens_out();
        read_counts(doc, in, out);
        p.set_tokens_in(in);
        p.set_tokens_out(out);
    }
    return true;
}

const OllamaWire kWire;

}  // namespace

extern const Provider kOllamaProvider{
    .kind = BackendKind::Ollama,
    .remote = true,
    .make = [](const BackendSpec&, BackendContext& ctx) { return make_http_backend(ctx, kWire); },
    .cache_identity = nullptr,
    .wire = &kWire,
};

}  // namespace moa
