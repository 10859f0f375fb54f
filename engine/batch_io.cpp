#include "batch_io.hpp"

#include <simdjson.h>

#include <istream>
#include <ostream>

namespace moa {

struct JsonlSource::Impl {
    std::istream& in;
    simdjson::ondemand::parser parser;
    std::string line;
    uint64_t line_no = 0;
};

JsonlSource::JsonlSource(std::istream& in) : impl_(new Impl{in, simdjson::ondemand::parser{}, {}, 0}) {}
JsonlSource::~JsonlSource() = default;

std::optional<Query> JsonlSource::next() {
    auto& m = *impl_;
    for (;;) {
        if (!std::getline(m.in, m.line)) return std::nullopt;
        ++m.line_no;
        if (!m.line.empty() && m.line.back() == '\r') m.line.pop_back();
        if (m.line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are not jobs
        break;
    }
    Query q;
    q.id = std::to_string(m.line_no);
    auto fail = [&](const std::string& why) {
        q.error = "input line " + std::to_string(m.line_no) + ": " + why;
        return q;
    };
    m.line.reserve(m.line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    if (m.parser.iterate(m.line).get(doc)) return fail("not valid JSON");
    simdjson::ondemand::object obj;
    if (doc.get_object().get(obj)) return fail("expected a JSON object");
    bool has_prompt = false;
    for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return fail("not valid JSON");
        simdjson::ondemand::value v;
        if (field.value().get(v)) return fail("not valid JSON");
        if (key == "prompt" || (key == "instruction" && !has_prompt)) {
            std::string_view s;
            if (v.get_string().get(s)) return fail("\"" + std::string(key) + "\" must be a string");
            q.prompt.assign(s);
            has_prompt = true;
        } else if (key == "id") {
            simdjson::ondemand::json_type t;
            if (v.type().get(t)) return fail("not valid JSON");
            std::string_view s;
            if (t == simdjson::ondemand::json_type::string) {
                if (v.get_string().get(s)) return fail("not valid JSON");
                q.id.assign(s);
            } else if (t == simdjson::ondemand::json_type::number) {
                s = v.raw_json_token();
                q.id.assign(s);
                while (!q.id.empty() && std::isspace(static_cast<unsigned char>(q.id.back()))) q.id.pop_back();
            } else {
                return fail("\"id\" must be a string or a number");
            }
        }  // other fields are skipped by the iteration
    }
    if (!has_prompt) return fail("no \"prompt\" (or \"instruction\") field");
    return q;
}

ResultWriter::ResultWriter(std::ostream& out, OutputFormat format, std::string generator, bool emit_all)
    : out_(out), format_(format), generator_(std::move(generator)), emit_all_(emit_all) {}

void ResultWriter::write(const JobResult& r, const std::string& query) {
    std::string s;
    switch (format_) {
        case OutputFormat::Text:
            s += "=== " + r.id + (r.ok ? "" : " (failed)") + " ===\n";
            if (r.ok) s += r.output();
            else s += "error: " + (r.error_node.empty() ? "" : r.error_node + ": ") + r.error;
            s += "\n";
            if (emit_all_)
                for (const auto& n : r.nodes)
                    s += "--- " + n.node + " [" + to_string(n.status) + "]\n" + n.text + "\n";
            break;
        case OutputFormat::Jsonl:
            s += "{\"id\":";
            append_json_string(s, r.id);
            s += ",\"ok\":";
            s += r.ok ? "true" : "false";
            if (r.ok) {
                s += ",\"output\":";
                append_json_string(s, r.output());
                if (r.outputs.size() > 1) {
                    s += ",\"outputs\":{";
                    for (size_t i = 0; i < r.outputs.size(); ++i) {
                        if (i) s += ',';
                        append_json_string(s, r.outputs[i].first);
                        s += ':';
                        append_json_string(s, r.outputs[i].second);
                    }
                    s += '}';
                }
            } else {
                s += ",\"error\":";
                append_json_string(s, r.error);
                s += ",\"node\":";
                append_json_string(s, r.error_node);
            }
            if (emit_all_) {
                s += ",\"nodes\":[";
                for (size_t i = 0; i < r.nodes.size(); ++i) {
                    const auto& n = r.nodes[i];
                    if (i) s += ',';
                    s += "{\"node\":";
                    append_json_string(s, n.node);
                    s += ",\"layer\":";
                    append_json_string(s, n.layer);
                    s += ",\"status\":\"";
                    s += to_string(n.status);
                    s += "\",\"text\":";
                    append_json_string(s, n.text);
                    s += ",\"agent\":";
                    append_json_string(s, n.agent);
                    if (!n.fallback_from.empty()) {  // the original agent's failure
                        s += ",\"fallback_from\":";
                        append_json_string(s, n.fallback_from);
                    }
                    s += ",\"attempts\":" + std::to_string(n.attempts) + ",\"tokens_in\":" + std::to_string(n.tokens_in) +
                         ",\"tokens_out\":" + std::to_string(n.tokens_out) + "}";
                }
                s += ']';
            }
            s += "}\n";
            break;
        case OutputFormat::AlpacaEval:
            s += written_ ? ",\n " : "[\n ";
            s += "{\"instruction\":";
            append_json_string(s, query);
            s += ",\"output\":";
            append_json_string(s, r.ok ? r.output() : "");
            s += ",\"generator\":";
            append_json_string(s, generator_);
            s += ",\"dataset\":\"moa\",\"id\":";
            append_json_string(s, r.id);
            s += "}";
            break;
    }
    ++written_;
    out_ << s;
    if (format_ != OutputFormat::AlpacaEval) out_.flush();
}

void ResultWriter::finish() {
    if (format_ == OutputFormat::AlpacaEval) out_ << (written_ ? "\n]\n" : "[]\n");
    out_.flush();
}

}  // namespace moa

#include "cache_tools.hpp"

namespace moa {

bool parse_cache_record(std::string line, CacheRecord& r) {
    line.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc;
    if (parser.iterate(line).get(doc)) return false;
    std::string_view s;
    auto str = [&](const char* k, std::string& out) {
        if (doc[k].get_string().get(s)) return false;
        out.assign(s);
        return true;
    };
    uint64_t n = 0;
    int64_t created = 0;
    if (!str("key", r.key) || !str("node", r.node) || !str("model", r.model) || !str("backend", r.backend) ||
        !str("request", r.request) || !str("text", r.entry.text))
        return false;
    if (doc["tokens_in"].get_uint64().get(n)) return false;
    r.entry.tokens_in = static_cast<uint32_t>(n);
    if (doc["tokens_out"].get_uint64().get(n)) return false;
    r.entry.tokens_out = static_cast<uint32_t>(n);
    if (doc["created"].get_int64().get(created)) return false;
    r.created = created;
    return r.key.size() == 32;
}

}  // namespace moa
