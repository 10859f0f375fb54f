#include "backends/http_transport.hpp"

#include <sys/resource.h>

#include <cerrno>

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "moa/ascii.hpp"
#include "moa/duration.hpp"
#include "moa/json_writer.hpp"  // append_json_string
#include "backends/http1.hpp"
#include "backends/http_native.hpp"
#include "backends/wire.hpp"

namespace moa {

// One attempt on its I/O thread: a libcurl easy handle, or a native request (the
// Sink methods are the native client's callbacks).
struct HttpTransport::Transfer final : NativeHttp::Sink {
    CallPtr call;
    CURL* easy = nullptr;
    NativeHttp::Conn* conn = nullptr;  // the native request while it runs
    bool native = false;
    http1::Url url;  // native only
    long status = 0;         // the response's HTTP status, once known
    bool tcp_up = false;     // the connection was established
    curl_slist* headers = nullptr;
    HttpRequest req;
    std::string body;
    std::map<std::string, std::string> resp_headers;
    bool stream = false;
    bool stream_checked = false;  // the response's Content-Type was looked at
    const WireFormat* wire = nullptr;
    StreamParser parser;
    bool stream_failed = false;
    bool too_big = false;
    bool first_byte = false;
    TimePoint started{}, last_byte{}, first_byte_at{};
    int64_t first_token_ms = 0, idle_ms = 0, connect_ms = 0, total_ms = 0;
    uint64_t timer = 0;  // on the I/O thread's reactor
    std::function<void(std::string_view)> emit;  // to the call's consumer, if it streams
    HttpTransport* owner = nullptr;
    HttpTransport::Io* io = nullptr;
    int shard = 0;  // the multi handle of io's loop it runs on
    uint64_t id = 0;
    std::shared_ptr<HttpTransport::Attempt> attempt;
    ~Transfer() {
        if (easy) curl_easy_cleanup(easy);  // removed from its multi handle first
        curl_slist_free_all(headers);
    }
    void on_connected() override { tcp_up = true; }
    void on_header(std::string_view name, std::string_view value) override;
    bool on_body(int st, const char* data, size_t len) override;
    void on_done(int curl_code, int st) override;
    void on_os_error(const char* call, int err) override { os_call = call, os_err = err; }
    const char* os_call = nullptr;  // why the native client could not connect, if the system said
    int os_err = 0;
};

struct HttpTransport::Attempt {
    CallPtr call;
    std::function<void(Reply&&)> done;
    bool cancelled = false;  // reactor thread only
    Io* io = nullptr;
    uint64_t id = 0;
};

struct HttpTransport::Io {
    explicit Io(const std::string& name) : reactor(name) {}
    Reactor reactor;                  // the thread: posted work, transfer timers, and curl in its sleep
    std::unique_ptr<CurlLoop> loop;   // this thread's multi handle and connection cache
    std::unique_ptr<NativeHttp> native;  // plain http:// calls on the same epoll set
    std::unordered_map<uint64_t, std::shared_ptr<Transfer>> transfers;  // added, not yet finished
    HttpTransport* owner = nullptr;
};

// A provider sends twenty headers or more; keeping each cost a map node and two
// strings per call, for nothing.
bool kept_response_header(std::string_view name_lower) {
    return name_lower == "content-type" || name_lower.rfind("retry-after", 0) == 0 ||
           (name_lower.find("ratelimit") != std::string_view::npos && name_lower.find("reset") != std::string_view::npos);
}

namespace {

std::once_flag curl_init;

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransport::Transfer*>(user);
    std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) t->resp_headers.clear();  // a new response (after 100, redirects)
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name = ascii::lower(line.substr(0, colon));
        if (kept_response_header(name)) t->resp_headers[std::move(name)] = std::string(ascii::trim(line.substr(colon + 1)));
    }
    return size * n;
}

// Body bytes of either client (decoded): the stream parser or the body buffer.
// False aborts the transfer.
bool take_body(HttpTransport::Transfer* t, long status, const char* data, size_t len) {
    t->last_byte = Clock::now();
    if (!t->first_byte) {
        t->first_byte = true;
        t->first_byte_at = t->last_byte;
        t->owner->first_byte(t);
    }
    if (t->stream && !t->stream_checked && status >= 200 && status < 300) {
        // A server that ignores "stream": true answers with one whole JSON body.
        // (SSE sent as text/plain or without a Content-Type is still parsed as SSE.)
        t->stream_checked = true;
        auto ct = t->resp_headers.find("content-type");
        if (ct != t->resp_headers.end() && ct->second.rfind("application/json", 0) == 0) t->stream = false;
    }
    if (t->stream && status >= 200 && status < 300) {
        if (!t->parser.feed(std::string_view(data, len), t->emit)) {
            t->stream_failed = true;
            return false;
        }
        if (t->parser.text().size() > HttpTransport::kMaxResponseBytes) {
            t->too_big = true;
            return false;
        }
        return true;
    }
    if (t->body.size() + len > HttpTransport::kMaxResponseBytes) {
        t->too_big = true;
        return false;
    }
    t->body.append(data, len);
    return true;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransport::Transfer*>(user);
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    return take_body(t, status, data, size * n) ? size * n : 0;  // 0 aborts the transfer
}

bool transient_status(long s) { return s == 408 || s == 409 || s == 429 || s >= 500; }


}  // namespace

void HttpTransport::Transfer::on_header(std::string_view name, std::string_view value) {
    if (name.empty()) resp_headers.clear();  // a new response head (after a 1xx)
    else if (kept_response_header(name)) resp_headers[std::string(name)] = std::string(value);
}

bool HttpTransport::Transfer::on_body(int st, const char* data, size_t len) {
    status = st;
    return take_body(this, st, data, len);
}

void HttpTransport::Transfer::on_done(int curl_code, int st) {
    conn = nullptr;
    status = st;
    owner->finish(this, owner->reply_of(this, curl_code));
}


HttpTransport::HttpTransport(Reactor& reactor, std::map<std::string, std::string> keys, std::vector<std::string> secrets,
                             int io_threads, bool native)
    : reactor_(reactor), keys_(std::move(keys)), secrets_(std::move(secrets)), native_(native) {
    read_proxy_env();
    for (const auto& [_, k] : keys_) secrets_.push_back(k);
    // The escaped forms a server may echo inside JSON ("\/" for '/', "\\" for '\\').
    for (size_t i = 0, n = secrets_.size(); i < n; ++i) {
        std::string esc;
        append_json_string(esc, secrets_[i]);
        esc = esc.substr(1, esc.size() - 2);
        if (esc != secrets_[i]) secrets_.push_back(esc);
        std::string slash;
        for (char ch : secrets_[i]) slash += ch == '/' ? std::string("\\/") : std::string(1, ch);
        if (slash != secrets_[i]) secrets_.push_back(slash);
    }
    // Longest first, so a key that contains another secret is replaced whole.
    std::sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    for (int k = 0; k < std::max(1, io_threads); ++k) {
        auto io = std::make_unique<Io>("moa-io-" + std::to_string(k));
        Io* raw = io.get();
        raw->owner = this;
        io->loop = std::make_unique<CurlLoop>([this, raw](void* easy, int result) { finished(*raw, easy, result); });
        if (native_) io->native = std::make_unique<NativeHttp>(*io->loop);
        io->reactor.set_poller(io->loop.get());
        io_.push_back(std::move(io));
    }
}

// Teardown order: the owner stops the reactor thread first (no more start or
// cancel); then every I/O thread is joined here, so nothing runs curl callbacks or
// posts to the reactor any more; only then are the transfers, the multi handles and
// the I/O reactors (with the work still queued on them) freed, in that order.
void HttpTransport::stop() {
    for (auto& io : io_) io->reactor.stop();
}

HttpTransport::~HttpTransport() {
    stop();
    for (auto& io : io_) {
        for (auto& [_, t] : io->transfers) {
            if (t->easy) io->loop->remove(t->easy, t->shard);
            if (t->conn) io->native->cancel(t->conn);
            t->conn = nullptr;
        }
        io->transfers.clear();
        io->native.reset();
        io->reactor.set_poller(nullptr);  // its destructor must not wake a freed loop
        io->loop.reset();
    }
    io_.clear();
}

void HttpTransport::start(const CallPtr& c, const WireFormat& wire, std::function<void(Reply&&)> done) {
    auto t = std::make_unique<Transfer>();
    t->owner = this;
    t->call = c;
    auto a = std::make_shared<Attempt>();
    a->call = c;
    a->done = std::move(done);
    t->attempt = a;
    t->stream = static_cast<bool>(c->on_chunk);
    // Chunks go to the reactor thread, in order, ahead of the reply.
    if (t->stream)
        t->emit = [this, a](std::string_view s) {
            reactor_.post([a, text = std::string(s)] {
                if (!a->cancelled) a->call->stream(text);
            });
        };
    t->wire = &wire;
    t->parser = StreamParser(wire);
    auto k = keys_.find(c->backend->name);
    t->req = wire.request(*c, k == keys_.end() ? "" : k->second, t->stream);
    Timeouts to = effective_timeouts(*c->backend, *c->agent);
    t->connect_ms = to.connect_ms;
    t->total_ms = to.total_ms;
    t->first_token_ms = to.first_token_ms;
    t->idle_ms = to.idle_ms;
    t->started = t->last_byte = Clock::now();
    t->native = native_ && http1::parse_url(t->req.url, t->url) && NativeHttp::resolvable(t->url.host) &&
                !proxied(t->url.host);
    if (!t->native) setup_curl(*t);
    Io& io = *io_[next_io_++ % io_.size()];
    t->io = a->io = &io;
    t->id = a->id = ++next_id_;
    by_call_[c.get()] = a;
    io.reactor.post([this, &io, t = std::shared_ptr<Transfer>(std::move(t))] { add(io, t); });
}

void HttpTransport::setup_curl(Transfer& tr) {
    Transfer* t = &tr;
    const CallPtr& c = t->call;
    CURL* e = curl_easy_init();
    t->easy = e;
    for (const auto& h : t->req.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->req.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    // Let curl negotiate and decode gzip/deflate/br (a gzip body is not "not JSON").
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t->connect_ms));
    // `total` is the whole call (the scheduler set its deadline at the first
    // attempt): this attempt gets what is left of it.
    if (c->deadline != TimePoint::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - t->started).count();
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, left)));
    }
}

// I/O thread: the transfer joins this thread's multi handle, its timers this thread's reactor.
void HttpTransport::add(Io& io, const std::shared_ptr<Transfer>& t) {
    if (auto next = next_timeout(*t); next.first != TimePoint::max()) arm_timer(t.get(), next.first);
    io.transfers[t->id] = t;
    if (!t->native) {
        t->shard = io.loop->add(t->easy);
        return;
    }
    // done() may run inside start() (no address could connect): then conn stays null.
    t->conn = io.native->start(t->url, http1::request(t->url, t->req.headers, t->req.body), t.get());
}

// The first-token wait is over: from now on the idle timeout watches the gaps.
void HttpTransport::first_byte(Transfer* t) {
    if (t->timer) t->io->reactor.cancel(t->timer);
    t->timer = 0;
    if (auto next = next_timeout(*t); next.first != TimePoint::max()) arm_timer(t, next.first);
}

void HttpTransport::arm_timer(Transfer* t, TimePoint when) {
    Io* io = t->io;
    // Two words, so std::function keeps them inline: no allocation per timer.
    t->timer = io->reactor.at(when, [io, id = t->id] {
        auto it = io->transfers.find(id);
        if (it != io->transfers.end()) io->owner->check_timeouts(it->second.get());
    });
}

// The next timeout of `t` and when: first token, then idle (from the last byte); for a
// native request also connect and total (libcurl keeps those itself).
std::pair<TimePoint, HttpTransport::Timeout> HttpTransport::next_timeout(const Transfer& t) {
    std::pair<TimePoint, Timeout> best{TimePoint::max(), Timeout::None};
    auto consider = [&](TimePoint when, Timeout which) {
        if (when < best.first) best = {when, which};
    };
    if (t.native) {
        if (!t.tcp_up && t.connect_ms > 0) consider(t.started + std::chrono::milliseconds(t.connect_ms), Timeout::Connect);
        if (t.call->deadline != TimePoint::max()) consider(t.call->deadline, Timeout::Total);
    }
    if (!t.first_byte && t.first_token_ms > 0)
        consider(t.started + std::chrono::milliseconds(t.first_token_ms), Timeout::FirstToken);
    else if (t.idle_ms > 0)
        consider(t.last_byte + std::chrono::milliseconds(t.idle_ms), Timeout::Idle);
    return best;
}

void HttpTransport::check_timeouts(Transfer* t) {
    t->timer = 0;
    auto [when, which] = next_timeout(*t);
    if (which == Timeout::None) return;
    if (when > Clock::now()) return arm_timer(t, when);
    finish(t, timeout_reply(*t, which));
}

Reply HttpTransport::timeout_reply(const Transfer& t, Timeout which) {
    Reply r;
    r.status = CallStatus::Error;
    r.error_kind = ErrorKind::Timeout;
    r.transient = true;
    switch (which) {
        case Timeout::Connect: r.text = timeout_name("connect", t.connect_ms) + ": no connection to the server"; break;
        case Timeout::Total:
            r.text = timeout_name("total", t.total_ms) + ": the call did not finish in time";
            r.transient = false;  // the whole call's time is used up
            break;
        case Timeout::FirstToken:
            r.text = timeout_name("first_token", t.first_token_ms) + ": no answer from the server";
            break;
        case Timeout::Idle: r.text = timeout_name("idle", t.idle_ms) + ": the server sent nothing more"; break;
        case Timeout::None: break;
    }
    return r;
}

// I/O thread: the attempt is over; its reply goes to the reactor thread.
void HttpTransport::finish(Transfer* t, Reply&& r) {
    r.text = scrub_secrets(std::move(r.text), secrets_);
    if (t->first_byte) r.first_token = t->first_byte_at;
    reactor_.post([this, a = t->attempt, r = std::move(r)]() mutable { deliver(a, std::move(r)); });
    release(t);
}

// I/O thread: out of the multi handle and freed (with its easy handle).
void HttpTransport::release(Transfer* t) {
    Io& io = *t->io;
    if (t->timer) io.reactor.cancel(t->timer);
    if (t->easy) io.loop->remove(t->easy, t->shard);
    if (t->conn) io.native->cancel(t->conn);  // closes its connection: mid-answer it is no use
    t->conn = nullptr;
    io.transfers.erase(t->id);
}

// Reactor thread: the one place an attempt's `done` runs, unless cancel() came first.
void HttpTransport::deliver(const std::shared_ptr<Attempt>& a, Reply&& r) {
    if (a->cancelled) return;
    if (auto it = by_call_.find(a->call.get()); it != by_call_.end() && it->second == a) by_call_.erase(it);
    auto done = std::move(a->done);
    done(std::move(r));
}

// Reactor thread. The I/O thread drops the transfer if it still runs; a reply already
// on its way here is dropped by deliver().
void HttpTransport::cancel(const CallPtr& c) {
    auto it = by_call_.find(c.get());
    if (it == by_call_.end()) return;
    std::shared_ptr<Attempt> a = std::move(it->second);
    by_call_.erase(it);
    a->cancelled = true;
    Io* io = a->io;
    io->reactor.post([this, io, id = a->id] { drop(*io, id); });
}

void HttpTransport::drop(Io& io, uint64_t id) {
    auto it = io.transfers.find(id);
    if (it != io.transfers.end()) release(it->second.get());
}

void HttpTransport::finished(Io& io, void* easy, int result) {
    void* priv = nullptr;
    curl_easy_getinfo(static_cast<CURL*>(easy), CURLINFO_PRIVATE, &priv);
    auto* t = static_cast<Transfer*>(priv);
    if (!t || !io.transfers.count(t->id)) return;
    finish(t, reply_of(t, result));
}

namespace {
// " (socket(): Too many open files; ...)": what the system said when the native
// client could not connect. Out of file descriptors, the way out is the user's.
std::string os_detail(const HttpTransport::Transfer& t) {
    if (!t.os_call) return "";
    std::string d = std::string(" (") + t.os_call + ": " + std::strerror(t.os_err);
    if (t.os_err == EMFILE || t.os_err == ENFILE) {
        rlimit lim{};
        getrlimit(RLIMIT_NOFILE, &lim);
        d += "; this process may hold " + std::to_string(lim.rlim_cur) +
             " files (RLIMIT_NOFILE), one per call in flight over HTTP/1.1: lower the backend's max_concurrent "
             "or raise the limit (ulimit -n)";
    }
    return d + ")";
}
}  // namespace

Reply HttpTransport::reply_of(Transfer* t, int result) {
        CURLcode rc = static_cast<CURLcode>(result);
        if (t->easy) {
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
            curl_off_t connected = 0;
            curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected);
            t->tcp_up = connected != 0;
        }
        long status = t->status;
        Reply r;
        r.status = CallStatus::Error;
        if (t->too_big) {
            r.error_kind = ErrorKind::ResponseTooLarge;
            r.text = "response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB";
        } else if (t->stream_failed) {
            r.error_kind = ErrorKind::StreamError;
            r.text = "error in the stream: " + t->parser.error();
            r.transient = t->parser.error_transient();
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            // curl's own timeouts are connect and total; name the one that fired.
            auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t->started).count();
            bool connect = !t->tcp_up && elapsed + 50 >= t->connect_ms;  // else `total` ran out first
            r = timeout_reply(*t, connect ? Timeout::Connect : Timeout::Total);
        } else if (rc != CURLE_OK) {
            // Connection-level failures are worth another try; TLS and URL problems are not.
            r.error_kind = ErrorKind::ConnectionError;
            r.text = std::string("connection error: ") + curl_easy_strerror(rc) + os_detail(*t);
            r.transient = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_RECV_ERROR ||
                          rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
                          rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM || rc == CURLE_COULDNT_RESOLVE_HOST;
            if (t->stream && status >= 200 && status < 300 && t->first_byte) {
                r.error_kind = ErrorKind::TruncatedStream;
                r.text = "stream cut before its end (" + std::string(curl_easy_strerror(rc)) + ")";
                r.transient = true;
            }
        } else if (status < 200 || status >= 300) {
            r.error_kind = ErrorKind::Http;
            r.http_status = static_cast<int>(status);
            // Scrubbed before provider_error_message cuts it: a key straddling the cut
            // would otherwise leak all but its tail.
            r.text = "http " + std::to_string(status) + ": " + t->wire->error_message(scrub_secrets(t->body, secrets_));
            r.transient = transient_status(status);
            r.retry_after_ms = retry_after_ms(t->resp_headers);
        } else if (t->stream) {
            t->parser.finish(t->emit);
            if (!t->parser.complete()) {
                r.error_kind = ErrorKind::TruncatedStream;
                r.text = "stream ended without its end marker";
                r.transient = true;
            } else if (t->parser.text().empty()) {
                r.error_kind = ErrorKind::EmptyAnswer;
                r.text = "the provider returned an empty answer";
            } else {
                r.status = CallStatus::Ok;
                r.text = t->parser.text();
                r.tokens_in = t->parser.tokens_in();
                r.tokens_out = t->parser.tokens_out();
                r.tokens_cached = t->parser.tokens_cached();
            }
        } else {
            r = t->wire->parse_response(t->body);
            // A stream request answered with a whole body: the answer arrives in one piece.
            if (r.status == CallStatus::Ok && t->emit) t->emit(r.text);
        }
        return r;
}

}  // namespace moa
