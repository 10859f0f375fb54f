// bench_request: the cost of building one provider request body (on the I/O path:
// every HTTP call builds one). A 3-message call (system, two user turns, ~2 KB), every
// sampling field set, 1e5 builds per provider; prints ns per build and an FNV hash of
// the bodies (all fields set and none set, streaming and not) so two builds of moa can
// be compared for identical bytes as well as speed.
//   bench_request [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backends/backend.hpp"
#include "backends/wire.hpp"
#include "runtime/call.hpp"

using namespace moa;

namespace {

uint64_t fnv(const std::string& s, uint64_t h) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

std::string response(int i) {
    std::string r = "Response " + std::to_string(i) + ": \"quoted\", a tab\there, a newline\nand ";
    for (int k = 0; k < 12; ++k) r += "some ordinary prose about the question, with UTF-8 \xC3\xA9\xE2\x82\xAC; ";
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
    BackendSpec backend;
    backend.base_url = "http://127.0.0.1:8080/v1";
    AgentSpec full;
    full.model = "meta-llama/Llama-3.3-70B-Instruct";
    full.temperature = 0.7;
    full.top_p = 0.95;
    full.max_tokens = 512;
    full.seed = 42;
    full.stop = {"\n\nUser:", "</s>"};
    AgentSpec bare;
    bare.model = "qwen2.5:7b";
    Call c;
    c.backend = &backend;
    c.agent = &full;
    c.messages = {{Role::System, "You have been provided with a set of responses:\n" + response(1) + response(2) + response(3)},
                  {Role::User, "What is the capital of France, and why did it become the capital?"},
                  {Role::User, "Answer in one paragraph.\x01"}};
    const std::string key = "sk-bench";
    for (BackendKind kind : {BackendKind::OpenAI, BackendKind::Anthropic, BackendKind::Ollama}) {
        const WireFormat& wire = *provider_of(kind).wire;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const AgentSpec* a : {&full, &bare})
            for (bool stream : {false, true}) {
                c.agent = a;
                h = fnv(wire.request(c, key, stream).body, h);
            }
        c.agent = &full;
        size_t bytes = wire.request(c, key, false).body.size();
        auto t0 = std::chrono::steady_clock::now();
        size_t sink = 0;
        for (long i = 0; i < iterations; ++i) sink += wire.request(c, key, false).body.size();
        double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / iterations;
        std::printf("%-9s %6.0f ns/request  %zu bytes  bodies fnv %016llx%s\n", to_string(kind), ns, bytes,
                    static_cast<unsigned long long>(h), sink ? "" : " (none?)");
    }
}
