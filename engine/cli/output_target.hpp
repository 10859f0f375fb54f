// Where --output really points, and the one-writer lock on it. A symlink is followed
// (its target is what gets written, locked and renamed onto); a device or FIFO is
// written in place (no temp file, no rename, no resume); a directory is refused
// before any job starts.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace moa::cli {

enum class TargetKind { Absent, Regular, Stream, Directory };  // Stream: device, FIFO, socket

struct OutputPath {
    std::string resolved;  // symlinks followed (a dangling one: the path it names)
    TargetKind kind = TargetKind::Absent;
};

// False with `error` (a symlink loop, an unreadable link).
bool resolve_output(const std::string& path, OutputPath& out, std::string& error);

// The writer's locks, held for the run: an exclusive flock on RESOLVED.lock (the pid
// inside is for the message of a second run), and one on each output file itself, so
// a run through a hard link or symlink to the same file fails too. The kernel drops
// the locks when the process dies (even by kill -9), so a stale lock file is harmless.
class OutputLock {
public:
    ~OutputLock();
    // False with `error` set; `busy` when another process holds it.
    bool acquire(const std::string& resolved, std::string& error, bool& busy);
    // Locks the file at `path` by its identity (no-op if absent or already held).
    bool lock_file(const std::string& path, const std::string& output, std::string& error, bool& busy);

private:
    int fd_ = -1;
    std::string path_;
    std::vector<std::pair<int, std::pair<dev_t, ino_t>>> files_;
};

}  // namespace moa::cli
