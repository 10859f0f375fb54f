// Batch input and output: JSONL queries in (read lazily, one line at a time), results
// out as JSONL, AlpacaEval's JSON list, or text. simdjson lives in batch_io.cpp only.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "moa/diagnostics.hpp"  // append_json_string
#include "moa/engine.hpp"

namespace moa {

// Lines are JSON objects with the query in "prompt" (or "instruction", AlpacaEval's
// name) and an optional "id" (string or number; default: the line number). A
// malformed line becomes a Query with `error` set, not the end of the batch.
class JsonlSource : public QuerySource {
public:
    explicit JsonlSource(std::istream& in);
    ~JsonlSource() override;
    std::optional<Query> next() override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

enum class OutputFormat { Text, Jsonl, AlpacaEval };

class ResultWriter {
public:
    ResultWriter(std::ostream& out, OutputFormat format, std::string generator, bool emit_all);
    void write(const JobResult& r, const std::string& query);
    void finish();  // closes the AlpacaEval list

private:
    std::ostream& out_;
    OutputFormat format_;
    std::string generator_;
    bool emit_all_;
    size_t written_ = 0;
};


}  // namespace moa
