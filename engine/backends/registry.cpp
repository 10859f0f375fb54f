// The providers moa knows: one line each. A new provider (say Gemini) is one file
// defining its `Provider` (see openai.cpp) and one line here.
#include <stdexcept>
#include <string>

#include "backends/backend.hpp"

namespace moa {

extern const Provider kSimProvider, kOpenAIProvider, kAnthropicProvider, kOllamaProvider;

namespace {
const Provider* const kProviders[] = {
    &kSimProvider,
    &kOpenAIProvider,
    &kAnthropicProvider,
    &kOllamaProvider,
};
}  // namespace

const Provider& provider_of(BackendKind kind) {
    for (const Provider* p : kProviders)
        if (p->kind == kind) return *p;
    throw std::logic_error("no provider registered for backend kind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace moa
