#include "output_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "moa/batch_io.hpp"
#include "moa/json_writer.hpp"

namespace moa::cli {

std::string with_reason(const std::string& path) { return path + ": " + std::strerror(errno); }

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa{}, sb{};
    int ra = a == "-" ? fstat(STDIN_FILENO, &sa) : stat(a.c_str(), &sa);
    if (ra != 0 || stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

namespace {

constexpr uint64_t kMaxLine = uint64_t{1} << 28;  // bounds the per-line table
constexpr size_t kMaxRowBytes = size_t{64} << 20;  // a longer "row" is not ours: skipped, not held

// Lines of a file through a fixed buffer; a line over kMaxRowBytes is reported as
// `too_long` without being kept in memory.
class LineReader {
public:
    explicit LineReader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
    ~LineReader() {
        if (fd_ >= 0) close(fd_);
    }
    bool ok() const { return fd_ >= 0 && !error_; }
    // False at the end. `complete`: the line ended with a newline.
    bool next(std::string& line, bool& complete, bool& too_long) {
        line.clear();
        complete = too_long = false;
        bool any = false;
        for (;;) {
            if (pos_ == end_ && !fill()) return any;
            any = true;
            const char* start = buf_ + pos_;
            const char* nl = static_cast<const char*>(memchr(start, '\n', end_ - pos_));
            size_t n = nl ? static_cast<size_t>(nl - start) : end_ - pos_;
            if (!too_long && line.size() + n > kMaxRowBytes) {
                too_long = true;
                std::string().swap(line);
            }
            if (!too_long) line.append(start, n);
            pos_ += n + (nl ? 1 : 0);
            if (nl) return complete = true;
        }
    }

private:
    bool fill() {
        if (fd_ < 0) return false;
        ssize_t r;
        do r = ::read(fd_, buf_, sizeof buf_);
        while (r < 0 && errno == EINTR);
        if (r < 0) error_ = true;
        pos_ = 0;
        end_ = r > 0 ? static_cast<size_t>(r) : 0;
        return r > 0;
    }
    int fd_;
    bool error_ = false;
    size_t pos_ = 0, end_ = 0;
    char buf_[1 << 16];
};

// One pass over the rows; `fn(row_no, text, valid, info)` is called for every complete
// line. A last line without a newline (a row cut off by a killed run) is not passed:
// its length goes to `torn`. Returns false on a read error.
template <typename Fn>
bool each_row(const std::string& path, uint64_t& torn, Fn&& fn) {
    auto in = std::make_unique<LineReader>(path);
    if (!in->ok()) return false;
    std::string text;
    RowInfo info;
    uint64_t row_no = 0;
    bool complete = false, too_long = false;
    while (in->next(text, complete, too_long)) {
        ++row_no;
        if (!complete && !too_long) {
            torn = text.size();
            break;
        }
        bool valid = !too_long && parse_row(text, info) && info.line < kMaxLine;  // reads `text`, does not change it
        fn(row_no, text, valid, info);
    }
    return in->ok();
}

// Rewrites the file with exactly one row per kept line (temp file, fsync, rename).
bool rewrite_rows(const std::string& path, const ResumeScan& scan, std::string& error) {
    std::string tmp = path + ".tmp";
    FdWriter w;
    if (!w.open_append(tmp, true)) {
        error = "cannot write " + with_reason(tmp);
        return false;
    }
    std::vector<uint8_t> emitted(scan.state.size(), 0);
    uint64_t torn = 0;
    bool write_ok = true;
    bool ok = each_row(path, torn, [&](uint64_t, const std::string& text, bool valid, const RowInfo& r) {
        if (!valid || !write_ok || r.line >= scan.state.size() || emitted[r.line]) return;
        const auto& kept = scan.state[r.line];
        if (kept.state != (r.ok ? 2 : 1) || kept.input_hash != r.input_hash) return;
        emitted[r.line] = 1;
        write_ok = w.write(text + "\n");
    });
    if (!ok || !write_ok || fsync(w.fd()) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot rewrite " + with_reason(ok ? tmp : path);
        unlink(tmp.c_str());
        return false;
    }
    return true;
}

}  // namespace

bool scan_output(const std::string& path, const std::string& fingerprint, bool keep_failed, ResumeScan& scan,
                 std::string& error) {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return true;  // nothing to resume
    std::string other_fp;
    uint64_t other_row = 0, torn_bytes = 0;
    bool ok = each_row(path, torn_bytes, [&](uint64_t row_no, const std::string&, bool valid, const RowInfo& r) {
        if (!valid) {
            if (!scan.invalid++) scan.first_invalid_line = row_no;
            return;
        }
        if (r.fingerprint != fingerprint) {
            if (other_fp.empty()) {
                other_fp = r.fingerprint;
                other_row = row_no;
            }
            return;
        }
        if (scan.state.size() <= r.line) scan.state.resize(r.line + 1);
        ResumeScan::Line& s = scan.state[r.line];
        uint8_t mine = r.ok ? 2 : (keep_failed ? 1 : 0);
        if (s.state != 0) ++scan.duplicates;
        if (!r.ok && !keep_failed) ++scan.failed_dropped;
        if (mine > s.state) s = {r.input_hash, mine};  // an ok row beats a failed one
    });
    if (!ok) {
        error = "cannot read " + with_reason(path);
        return false;
    }
    scan.torn = torn_bytes > 0;
    if (!other_fp.empty()) {
        scan.refused = true;
        error = path + " holds results of a different graph or settings (line " + std::to_string(other_row) +
                ": fingerprint " + other_fp + ", this run: " + fingerprint +
                "); resuming would mix their answers. Use --overwrite to start it again, or choose another --output";
        return false;
    }
    for (const auto& s : scan.state) {
        if (s.state == 2) ++scan.ok;
        if (s.state == 1) ++scan.failed_kept;
    }
    // A file with no complete row of ours is not a moa output, even without a newline
    // at its end (that is not a torn row of ours: nothing of ours precedes it).
    if (scan.rows() == 0 && scan.failed_dropped == 0 && (scan.invalid || scan.torn)) {
        scan.refused = true;
        error = path + " is not a moa result file (line " + std::to_string(scan.invalid ? scan.first_invalid_line : 1) +
                " is not a result row); use --overwrite to replace it, or choose another --output";
        return false;
    }
    // The file's rows that failed validation were counted in `duplicates` as well
    // when they repeated a line; a rewrite keeps exactly one row per kept line.
    bool rewrite = scan.invalid || scan.duplicates || scan.failed_dropped;
    if (!rewrite) {
        if (scan.torn) {
            // Cut the partial row: everything before the last newline stays.
            if (truncate(path.c_str(), st.st_size - static_cast<off_t>(torn_bytes)) != 0) {
                error = "cannot cut the partial last row of " + with_reason(path);
                return false;
            }
        }
        return true;
    }
    return rewrite_rows(path, scan, error);
}

uint64_t ResumeScan::last_line() const {
    for (size_t i = state.size(); i-- > 0;)
        if (state[i].state) return i;
    return 0;
}

std::string row_id(const std::string& path, uint64_t line) {
    std::string id = "null";
    uint64_t torn = 0;
    each_row(path, torn, [&](uint64_t, const std::string&, bool valid, const RowInfo& r) {
        if (valid && r.line == line && id == "null" && !r.id.empty()) id = json_quote(r.id);  // escaped: ids are any text
    });
    return id;
}

FdWriter::~FdWriter() {
    if (owned_ && fd_ >= 0) close(fd_);
}

bool FdWriter::open_append(const std::string& path, bool truncate) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    owned_ = fd_ >= 0;
    return fd_ >= 0;
}

void FdWriter::use_stdout() {
    fd_ = STDOUT_FILENO;
    owned_ = false;
}

bool FdWriter::write(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::write(fd_, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

bool replace_file(const std::string& path, const std::string& text, std::string& error) {
    std::string tmp = path + ".tmp";
    FdWriter w;
    if (!w.open_append(tmp, true)) {
        error = "cannot write " + with_reason(tmp);
        return false;
    }
    if (!w.write(text) || fsync(w.fd()) != 0) {
        error = "cannot write " + with_reason(tmp);
        unlink(tmp.c_str());
        return false;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot rename " + tmp + " to " + with_reason(path);
        unlink(tmp.c_str());
        return false;
    }
    return true;
}

}  // namespace moa::cli
