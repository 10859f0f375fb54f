// The batch output file: never the input itself,
// resume that trusts only rows it can verify, and writes that report why they failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moa::cli {

// "PATH: reason" with strerror(errno).
std::string with_reason(const std::string& path);

// True if both paths exist and are the same file (same device and inode: catches
// another spelling, a hard link or a symlink). "-" means stdin's file for `a`.
bool same_file(const std::string& a, const std::string& b);

// What an earlier output holds for resume.
struct ResumeScan {
    struct Line {
        uint32_t input_hash = 0;  // of the input line the row answered
        uint8_t state = 0;        // 0 nothing, 1 failed row kept, 2 ok row
    };
    std::vector<Line> state;  // by input line
    size_t ok = 0, failed_kept = 0, failed_dropped = 0, invalid = 0, duplicates = 0;
    uint64_t first_invalid_line = 0;  // line number in the output file
    bool torn = false;                // a partial last line (a killed run) was cut off
    bool refused = false;             // another graph's or not our file (not an I/O error)
    bool done(uint64_t line) const { return line < state.size() && state[line].state != 0; }
    uint64_t last_line() const;  // the highest input line with a kept row (0: none)
    size_t rows() const { return ok + failed_kept; }
};

// Reads an existing JSONL output (or journal) line by line, validates every row, and
// leaves only trusted rows: a torn last line is cut off; invalid rows, second rows of a
// line and (unless keep_failed) failed rows are dropped by rewriting the file through
// a temporary name and a rename. Fails (with `error`) when a row was written by another
// graph or settings, or when the file holds no row of ours at all (not a moa output).
bool scan_output(const std::string& path, const std::string& fingerprint, bool keep_failed, ResumeScan& scan,
                 std::string& error);

// Appends to a file descriptor with write(2): each row in one call, errors with errno.
class FdWriter {
public:
    FdWriter() = default;
    ~FdWriter();
    bool open_append(const std::string& path, bool truncate);  // false: see errno
    void use_stdout();
    bool write(const std::string& s);  // false: errno says why
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    bool owned_ = false;
};

// The id of the row for input `line` in a result file ("null" when it has none).
std::string row_id(const std::string& path, uint64_t line);

// Writes `text` to PATH.tmp, fsyncs it and renames it over PATH: readers see the old
// file or the new one, never a partial one.
bool replace_file(const std::string& path, const std::string& text, std::string& error);

}  // namespace moa::cli
