// Where `moa cache export FILE` writes: a regular file is replaced atomically, anything
// else (a device, a FIFO, stdout) is written in place, and a symlink is followed.
#pragma once

#include <string>

namespace moa {

class ExportFile {
public:
    // `file`: "-" is stdout. A symlink is followed to its final target; a regular file
    // (or a new path) is written as TARGET.tmp next to that target and renamed onto it
    // by commit(), so a failed export leaves no short file. A device or FIFO is opened
    // and written in place (renaming over it would destroy it). Throws moa::Error
    // (path and strerror) when it cannot be opened.
    void open(const std::string& file);
    ~ExportFile();
    ExportFile() = default;
    ExportFile(const ExportFile&) = delete;
    ExportFile& operator=(const ExportFile&) = delete;

    // Buffered; the first failed write is kept and reported by commit().
    void write(const std::string& s);
    // Flushes, closes and renames the temporary file onto the target. Throws moa::Error
    // (Kind::Io) naming the file and the reason.
    void commit();
    // After an error elsewhere: removes the temporary file, if any.
    void abandon();
    // True when a failure may have left part of the export in the target (in place).
    bool in_place() const { return tmp_.empty(); }
    bool is_stdout() const { return fd_ == 1; }

private:
    bool flush();
    std::string name() const;  // for messages: the path written, or "stdout"

    int fd_ = -1;
    std::string target_, tmp_, buf_;
    int errno_ = 0;  // the first write error
};

}  // namespace moa
