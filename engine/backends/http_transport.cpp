#include "backends/http_transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "moa/ascii.hpp"
#include "moa/duration.hpp"
#include "moa/json_writer.hpp"  // append_json_string
#include "backends/wire.hpp"

namespace moa {

struct HttpTransport::Transfer {
    CallPtr call;
    CURL* easy = nullptr;
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
    TimePoint started{}, last_byte{};
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
    std::unordered_map<uint64_t, std::shared_ptr<Transfer>> transfers;  // added, not yet finished
};

namespace {

std::once_flag curl_init;

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransport::Transfer*>(user);
    std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) t->resp_headers.clear();  // a new response (after 100, redirects)
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
        t->resp_headers[ascii::lower(line.substr(0, colon))] = std::string(ascii::trim(line.substr(colon + 1)));
    }
    return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransport::Transfer*>(user);
    size_t len = size * n;
    t->last_byte = Clock::now();
    if (!t->first_byte) {
        t->first_byte = true;
        t->owner->first_byte(t);
    }
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
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
            return 0;  // aborts the transfer
        }
        if (t->parser.text().size() > HttpTransport::kMaxResponseBytes) {
            t->too_big = true;
            return 0;
        }
        return len;
    }
    if (t->body.size() + len > HttpTransport::kMaxResponseBytes) {
        t->too_big = true;
        return 0;
    }
    t->body.append(data, len);
    return len;
}

bool transient_status(long s) { return s == 408 || s == 409 || s == 429 || s >= 500; }

}  // namespace

int64_t retry_after_ms(const std::map<std::string, std::string>& h) {
    if (auto it = h.find("retry-after-ms"); it != h.end()) {
        char* end = nullptr;
        double ms = std::strtod(it->second.c_str(), &end);
        if (end != it->second.c_str() && ms >= 0) return static_cast<int64_t>(ms);
    }
    if (auto it = h.find("retry-after"); it != h.end()) {
        const std::string& v = it->second;
        if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return ascii::is_digit(c) || c == '.'; }))
            return static_cast<int64_t>(std::strtod(v.c_str(), nullptr) * 1000);
        time_t when = curl_getdate(v.c_str(), nullptr);
        if (when > 0) return std::max<int64_t>(0, static_cast<int64_t>(when - time(nullptr)) * 1000);
    }
    for (const char* name : {"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"}) {
        if (auto it = h.find(name); it != h.end())
            if (auto ms = parse_duration_ms(it->second, DurationForm::Go)) return *ms;
    }
    for (const char* name : {"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"}) {
        if (auto it = h.find(name); it != h.end()) {
            time_t when = curl_getdate(it->second.c_str(), nullptr);
            if (when > 0) return std::max<int64_t>(0, static_cast<int64_t>(when - time(nullptr)) * 1000);
        }
    }
    return -1;
}

std::string scrub_secrets(std::string s, const std::vector<std::string>& secrets) {
    for (const auto& key : secrets) {
        if (key.size() < 4) continue;  // too short to tell from ordinary text
        for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p)) s.replace(p, key.size(), "***");
    }
    return s;
}

HttpTransport::HttpTransport(Reactor& reactor, std::map<std::string, std::string> keys, std::vector<std::string> secrets,
                             int io_threads)
    : reactor_(reactor), keys_(std::move(keys)), secrets_(std::move(secrets)) {
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
        io->loop = std::make_unique<CurlLoop>([this, raw](void* easy, int result) { finished(*raw, easy, result); });
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
        for (auto& [_, t] : io->transfers) io->loop->remove(t->easy, t->shard);
        io->transfers.clear();
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
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    // Let curl negotiate and decode gzip/deflate/br (a gzip body is not "not JSON").
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    Timeouts to = effective_timeouts(*c->backend, *c->agent);
    t->connect_ms = to.connect_ms;
    t->total_ms = to.total_ms;
    t->started = t->last_byte = Clock::now();
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(to.connect_ms));
    // `total` is the whole call (the scheduler set its deadline at the first
    // attempt): this attempt gets what is left of it.
    if (c->deadline != TimePoint::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - t->started).count();
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, left)));
    }
    t->first_token_ms = to.first_token_ms;
    t->idle_ms = to.idle_ms;
    Io& io = *io_[next_io_++ % io_.size()];
    t->io = a->io = &io;
    t->id = a->id = ++next_id_;
    by_call_[c.get()] = a;
    io.reactor.post([this, &io, t = std::shared_ptr<Transfer>(std::move(t))] { add(io, t); });
}

// I/O thread: the transfer joins this thread's multi handle, its timers this thread's reactor.
void HttpTransport::add(Io& io, const std::shared_ptr<Transfer>& t) {
    if (t->first_token_ms > 0) arm_timer(t.get(), t->started + std::chrono::milliseconds(t->first_token_ms));
    else if (t->idle_ms > 0) arm_timer(t.get(), t->started + std::chrono::milliseconds(t->idle_ms));
    io.transfers[t->id] = t;
    t->shard = io.loop->add(t->easy);
}

// The first-token wait is over: from now on the idle timeout watches the gaps.
void HttpTransport::first_byte(Transfer* t) {
    if (t->timer) t->io->reactor.cancel(t->timer);
    t->timer = 0;
    if (t->idle_ms > 0) arm_timer(t, t->last_byte + std::chrono::milliseconds(t->idle_ms));
}

void HttpTransport::arm_timer(Transfer* t, TimePoint when) {
    Io* io = t->io;
    t->timer = io->reactor.at(when, [this, io, id = t->id] {
        auto it = io->transfers.find(id);
        if (it != io->transfers.end()) check_timeouts(it->second.get());
    });
}

// First-token and idle timeouts (connect and total are curl's own).
void HttpTransport::check_timeouts(Transfer* t) {
    t->timer = 0;
    TimePoint now = Clock::now();
    Reply r;
    r.status = CallStatus::Error;
    r.error_kind = ErrorKind::Timeout;
    r.transient = true;
    if (!t->first_byte && t->first_token_ms > 0) {
        if (now - t->started >= std::chrono::milliseconds(t->first_token_ms)) {
            r.text = timeout_name("first_token", t->first_token_ms) + ": no answer from the server";
            return finish(t, std::move(r));
        }
        return arm_timer(t, t->started + std::chrono::milliseconds(t->first_token_ms));
    }
    if (t->idle_ms > 0) {
        if (now - t->last_byte >= std::chrono::milliseconds(t->idle_ms)) {
            r.text = timeout_name("idle", t->idle_ms) + ": the server sent nothing more";
            return finish(t, std::move(r));
        }
        arm_timer(t, t->last_byte + std::chrono::milliseconds(t->idle_ms));
    }
}

// I/O thread: the attempt is over; its reply goes to the reactor thread.
void HttpTransport::finish(Transfer* t, Reply&& r) {
    r.text = scrub_secrets(std::move(r.text), secrets_);
    reactor_.post([this, a = t->attempt, r = std::move(r)]() mutable { deliver(a, std::move(r)); });
    release(t);
}

// I/O thread: out of the multi handle and freed (with its easy handle).
void HttpTransport::release(Transfer* t) {
    Io& io = *t->io;
    if (t->timer) io.reactor.cancel(t->timer);
    io.loop->remove(t->easy, t->shard);
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

Reply HttpTransport::reply_of(Transfer* t, int result) {
        CURLcode rc = static_cast<CURLcode>(result);
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
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
            curl_off_t connected = 0;
            curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected);
            r.error_kind = ErrorKind::Timeout;
            auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t->started).count();
            if (connected == 0 && elapsed + 50 >= t->connect_ms) {  // else `total` ran out first
                r.text = timeout_name("connect", t->connect_ms) + ": no connection to the server";
                r.transient = true;
            } else {
                r.text = timeout_name("total", t->total_ms) + ": the call did not finish in time";
                r.transient = false;  // the whole call's time is used up
            }
        } else if (rc != CURLE_OK) {
            // Connection-level failures are worth another try; TLS and URL problems are not.
            r.error_kind = ErrorKind::ConnectionError;
            r.text = std::string("connection error: ") + curl_easy_strerror(rc);
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
