#include "output_target.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "output_file.hpp"

namespace moa::cli {

bool resolve_output(const std::string& path, OutputPath& out, std::string& error) {
    std::string p = path;
    for (int hops = 0;; ++hops) {
        struct stat st{};
        if (lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) break;
        if (hops == 40) {
            errno = ELOOP;
            error = "cannot follow " + with_reason(path);
            return false;
        }
        char buf[PATH_MAX];
        ssize_t n = readlink(p.c_str(), buf, sizeof buf - 1);
        if (n < 0) {
            error = "cannot read the link " + with_reason(p);
            return false;
        }
        std::string target(buf, static_cast<size_t>(n));
        if (target.empty() || target[0] != '/') {  // relative to the link's directory
            size_t slash = p.rfind('/');
            target = (slash == std::string::npos ? "" : p.substr(0, slash + 1)) + target;
        }
        p = target;
    }
    out.resolved = p;
    struct stat st{};
    if (stat(p.c_str(), &st) != 0)
        out.kind = TargetKind::Absent;
    else if (S_ISDIR(st.st_mode))
        out.kind = TargetKind::Directory;
    else if (S_ISREG(st.st_mode))
        out.kind = TargetKind::Regular;
    else
        out.kind = TargetKind::Stream;
    return true;
}

OutputLock::~OutputLock() {
    for (auto& f : files_) close(f.first);
    if (fd_ < 0) return;
    // Unlink while still holding the lock; a run that opened the old file re-checks
    // the inode after locking (below) and retries on the new one.
    unlink(path_.c_str());
    close(fd_);
}

bool OutputLock::acquire(const std::string& output, std::string& error, bool& busy) {
    busy = false;
    path_ = output + ".lock";
    for (int tries = 0; tries < 10; ++tries) {
        int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            error = "cannot create the lock file " + with_reason(path_);
            return false;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char pid[32] = {0};
            ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
            close(fd);
            if (e == EWOULDBLOCK) {
                busy = true;
                std::string who = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
                while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
                error = output + " is being written by another moa run" + (who.empty() ? "" : " (pid " + who + ")") +
                        " holding " + path_ + "; wait for it to end, or choose another --output";
            } else {
                errno = e;
                error = "cannot lock " + with_reason(path_);
            }
            return false;
        }
        struct stat held{}, now{};
        if (fstat(fd, &held) == 0 && stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev) {
            std::string pid = std::to_string(getpid()) + "\n";
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
                // the pid is only for the message of a second run
            }
            fd_ = fd;
            return true;
        }
        close(fd);  // the holder unlinked it as we opened it: lock the new one
    }
    error = "cannot lock " + path_ + ": it keeps changing";
    return false;
}

bool OutputLock::lock_file(const std::string& path, const std::string& output, std::string& error, bool& busy) {
    busy = false;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return true;  // absent: nobody else can reach it by another name yet
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return true;
    }
    for (const auto& f : files_)
        if (f.second.first == st.st_dev && f.second.second == st.st_ino) {
            close(fd);
            return true;  // flock on a second description would conflict with our own
        }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            busy = true;
            error = output + " is being written by another moa run (under another name: a link to the same file " + path +
                    "); wait for it to end, or choose another --output";
        } else {
            errno = e;
            error = "cannot lock " + with_reason(path);
        }
        return false;
    }
    files_.push_back({fd, {st.st_dev, st.st_ino}});
    return true;
}

}  // namespace moa::cli
