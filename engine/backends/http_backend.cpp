#include "backends/http_backend.hpp"

#include "backends/http_transport.hpp"
#include "backends/wire.hpp"

namespace moa {

namespace {

class HttpBackend final : public Backend {
public:
    HttpBackend(HttpTransport& http, const WireFormat& wire) : http_(http), wire_(wire) {}
    void start(const CallPtr& c, AttemptDone done) override { http_.start(c, wire_, std::move(done)); }
    void cancel(const CallPtr& c) override { http_.cancel(c); }

private:
    HttpTransport& http_;
    const WireFormat& wire_;
};

}  // namespace

std::unique_ptr<Backend> make_http_backend(BackendContext& ctx, const WireFormat& wire) {
    return std::make_unique<HttpBackend>(ctx.http(), wire);
}

}  // namespace moa
