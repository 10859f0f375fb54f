// Ollama's own API (POST {base_url}/api/chat): sampling goes in "options", a stream is
// NDJSON (one object a line, the last one with "done": true and the token counts).
#include "backends/backend.hpp"
#include "backends/http_backend.hpp"
#include "backends/wire.hpp"
#include "backends/wire_json.hpp"
#include "moa/batch_io.hpp"  // append_json_string

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
    HttpRequest r;
    r.headers = {"Content-Type: application/json", "Expect:"};  // no 100-continue wait on big bodies
    std::string& body = r.body;
    body.reserve(256);
    for (const auto& m : c.messages) body.reserve(body.capacity() + m.content.size() + 32);
    body += "{\"model\":";
    append_json_string(body, a.model);
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
    field(body, "stream");
    body += stream ? "true" : "false";
    body += '}';
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
