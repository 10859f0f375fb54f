// Batch input and output: JSONL queries in (read lazily, one line at a time), results
// out as JSONL, AlpacaEval's JSON list, or text. simdjson lives in batch_io.cpp only.
// The formats are documented field by field in docs/cli.md.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "moa/diagnostics.hpp"  // append_json_string
#include "moa/engine.hpp"
#include "moa/error.hpp"

namespace moa {

// What a result row needs to know about its input line besides the query.
struct InputLine {
    uint64_t line = 0;        // 1-based physical line number (blank lines count)
    bool has_id = false;      // the line had an "id"; if not, the row's id is null
    std::string id;           // the input's id as text ("7" for 7 and for "7")
    std::string query;        // the prompt (kept for AlpacaEval's "instruction")
    bool has_dataset = false;
    std::string dataset;      // AlpacaEval's "dataset", copied through
};

// Lines are JSON objects with the query in "prompt" (or "instruction", AlpacaEval's
// name), an optional "id" (string or number) and an optional "dataset". Blank lines
// are skipped (they are not jobs). A malformed line or an empty prompt becomes a
// Query with `error` set, not the end of the batch.
class JsonlSource : public QuerySource {
public:
    explicit JsonlSource(std::istream& in);
    ~JsonlSource() override;
    std::optional<Query> next() override;
    const InputLine& last() const;  // the line next() returned last

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

enum class OutputFormat { Text, Jsonl, AlpacaEval };
// "text", "jsonl", "alpaca-eval" (the spellings of `moa run --format`), or nullopt.
std::optional<OutputFormat> parse_output_format(std::string_view s);
const char* to_string(OutputFormat f);

struct RowOptions {
    OutputFormat format = OutputFormat::Jsonl;
    std::string generator;    // AlpacaEval "generator"
    bool emit_all = false;    // every node's event per row
    std::string fingerprint;  // graph + settings; written in each JSONL row
    bool journal = false;     // JSONL row that also carries the AlpacaEval fields
};

// One result as text in the chosen format (a JSONL row ends in '\n'). AlpacaEval gives
// one list element (no separator), or "" for a failed job: failures are not answers.
std::string format_row(const JobResult& r, const InputLine& in, const RowOptions& o);

// What resume needs from one JSONL result row. parse_row accepts only a complete row
// of our format (valid JSON; id string or null; line >= 1; ok; fingerprint; output or
// error); `text` gets spare capacity for the parser.
struct RowInfo {
    uint64_t line = 0;
    bool ok = false;
    uint32_t input_hash = 0;
    std::string fingerprint;
    std::string id;  // the row's id as text, "" for null
};

// A short hash of an input line's prompt and id, written in each JSONL row
// ("input_hash"): resume trusts a row only for an input line with the same hash.
uint32_t input_hash(const InputLine& in);
std::string input_hash_hex(uint32_t h);
bool parse_row(std::string& text, RowInfo& r);

// Writes the AlpacaEval list of the ok rows of a journal (JSONL rows with the
// AlpacaEval fields), in input order, to `out`, with this run's `generator`, and returns
// how many entries it holds. Streams the journal twice; keeps only (line, offset) per
// row. Throws moa::Error (Kind::Io, or NotFound) naming the path and the reason.
size_t render_alpaca(const std::string& journal, const std::string& fingerprint, const std::string& generator,
                     std::ostream& out);

}  // namespace moa
