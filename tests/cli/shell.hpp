// Runs a shell command and captures its output and exit code: the one popen loop of
// the CLI suites (each test file decides what to redirect and where to cd).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace moa::test {

struct Run {
    int code = -1;
    std::string out;  // what the command wrote to the pipe (stdout, plus stderr if redirected)
};

inline Run shell(const std::string& cmd) {
    Run r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace moa::test
