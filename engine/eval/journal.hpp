// The answers journal of one graph candidate (eval.hpp, run_candidate): one JSONL row per
// ok answer, appended as each job finishes, so an interrupted or extended eval reuses
// what it measured (answer, latency, calls, tokens, cost) instead of re-running it.
// The cache alone would make the calls free but report their latency as ~0.
#pragma once

#include <string>
#include <unordered_map>

#include "moa/eval.hpp"

namespace moa::eval {

// instruction -> answer, from every row that parses whole ("" path or no file: empty).
// Throws moa::Error (Io) when the file exists but cannot be read.
std::unordered_map<std::string, Answer> read_journal(const std::string& path);

// Appends rows with one write(2) each. open() creates the parent directories, and cuts
// a torn last line (no newline: a crash mid-write) so the next row starts a line.
class JournalWriter {
public:
    JournalWriter() = default;
    ~JournalWriter();
    JournalWriter(const JournalWriter&) = delete;
    JournalWriter& operator=(const JournalWriter&) = delete;
    void open(const std::string& path);  // throws moa::Error (Io)
    void append(const std::string& instruction, const Answer& a);  // throws moa::Error (Io)

private:
    int fd_ = -1;
    std::string path_;
};

std::string journal_row(const std::string& instruction, const Answer& a);

}  // namespace moa::eval
