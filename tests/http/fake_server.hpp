// Starts tests/http/fake_llm.py on a free 127.0.0.1 port for the duration of a test
// and reads its request log. The server exits when its stdin closes (our pipe), so
// it never outlives the test process.
#pragma once

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace moa::test {

class FakeServer {
public:
    FakeServer() {
        int in[2], out[2];
        if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            close(in[1]);
            close(out[0]);
            execlp("python3", "python3", MOA_SOURCE_DIR "/tests/http/fake_llm.py", "--lifetime", "600", nullptr);
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        stdin_ = in[1];
        FILE* f = fdopen(out[0], "r");
        char line[64] = {0};
        if (!fgets(line, sizeof line, f) || sscanf(line, "PORT %d", &port_) != 1) throw std::runtime_error("fake server did not start");
        fclose(f);
    }
    ~FakeServer() {
        close(stdin_);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    struct Entry {
        double t = 0;
        std::string path, model;
        int status = 0;
    };
    // Requests the server saw for `model`, in arrival order.
    std::vector<Entry> log(const std::string& model) const {
        std::string body;
        CURL* e = curl_easy_init();
        std::string u = url() + "/__log";
        curl_easy_setopt(e, CURLOPT_URL, u.c_str());
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* p) {
            static_cast<std::string*>(p)->append(d, s * n);
            return s * n;
        });
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
        curl_easy_perform(e);
        curl_easy_cleanup(e);
        std::vector<Entry> out;
        std::istringstream in(body);
        for (std::string l; std::getline(in, l);) {
            Entry x;
            x.model = field(l, "model");
            if (x.model != model) continue;
            x.t = std::atof(field(l, "t").c_str());
            x.path = field(l, "path");
            x.status = std::atoi(field(l, "status").c_str());
            out.push_back(x);
        }
        return out;
    }

private:
    static std::string field(const std::string& line, const std::string& name) {
        size_t p = line.find("\"" + name + "\": ");
        if (p == std::string::npos) return "";
        p += name.size() + 4;
        if (line[p] == '"') return line.substr(p + 1, line.find('"', p + 1) - p - 1);
        return line.substr(p, line.find_first_of(",}", p) - p);
    }
    pid_t pid_ = -1;
    int stdin_ = -1;
    int port_ = 0;
};

}  // namespace moa::test
