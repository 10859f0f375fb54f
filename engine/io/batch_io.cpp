#include "moa/batch_io.hpp"

#include "moa/ascii.hpp"
#include "moa/json_writer.hpp"

#include <cstdio>
#include <cstdlib>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>
#include <ostream>
#include <vector>

namespace moa {

struct JsonlSource::Impl {
    std::istream& in;
    simdjson::ondemand::parser parser;
    std::string line;
    uint64_t line_no = 0;
    InputLine last;
};

JsonlSource::JsonlSource(std::istream& in) : impl_(new Impl{in, simdjson::ondemand::parser{}, {}, 0, {}}) {}
JsonlSource::~JsonlSource() = default;
const InputLine& JsonlSource::last() const { return impl_->last; }

namespace {

// What a user can act on, not simdjson's error name: a lone UTF-16 surrogate in a
// prompt is a broken string, not a prompt of the wrong type.
std::string value_error(std::string_view key, simdjson::error_code e, const char* expected) {
    std::string k = "\"" + std::string(key) + "\"";
    switch (e) {
        case simdjson::STRING_ERROR:
            return k + " holds an invalid escape (a lone UTF-16 surrogate such as \\ud83c, or a bad \\u sequence)";
        case simdjson::UTF8_ERROR: return k + " is not valid UTF-8";
        case simdjson::INCORRECT_TYPE: return k + " must be " + expected;
        default: return k + ": not valid JSON (" + simdjson::error_message(e) + ")";
    }
}

// simdjson reports "{...} junk" and a line cut inside its object alike (an incomplete
// object); a scan that skips strings tells which one the user has.
bool closes_before_end(std::string_view line) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return !ascii::is_blank(line.substr(i + 1), " \t\r\n");
        }
    }
    return false;
}

std::string doc_error(simdjson::error_code e) {
    if (e == simdjson::UTF8_ERROR) return "not valid UTF-8";
    if (e == simdjson::STRING_ERROR) return "not valid JSON: an invalid string escape (a lone UTF-16 surrogate?)";
    return std::string("not valid JSON (") + simdjson::error_message(e) + ")";
}

// The reason the line is not a JSON object (get_object failed with e).
std::string object_error(simdjson::error_code e, const std::string& line) {
    if (e == simdjson::INCORRECT_TYPE) {
        // On Demand judges by the first byte ("this is..." looks like `true`): a
        // full parse tells JSON of another type from text that is not JSON.
        thread_local simdjson::dom::parser full;
        simdjson::dom::element el;
        if (full.parse(line).get(el)) return "not valid JSON";
        return "expected a JSON object {\"prompt\": ...}, found " + std::string(el.is_array() ? "an array" : el.is_string() ? "a string" : "a scalar");
    }
    if (e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT)
        return closes_before_end(line) ? "unexpected text after the JSON object (one object per line)"
                                       : "not valid JSON: the line ends inside its object (cut short?)";
    return doc_error(e);
}

// "id": a string, or a number kept as written. "" or the reason it is refused.
std::string read_id(simdjson::ondemand::value& v, Query& q, InputLine& last) {
    simdjson::ondemand::json_type t;
    if (v.type().get(t)) return "not valid JSON";
    std::string_view s;
    if (t == simdjson::ondemand::json_type::string) {
        if (auto e = v.get_string().get(s)) return value_error("id", e, "a string or a number");
        q.id.assign(s);
    } else if (t == simdjson::ondemand::json_type::number) {
        s = v.raw_json_token();
        q.id.assign(s);
        q.id.resize(ascii::trim_right(q.id).size());
    } else {
        return "\"id\" must be a string or a number";
    }
    last.has_id = true;
    last.id = q.id;
    return "";
}

// The fields a job uses; others are skipped. "" or the reason the line is refused.
std::string read_fields(simdjson::ondemand::object& obj, Query& q, InputLine& last, bool& has_prompt) {
    for (auto field : obj) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return doc_error(e);
        simdjson::ondemand::value v;
        if (auto e = field.value().get(v)) return doc_error(e);
        if (key == "prompt" || (key == "instruction" && !has_prompt)) {
            std::string_view s;
            if (auto e = v.get_string().get(s)) return value_error(key, e, "a string");
            q.prompt.assign(s);
            has_prompt = true;
        } else if (key == "dataset") {
            if (v.is_null()) continue;  // null: no dataset, as if absent
            std::string_view s;
            if (auto e = v.get_string().get(s)) return value_error("dataset", e, "a string");
            last.dataset.assign(s);
            last.has_dataset = true;
        } else if (key == "id") {
            if (std::string why = read_id(v, q, last); !why.empty()) return why;
        }  // other fields are skipped by the iteration
    }
    return "";
}

// The next line that is not blank, CR and BOM removed; false at the end of the input.
bool read_line(std::istream& in, std::string& line, uint64_t& line_no) {
    for (;;) {
        if (!std::getline(in, line)) return false;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 BOM (editors on Windows)
        if (ascii::is_blank(line, " \t")) continue;  // blank lines are not jobs
        return true;
    }
}

}  // namespace

std::optional<Query> JsonlSource::next() {
    auto& m = *impl_;
    if (!read_line(m.in, m.line, m.line_no)) return std::nullopt;
    Query q;
    m.last = InputLine{};
    m.last.line = m.line_no;
    auto fail = [&](const std::string& why) {
        q.error = "input line " + std::to_string(m.line_no) + ": " + why;
        q.prompt.clear();
        m.last.query.clear();
        return q;
    };
    m.line.reserve(m.line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    if (auto e = m.parser.iterate(m.line).get(doc)) return fail(doc_error(e));
    simdjson::ondemand::object obj;
    if (auto e = doc.get_object().get(obj)) return fail(object_error(e, m.line));
    bool has_prompt = false;
    if (std::string why = read_fields(obj, q, m.last, has_prompt); !why.empty()) return fail(why);
    // After the object, simdjson has a location only if another token follows.
    const char* rest = nullptr;
    if (!doc.current_location().get(rest)) return fail("unexpected text after the JSON object (one object per line)");
    if (!has_prompt) return fail("no \"prompt\" (or \"instruction\") field");
    // An empty prompt is refused here as it is for a single question: a row error
    // that names the line, not a call that asks a model nothing.
    if (ascii::is_blank(q.prompt, " \t\r\n")) return fail("empty prompt");
    m.last.query = q.prompt;
    return q;
}

namespace {

void id_value(JsonWriter& w, const InputLine& in) {
    if (in.has_id) w.value(in.id);
    else w.null();
}

void nodes_json(JsonWriter& w, const JobResult& r) {
    w.key("nodes").begin_array();
    for (const auto& n : r.nodes) {
        w.begin_object().key("node").value(n.node).key("layer").value(n.layer).key("status").value(to_string(n.status));
        w.key("text").value(n.text).key("agent").value(n.agent);
        if (!n.fallback_from.empty()) w.key("fallback_from").value(n.fallback_from);  // the original agent's failure
        if (!n.reply.empty())  // result = pick: what the model said, and what it chose
            w.key("reply").value(n.reply).key("picked").value(n.picked);
        w.key("attempts").value(n.attempts).key("tokens_in").value(n.tokens_in).key("tokens_out").value(n.tokens_out);
        // Money (docs/cli.md): null when the model has no price, never a silent 0.
        if (n.attempts > 0 || n.cache_hit) {
            w.key("cost_usd");
            if (n.cost_known) w.number(n.cost_usd);
            else w.null();
        }
        if (n.cache_hit) w.key("cache_hit").value(true).key("saved_usd").number(n.saved_usd);
        if (n.tokens_estimated) w.key("tokens_estimated").value(true);
        w.end_object();
    }
    w.end_array();
}

const std::string& dataset_of(const InputLine& in) {
    static const std::string fallback = "moa";
    return in.has_dataset ? in.dataset : fallback;
}

std::string jsonl_row(const JobResult& r, const InputLine& in, const RowOptions& o) {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("id");
    id_value(w, in);
    w.key("line").value(in.line).key("ok").value(r.ok);
    if (r.ok) {
        w.key("output").value(r.output());
        if (r.outputs.size() > 1) {
            w.key("outputs").begin_object();
            for (const auto& [name, text] : r.outputs) w.key(name).value(text);
            w.end_object();
        }
    } else {
        w.key("error").value(r.error).key("node").value(r.error_node);
    }
    if (o.journal)
        w.key("instruction").value(in.query).key("dataset").value(dataset_of(in)).key("generator").value(o.generator);
    if (o.emit_all) nodes_json(w, r);
    w.key("fingerprint").value(o.fingerprint).key("input_hash").value(input_hash_hex(input_hash(in)));
    w.end_object();
    s += '\n';
    return s;
}

// One element of an AlpacaEval list; `id`: the input's id, if it had one.
std::string alpaca_entry(std::string_view instruction, std::string_view output, std::string_view generator,
                         std::string_view dataset, const std::string* id) {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("instruction").value(instruction).key("output").value(output);
    w.key("generator").value(generator).key("dataset").value(dataset);
    if (id) w.key("id").value(*id);
    w.end_object();
    return s;
}

}  // namespace

std::string format_row(const JobResult& r, const InputLine& in, const RowOptions& o) {
    switch (o.format) {
        case OutputFormat::Text: {
            std::string s = "=== " + (in.has_id ? in.id : "line " + std::to_string(in.line)) + (r.ok ? "" : " (failed)") + " ===\n";
            if (r.ok) s += r.output();
            else s += "error: " + (r.error_node.empty() ? "" : r.error_node + ": ") + r.error;
            s += "\n";
            if (o.emit_all)
                for (const auto& n : r.nodes)
                    s += "--- " + n.node + " [" + to_string(n.status) + "]" +
                         (n.picked.empty() ? "" : " picked " + n.picked + " (reply: " + n.reply + ")") + "\n" + n.text + "\n";
            return s;
        }
        case OutputFormat::Jsonl: return jsonl_row(r, in, o);
        case OutputFormat::AlpacaEval: {
            if (!r.ok) return "";
            return alpaca_entry(in.query, r.output(), o.generator, dataset_of(in), in.has_id ? &in.id : nullptr);
        }
    }
    return "";
}

std::optional<OutputFormat> parse_output_format(std::string_view s) {
    for (OutputFormat f : {OutputFormat::Text, OutputFormat::Jsonl, OutputFormat::AlpacaEval})
        if (s == to_string(f)) return f;
    return std::nullopt;
}

const char* to_string(OutputFormat f) {
    switch (f) {
        case OutputFormat::Text: return "text";
        case OutputFormat::Jsonl: return "jsonl";
        case OutputFormat::AlpacaEval: return "alpaca-eval";
    }
    return "text";
}

uint32_t input_hash(const InputLine& in) {
    uint32_t h = 2166136261u;  // FNV-1a: the id (or its absence), a separator, the prompt
    auto add = [&](std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 16777619u;
    };
    add(in.has_id ? "i" : "n");
    add(in.id);
    add(std::string_view("\0", 1));
    add(in.query);
    return h;
}

std::string input_hash_hex(uint32_t h) {
    char b[9];
    std::snprintf(b, sizeof b, "%08x", h);
    return b;
}

bool parse_row(std::string& text, RowInfo& r) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(text.data(), text.size(), text.capacity() - text.size() < simdjson::SIMDJSON_PADDING).get(doc))
        return false;
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return false;
    simdjson::dom::element id, line, ok, fp, msg;
    if (obj["id"].get(id) || !(id.is_string() || id.is_null())) return false;
    r.id.assign(id.is_string() ? std::string_view(id.get_string().value_unsafe()) : std::string_view());
    if (obj["line"].get(line) || line.get_uint64().get(r.line) || r.line == 0) return false;
    std::string_view hash;
    if (obj["input_hash"].get_string().get(hash) || hash.size() != 8) return false;
    r.input_hash = 0;
    for (char c : hash) {  // exactly 8 hex digits, as written (strtoul would take "0x", "+" and spaces)
        int v = ascii::hex_value(c);
        if (v < 0) return false;
        r.input_hash = r.input_hash << 4 | static_cast<uint32_t>(v);
    }
    if (obj["ok"].get(ok) || ok.get_bool().get(r.ok)) return false;
    std::string_view s;
    if (obj["fingerprint"].get(fp) || fp.get_string().get(s)) return false;
    r.fingerprint.assign(s);
    if (obj[r.ok ? "output" : "error"].get(msg) || !msg.is_string()) return false;
    return true;
}

namespace {

struct RowRef {
    uint64_t line, offset, length;
};

std::string reason(const std::string& path) { return path + ": " + std::strerror(errno); }

}  // namespace

size_t render_alpaca(const std::string& journal, const std::string& fingerprint, const std::string& generator,
                     std::ostream& out) {
    std::ifstream in(journal, std::ios::binary);
    if (!in) throw Error(errno == ENOENT ? Error::Kind::NotFound : Error::Kind::Io, "cannot read " + reason(journal));
    // Pass 1: where each ok row is. The journal was compacted by resume, so a line
    // has at most one row; the first one wins if not.
    std::vector<RowRef> refs;
    std::string text;
    uint64_t offset = 0;
    RowInfo info;
    while (std::getline(in, text)) {
        uint64_t len = text.size();
        bool complete = !in.eof();
        if (complete && parse_row(text, info) && info.ok && info.fingerprint == fingerprint)
            refs.push_back({info.line, offset, len});
        offset += len + 1;
    }
    std::stable_sort(refs.begin(), refs.end(), [](const RowRef& a, const RowRef& b) { return a.line < b.line; });
    // Pass 2: the entries, in input order.
    in.clear();
    simdjson::dom::parser parser;
    size_t entries = 0;
    uint64_t prev_line = 0;
    out << "[";
    for (const RowRef& ref : refs) {
        if (ref.line == prev_line) continue;
        prev_line = ref.line;
        text.assign(ref.length, '\0');
        in.seekg(static_cast<std::streamoff>(ref.offset));
        if (!in.read(text.data(), static_cast<std::streamsize>(ref.length)))
            throw Error(Error::Kind::Io, "cannot read " + reason(journal));
        simdjson::dom::object o;
        if (parser.parse(text).get_object().get(o)) continue;
        std::string_view instruction, output, dataset;
        if (o["instruction"].get_string().get(instruction) || o["output"].get_string().get(output) ||
            o["dataset"].get_string().get(dataset))
            continue;
        std::string_view id_text;
        bool has_id = !o["id"].get_string().get(id_text);
        std::string id(id_text);  // written by the one writer, as the row's own id is on stdout
        out << (entries ? ",\n " : "\n ") << alpaca_entry(instruction, output, generator, dataset, has_id ? &id : nullptr);
        ++entries;
    }
    out << (entries ? "\n]\n" : "]\n");
    return entries;
}

}  // namespace moa

#include "cache/cache_tools.hpp"

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
    int64_t ms = 0;  // optional (exports of older versions have none)
    if (!doc["latency_ms"].get_int64().get(ms) && ms >= 0) r.latency_ms = ms;
    if (!doc["first_token_ms"].get_int64().get(ms) && ms >= 0) r.first_token_ms = ms;
    return r.key.size() == 32;
}

}  // namespace moa
