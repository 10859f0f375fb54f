// Helpers of the batch tests: the `moa` binary run in the foreground or as a child
// that the test signals, and strict readers of the result files.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace batch_test {

namespace fs = std::filesystem;

// One agent on a fast simulated backend: the graph most batch tests run.
inline const char* kOneAgentGraph = R"(backend sim {
  kind = sim
  latency {
    first_token = 10ms
  }
}

agent a {
  backend = sim
  model = "m-a"
}

layer ask = a

output answer = ask
)";

inline fs::path dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / "moa-batch-test" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

struct Child {
    pid_t pid = -1;
    int status = 0;
    long max_rss_kb = 0;
    std::string log;
    int wait() {
        rusage ru{};
        wait4(pid, &status, 0, &ru);
        max_rss_kb = ru.ru_maxrss;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
};

// Starts a shell command with output to `log`.
inline Child start_shell(const std::string& cmd, const fs::path& log) {
    Child c;
    c.log = log.string();
    std::string full = cmd + " > '" + c.log + "' 2>&1";
    c.pid = fork();
    if (c.pid == 0) {
        execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    return c;
}

inline std::string moa_bin() {
    const char* bin = std::getenv("MOA_TEST_BIN");  // to run the tests against another build
    return bin ? bin : MOA_BIN;
}

// Starts `moa ARGS` (exec'd by the shell: the pid is moa's).
inline Child start(const std::string& args, const fs::path& log) {
    return start_shell("exec env NO_COLOR=1 " + moa_bin() + " " + args, log);
}

struct Result {
    int code;
    std::string out;
    long max_rss_kb;
};

inline Result run_shell(const std::string& cmd, const fs::path& log) {
    Child c = start_shell(cmd, log);
    int code = c.wait();
    return {code, slurp(log), c.max_rss_kb};
}

inline Result run(const std::string& args, const fs::path& log) {
    Child c = start(args, log);
    int code = c.wait();
    return {code, slurp(log), c.max_rss_kb};
}

inline size_t count_lines(const fs::path& p) {
    std::string s = slurp(p);
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

// Waits until `file` has at least `n` lines (or the child ended); true if reached.
inline bool wait_rows(Child& c, const fs::path& file, size_t n) {
    for (int i = 0; i < 4000; ++i) {
        if (fs::exists(file) && count_lines(file) >= n) return true;
        int st = 0;
        if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
            c.status = st;
            c.pid = -1;
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

struct Row {
    std::string id;  // "" for null
    bool has_id = false;
    uint64_t line = 0;
    bool ok = false;
    std::string output, fingerprint, instruction, dataset;
};

// Every line of a JSONL result file, parsed strictly. `torn_ok`: the last line may be
// cut (a kill -9 in the middle of a write). Returns false if any other line is bad.
inline bool read_rows(const fs::path& p, std::vector<Row>& rows, bool torn_ok, std::string& why) {
    std::string all = slurp(p);
    simdjson::dom::parser parser;
    size_t pos = 0, n = 0;
    while (pos < all.size()) {
        size_t eol = all.find('\n', pos);
        if (eol == std::string::npos) {
            if (torn_ok) return true;
            why = "last line has no newline";
            return false;
        }
        ++n;
        std::string line = all.substr(pos, eol - pos);
        pos = eol + 1;
        simdjson::dom::object o;
        if (parser.parse(line).get_object().get(o)) {
            why = "line " + std::to_string(n) + " is not a JSON object: " + line.substr(0, 80);
            return false;
        }
        Row r;
        simdjson::dom::element id;
        std::string_view s;
        if (o["id"].get(id) || o["line"].get_uint64().get(r.line) || o["ok"].get_bool().get(r.ok) ||
            o["fingerprint"].get_string().get(s)) {
            why = "line " + std::to_string(n) + " lacks id/line/ok/fingerprint";
            return false;
        }
        r.fingerprint.assign(s);
        if (id.is_string()) {
            r.has_id = true;
            r.id.assign(std::string_view(id.get_string().value()));
        }
        if (r.ok && !o["output"].get_string().get(s)) r.output.assign(s);
        if (!o["instruction"].get_string().get(s)) r.instruction.assign(s);
        if (!o["dataset"].get_string().get(s)) r.dataset.assign(s);
        rows.push_back(std::move(r));
    }
    return true;
}

struct Entry {
    std::string instruction, output, dataset, generator;
};

// The whole AlpacaEval file as one JSON array of complete entries.
inline bool read_alpaca(const fs::path& p, std::vector<Entry>& entries, std::string& why) {
    std::string all = slurp(p);
    simdjson::dom::parser parser;
    simdjson::dom::array arr;
    if (parser.parse(all).get_array().get(arr)) {
        why = p.string() + " is not a JSON array (" + std::to_string(all.size()) + " bytes)";
        return false;
    }
    for (auto el : arr) {
        Entry e;
        std::string_view a, b, c, d;
        if (el["instruction"].get_string().get(a) || el["output"].get_string().get(b) ||
            el["dataset"].get_string().get(c) || el["generator"].get_string().get(d)) {
            why = "an entry lacks instruction/output/dataset/generator";
            return false;
        }
        e.instruction.assign(a);
        e.output.assign(b);
        e.dataset.assign(c);
        e.generator.assign(d);
        entries.push_back(std::move(e));
    }
    return true;
}

}  // namespace batch_test
