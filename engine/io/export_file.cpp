#include "io/export_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace moa {

namespace fs = std::filesystem;

namespace {

// `p` with every symlink of its last component followed (a dangling link gives the
// path it points to, which the export then creates). False on a loop.
bool follow_links(fs::path& p, std::string& err) {
    for (int hops = 0; hops < 40; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec))) return true;
        fs::path to = fs::read_symlink(p, ec);
        if (ec) {
            err = "cannot read the symlink " + p.string() + ": " + ec.message();
            return false;
        }
        p = to.is_absolute() ? to : p.parent_path() / to;
    }
    err = "cannot write " + p.string() + ": " + std::strerror(ELOOP);
    return false;
}

}  // namespace

bool ExportFile::open(const std::string& file, std::string& err) {
    if (file == "-") {
        fd_ = 1;
        return true;
    }
    // The kernel follows the links first (also /proc's magic ones, like /dev/stdout to
    // a pipe): what is not a regular file is opened by the name given, in place.
    struct stat st {};
    bool exists = ::stat(file.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        err = "cannot write " + file + ": " + std::strerror(EISDIR);
        return false;
    }
    struct stat out {};
    if (exists && ::fstat(1, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino) {
        fd_ = 1;  // /dev/stdout, or a path our stdout is redirected to: written as `-`
        return true;
    }
    if (exists && !S_ISREG(st.st_mode)) {  // a device or FIFO: in place
        target_ = file;
        fd_ = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd_ < 0) err = "cannot write " + file + ": " + std::strerror(errno);
        return fd_ >= 0;
    }
    fs::path p = file;
    if (!follow_links(p, err)) return false;
    target_ = p.string();
    tmp_ = target_ + ".tmp";
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) {
        err = "cannot write " + tmp_ + ": " + std::strerror(errno);
        tmp_.clear();
        return false;
    }
    return true;
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

bool ExportFile::commit(std::string& err) {
    bool ok = flush();
    if (fd_ > 1 && ::close(fd_) != 0 && ok) {
        errno_ = errno;
        ok = false;
    }
    std::string written = name();
    if (fd_ > 1) fd_ = -1;
    if (!ok) {
        err = "writing " + written + " failed: " + std::strerror(errno_);
        return false;
    }
    if (tmp_.empty()) return true;
    std::error_code ec;
    fs::rename(tmp_, target_, ec);
    if (ec) {
        err = "cannot rename " + tmp_ + " to " + target_ + ": " + ec.message();
        return false;
    }
    tmp_.clear();
    return true;
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
