// Runs a shell command line for the HTTP tests (the `moa` binary, often with variables
// or a ulimit in front) and keeps its exit code and its stdout and stderr together.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace moa::test {

struct Shell {
    int code = -1;
    std::string out;  // stdout and stderr
};

inline Shell shell(const std::string& cmd) {
    Shell r;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

}  // namespace moa::test
