// The Engine constructor's failures follow moa/error.hpp: a moa::Error whose kind says
// what went wrong (a missing or unusable API key is Invalid; a cache that cannot open
// keeps the store's kind) and whose message names the variable or path, never a key.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "moa/error.hpp"
#include "engine_test_util.hpp"

using namespace moa;
namespace fs = std::filesystem;

namespace {

const char* kRemote = R"(
backend remote {
  kind = openai
  base_url = "http://127.0.0.1:9/v1"
  api_key_env = "MOA_ENGINE_ERRORS_TEST_KEY"
}
agent a { backend = remote  model = "m" }
layer p = a
output o = p
)";

const char* kSim = R"(
backend sim { kind = sim }
agent a { backend = sim  model = "m" }
layer p = a
output o = p
)";

// The error the constructor throws; fails the test if it throws anything else or nothing.
Error engine_error(const std::string& graph, const EngineOptions& o) {
    try {
        Engine e(test::load(graph), o);
    } catch (const Error& e) {
        return e;
    } catch (const std::exception& e) {
        FAIL("not a moa::Error: " << e.what());
    }
    FAIL("the engine started");
    return Error(Error::Kind::Io, "");
}

EngineOptions no_cache() {
    EngineOptions o;
    o.cache_mode = CacheMode::Off;
    return o;
}

fs::path temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("moa-engine-errors-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

}  // namespace

TEST_CASE("a missing API key is a moa::Error of kind Invalid that names the variable, never the key") {
    unsetenv("MOA_ENGINE_ERRORS_TEST_KEY");
    Error e = engine_error(kRemote, no_cache());
    CHECK(e.kind() == Error::Kind::Invalid);
    CHECK(std::string(e.what()).find("MOA_ENGINE_ERRORS_TEST_KEY") != std::string::npos);
    CHECK(std::string(e.what()).find("'remote'") != std::string::npos);

    // A key that is set but unusable (a trailing newline): the same kind, and its
    // value stays out of the message.
    setenv("MOA_ENGINE_ERRORS_TEST_KEY", "sk-never-printed-0123456789\n", 1);
    e = engine_error(kRemote, no_cache());
    unsetenv("MOA_ENGINE_ERRORS_TEST_KEY");
    CHECK(e.kind() == Error::Kind::Invalid);
    CHECK(std::string(e.what()).find("MOA_ENGINE_ERRORS_TEST_KEY") != std::string::npos);
    CHECK(std::string(e.what()).find("sk-never") == std::string::npos);
    CHECK(std::string(e.what()).find("0123456789") == std::string::npos);
}

TEST_CASE("a cache that cannot open is a moa::Error with the store's kind and the unchanged message") {
    fs::path dir = temp_dir("cache");
    EngineOptions o;
    o.cache_path = (dir / "missing.db").string();
    o.cache_mode = CacheMode::Replay;  // reads only: a missing cache is not created
    Error missing = engine_error(kSim, o);
    CHECK(missing.kind() == Error::Kind::NotFound);
    CHECK(std::string(missing.what()) == "no cache at " + o.cache_path);

    o.cache_path = (dir / "garbage.db").string();
    std::ofstream(o.cache_path, std::ios::binary) << std::string(8192, 'x');
    o.cache_mode = CacheMode::ReadWrite;
    Error corrupt = engine_error(kSim, o);
    CHECK(corrupt.kind() == Error::Kind::Corrupt);
    CHECK(std::string(corrupt.what()).find("cache at " + o.cache_path + " is corrupted (") == 0);
    fs::remove_all(dir);
}
