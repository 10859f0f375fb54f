#include "io/export_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "moa/error.hpp"

namespace moa {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& message) { throw Error(Error::Kind::Io, message); }

// `p` with every symlink of its last component followed (a dangling link gives the
// path it points to, which the export then creates). Throws on a loop.
void follow_links(fs::path& p) {
    for (int hops = 0; hops < 40; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec))) return;
        fs::path to = fs::read_symlink(p, ec);
        if (ec) fail("cannot read the symlink " + p.string() + ": " + ec.message());
        p = to.is_absolute() ? to : p.parent_path() / to;
    }
    fail("cannot write " + p.string() + ": " + std::strerror(ELOOP));
}

}  // namespace

void ExportFile::open(const std::string& file) {
    if (file == "-") {
        fd_ = 1;
        return;
    }
    // The kernel follows the links first (also /proc's magic ones, like /dev/stdout to
    // a pipe): what is not a regular file is opened by the name given, in place.
    struct stat st {};
    bool exists = ::stat(file.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) fail("cannot write " + file + ": " + std::strerror(EISDIR));
    struct stat out {};
    if (exists && ::fstat(1, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino) {
        fd_ = 1;  // /dev/stdout, or a path our stdout is redirected to: written as `-`
        return;
    }
    if (exists && !S_ISREG(st.st_mode)) {  // a device or FIFO: in place
        target_ = file;
        fd_ = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd_ < 0) fail("cannot write " + file + ": " + std::strerror(errno));
        return;
    }
    fs::path p = file;
    follow_links(p);
    target_ = p.string();
    tmp_ = target_ + ".tmp";
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) {
        std::string tmp = std::move(tmp_);
        tmp_.clear();
        fail("cannot write " + tmp + ": " + std::strerror(errno));
    }
}

ExportFile::~ExportFile() {
    abandon();
}

std::string ExportFile::name() const { return fd_ == 1 ? "stdout" : tmp_.empty() ? target_ : tmp_; }

void ExportFile::write(const std::string& s) {
    buf_ += s;
    if (buf_.size() >= (1u << 16)) flush();
}

bool ExportFile::flush() {
    size_t at = 0;
    while (errno_ == 0 && at < buf_.size()) {
        ssize_t n = ::write(fd_, buf_.data() + at, buf_.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) errno_ = errno;
        else at += static_cast<size_t>(n);
    }
    buf_.clear();
    return errno_ == 0;
}

void ExportFile::commit() {
    bool ok = flush();
    if (fd_ > 1 && ::close(fd_) != 0 && ok) {
        errno_ = errno;
        ok = false;
    }
    std::string written = name();
    if (fd_ > 1) fd_ = -1;
    if (!ok) fail("writing " + written + " failed: " + std::strerror(errno_));
    if (tmp_.empty()) return;
    std::error_code ec;
    fs::rename(tmp_, target_, ec);
    if (ec) fail("cannot rename " + tmp_ + " to " + target_ + ": " + ec.message());
    tmp_.clear();
}

void ExportFile::abandon() {
    if (fd_ > 1) ::close(fd_);
    if (fd_ > 1 || !tmp_.empty()) fd_ = -1;
    if (!tmp_.empty()) {
        std::error_code ec;
        fs::remove(tmp_, ec);
        tmp_.clear();
    }
}

}  // namespace moa
