#include "eval/journal.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "moa/json_writer.hpp"

namespace moa::eval {

namespace {

[[noreturn]] void io_error(const std::string& what, const std::string& path, int err) {
    throw Error(Error::Kind::Io, what + " " + path + ": " + std::strerror(err));
}

// One row into `out`; false when any field is missing or of the wrong type.
bool parse_journal_row(simdjson::ondemand::parser& parser, std::string& line, std::string& instruction, Answer& a) {
    line.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object o;
    if (parser.iterate(line).get(doc) || doc.get_object().get(o)) return false;
    std::string_view ins, out;
    uint64_t calls = 0, tin = 0, tout = 0;
    double lat = 0, cost = 0;
    bool known = false;
    if (o["instruction"].get_string().get(ins) || o["output"].get_string().get(out) ||
        o["latency_ms"].get_double().get(lat) || o["calls"].get_uint64().get(calls) ||
        o["tokens_in"].get_uint64().get(tin) || o["tokens_out"].get_uint64().get(tout) ||
        o["cost_usd"].get_double().get(cost) || o["cost_known"].get_bool().get(known))
        return false;
    instruction.assign(ins);
    a = Answer{true, std::string(out), true, lat, static_cast<uint32_t>(calls), tin, tout, cost, known};
    return true;
}

}  // namespace

std::unordered_map<std::string, Answer> read_journal(const std::string& path) {
    std::unordered_map<std::string, Answer> rows;
    if (path.empty()) return rows;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return rows;
        io_error("cannot open the eval journal", path, errno);
    }
    simdjson::ondemand::parser parser;
    std::string line, instruction;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // no newline after it: a torn row, not trusted
        Answer a;
        if (parse_journal_row(parser, line, instruction, a)) rows[instruction] = std::move(a);
    }
    if (in.bad()) io_error("cannot read the eval journal", path, errno);
    return rows;
}

std::string journal_row(const std::string& instruction, const Answer& a) {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("instruction").value(instruction).key("output").value(a.text);
    w.key("latency_ms").number(a.latency_ms).key("calls").value(a.calls);
    w.key("tokens_in").value(a.tokens_in).key("tokens_out").value(a.tokens_out);
    w.key("cost_usd").number(a.cost_usd).key("cost_known").value(a.cost_known);
    w.end_object();
    s += '\n';
    return s;
}

JournalWriter::~JournalWriter() {
    if (fd_ >= 0) ::close(fd_);
}

void JournalWriter::open(const std::string& path) {
    path_ = path;
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) throw Error(Error::Kind::Io, "cannot create " + parent.string() + ": " + ec.message());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) io_error("cannot open the eval journal", path, errno);
    // Cut a torn last row: find the last newline from the end.
    off_t size = ::lseek(fd_, 0, SEEK_END), keep = size;
    char c = 0;
    while (keep > 0 && ::pread(fd_, &c, 1, keep - 1) == 1 && c != '\n') --keep;
    if (keep != size && ::ftruncate(fd_, keep) != 0) io_error("cannot repair the eval journal", path, errno);
    if (::lseek(fd_, keep, SEEK_SET) < 0) io_error("cannot seek in the eval journal", path, errno);
}

void JournalWriter::append(const std::string& instruction, const Answer& a) {
    if (fd_ < 0) return;
    std::string row = journal_row(instruction, a);
    size_t done = 0;
    while (done < row.size()) {
        ssize_t n = ::write(fd_, row.data() + done, row.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) io_error("cannot write the eval journal", path_, n < 0 ? errno : EIO);
        done += static_cast<size_t>(n);
    }
}

}  // namespace moa::eval

namespace moa::eval {

CallTimes::CallTimes(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return;
        io_error("cannot open", path_, errno);
    }
    for (std::string line; std::getline(in, line);) {
        if (in.eof()) break;  // no newline: torn by a crash
        char* end = nullptr;
        uint64_t k = std::strtoull(line.c_str(), &end, 16);
        if (end != line.c_str() + 16 || *end != '\t') continue;
        char* end2 = nullptr;
        double ms = std::strtod(end + 1, &end2);
        if (end2 != end + 1 && *end2 == '\0' && ms >= 0) ms_[k] = ms;
    }
}

const double* CallTimes::find(uint64_t key) const {
    auto it = ms_.find(key);
    return it == ms_.end() ? nullptr : &it->second;
}

void CallTimes::add(uint64_t key, double ms) {
    if (!ms_.emplace(key, ms).second || path_.empty()) return;
    char line[64];
    int n = std::snprintf(line, sizeof line, "%016llx\t%.3f\n", static_cast<unsigned long long>(key), ms);
    std::error_code ec;
    auto parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) io_error("cannot open", path_, errno);
    ssize_t w = ::write(fd, line, static_cast<size_t>(n));  // O_APPEND: one whole line
    int err = errno;
    ::close(fd);
    if (w != n) io_error("cannot write", path_, w < 0 ? err : EIO);
}

uint64_t CallTimes::key(std::string_view model, std::string_view query, std::string_view answer) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (std::string_view part : {model, query, answer}) {
        for (unsigned char c : part) h = (h ^ c) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;  // separator: ("ab","c") != ("a","bc")
    }
    return h;
}

}  // namespace moa::eval
