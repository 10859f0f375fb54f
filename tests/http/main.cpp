// The runner of http_tests. ctest runs the binary three times (tests/CMakeLists.txt),
// each with MOA_TEST_ENV="NAME=value,NAME=value": the variables of that run (I/O
// threads, HTTP client, a temporary directory of its own), set here before any test
// and inherited by the moa processes the tests start. One variable, because a list
// given to ctest's ENVIRONMENT through catch_discover_tests arrives cut at its first
// ';' (the libcurl run used to get MOA_IO_THREADS only, and ran the native client).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (const char* env = std::getenv("MOA_TEST_ENV")) {
        std::string list = env;
        for (size_t p = 0; p <= list.size();) {
            size_t comma = list.find(',', p);
            std::string item = list.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
            size_t eq = item.find('=');
            if (eq == std::string::npos || eq == 0) {
                std::fprintf(stderr, "http_tests: MOA_TEST_ENV item '%s' is not NAME=value\n", item.c_str());
                return 2;
            }
            setenv(item.substr(0, eq).c_str(), item.substr(eq + 1).c_str(), 1);
            if (comma == std::string::npos) break;
            p = comma + 1;
        }
    }
    return Catch::Session().run(argc, argv);
}
