// A remote backend: a provider's wire format run over the shared HTTP transport.
#pragma once

#include <memory>

#include "backends/backend.hpp"

namespace moa {

std::unique_ptr<Backend> make_http_backend(BackendContext& ctx, const WireFormat& wire);

}  // namespace moa
