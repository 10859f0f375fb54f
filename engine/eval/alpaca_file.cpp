// AlpacaEval outputs files: read (simdjson, this file only), matched to the eval's
// queries by instruction text, and written back. Strict: a candidate read from a file
// either answers every query or the eval does not start.
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "moa/eval.hpp"
#include "moa/json_writer.hpp"

namespace moa::eval {

namespace {

[[noreturn]] void invalid(const std::string& path, const std::string& why) {
    throw Error(Error::Kind::Invalid, path + ": " + why);
}

std::string entry_name(size_t i) { return "entry " + std::to_string(i) + " (0-based)"; }

// A required string field; "" with `present` false when absent and optional.
std::string string_field(simdjson::ondemand::object& obj, const char* key, const std::string& path, size_t i,
                         bool required) {
    simdjson::ondemand::value v;
    auto e = obj.find_field_unordered(key).get(v);
    if (e == simdjson::NO_SUCH_FIELD) {
        if (required) invalid(path, entry_name(i) + " has no \"" + key + "\"");
        return {};
    }
    std::string_view s;
    if (e || (e = v.get_string().get(s)))
        invalid(path, entry_name(i) + ": \"" + key + "\" must be a string (" + simdjson::error_message(e) + ")");
    return std::string(s);
}

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(errno == ENOENT ? Error::Kind::NotFound : Error::Kind::Io,
                    "cannot open " + path + ": " + std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (in.bad()) throw Error(Error::Kind::Io, "cannot read " + path + ": " + std::strerror(errno));
    return text;
}

}  // namespace

bool looks_like_alpaca_outputs(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char c = 0;
    while (in.get(c))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c == '[';
    return false;
}

std::vector<AlpacaEntry> read_alpaca_outputs(const std::string& path) {
    std::string text = read_whole(path);
    text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc;
    simdjson::ondemand::array arr;
    if (auto e = parser.iterate(text).get(doc); e || (e = doc.get_array().get(arr)))
        invalid(path, std::string("not an AlpacaEval outputs file (a JSON array of objects): ") +
                          simdjson::error_message(e));
    std::vector<AlpacaEntry> out;
    size_t i = 0;
    for (auto item : arr) {
        simdjson::ondemand::object obj;
        if (auto e = item.get_object().get(obj))
            invalid(path, entry_name(i) + " is not an object (" + simdjson::error_message(e) + ")");
        AlpacaEntry a;
        a.instruction = string_field(obj, "instruction", path, i, true);
        a.output = string_field(obj, "output", path, i, true);
        a.generator = string_field(obj, "generator", path, i, true);
        a.dataset = string_field(obj, "dataset", path, i, false);
        if (!out.empty() && a.generator != out.front().generator)
            invalid(path, entry_name(i) + " is by generator \"" + a.generator + "\", entry 0 by \"" +
                              out.front().generator + "\": one outputs file must hold one system's answers");
        out.push_back(std::move(a));
        ++i;
    }
    const char* rest = nullptr;
    if (!doc.current_location().get(rest)) invalid(path, "unexpected text after the JSON array");
    if (out.empty()) invalid(path, "holds no entries");
    return out;
}

namespace {

// "a, b, c and 4 more" from the first few items.
std::string first_few(const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size() && i < 3; ++i) s += (i ? ", " : "") + items[i];
    if (items.size() > 3) s += " and " + std::to_string(items.size() - 3) + " more";
    return s;
}

std::string quoted_prefix(const std::string& text) {
    std::string t = text.size() > 40 ? text.substr(0, 37) + "..." : text;
    for (char& c : t)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return "\"" + t + "\"";
}

}  // namespace

std::vector<Answer> match_alpaca_outputs(const std::vector<AlpacaEntry>& entries, const std::vector<EvalQuery>& queries,
                                         const std::string& path, MatchReport& report) {
    std::unordered_map<std::string_view, size_t> by_text;
    std::vector<std::string> dups;
    for (size_t i = 0; i < entries.size(); ++i) {
        auto [it, fresh] = by_text.emplace(entries[i].instruction, i);
        if (!fresh) dups.push_back(entry_name(i) + " repeats entry " + std::to_string(it->second) + "'s instruction " +
                                   quoted_prefix(entries[i].instruction));
    }
    if (!dups.empty())
        invalid(path, std::to_string(dups.size()) + " duplicate instruction(s), so the answer to use is ambiguous: " +
                          first_few(dups));
    std::vector<Answer> answers(queries.size());
    std::vector<std::string> missing;
    std::vector<bool> used(entries.size(), false);
    for (size_t q = 0; q < queries.size(); ++q) {
        auto it = by_text.find(queries[q].instruction);
        if (it == by_text.end()) {
            missing.push_back("input line " + std::to_string(queries[q].line) + " " +
                              quoted_prefix(queries[q].instruction));
            continue;
        }
        used[it->second] = true;
        answers[q].ok = true;
        answers[q].text = entries[it->second].output;
    }
    if (!missing.empty())
        invalid(path, "has no answer for " + std::to_string(missing.size()) + " of the " +
                          std::to_string(queries.size()) + " input queries (matched by exact instruction text): " +
                          first_few(missing));
    report.generator = entries.front().generator;
    report.unmatched_entries = static_cast<size_t>(std::count(used.begin(), used.end(), false));
    return answers;
}

size_t write_alpaca_outputs(const std::string& path, const std::vector<EvalQuery>& queries,
                            const std::vector<Answer>& answers, const std::string& generator) {
    std::string s = "[";
    size_t n = 0;
    for (size_t q = 0; q < queries.size() && q < answers.size(); ++q) {
        if (!answers[q].ok) continue;  // failures are not answers
        s += n++ ? ",\n " : "\n ";
        JsonWriter w(s);
        w.begin_object().key("instruction").value(queries[q].instruction).key("output").value(answers[q].text);
        w.key("generator").value(generator).key("dataset").value(queries[q].dataset.empty() ? "moa" : queries[q].dataset);
        w.end_object();
    }
    s += n ? "\n]\n" : "]\n";
    write_file_atomically(path, s);
    return n;
}

}  // namespace moa::eval
