#include "runtime/call.hpp"

#include <algorithm>

namespace moa {

std::string to_string(ErrorKind kind, int http_status) {
    switch (kind) {
        case ErrorKind::None: return "";
        case ErrorKind::Timeout: return "timeout";
        case ErrorKind::Http: return "http " + std::to_string(http_status);
        case ErrorKind::ConnectionError: return "connection error";
        case ErrorKind::TruncatedStream: return "truncated stream";
        case ErrorKind::StreamError: return "stream error";
        case ErrorKind::MalformedResponse: return "malformed response";
        case ErrorKind::EmptyAnswer: return "empty answer";
        case ErrorKind::ResponseTooLarge: return "response too large";
        case ErrorKind::Cancelled: return "cancelled";
        case ErrorKind::Skipped: return "skipped";
        case ErrorKind::Input: return "input";
        case ErrorKind::Pick: return "pick";
        case ErrorKind::Cache: return "cache";
        case ErrorKind::CacheHit: return "cache hit";
        case ErrorKind::CacheMiss: return "cache miss";
        case ErrorKind::Budget: return "budget";
    }
    return "?";
}

CallEvent call_event(const Call& c, CallEvent::Kind kind, TimePoint at) {
    CallEvent e;
    e.kind = kind;
    e.call = c.id;
    e.at = at;
    e.made = c.made;
    if (c.job_id) e.job = *c.job_id;
    e.job_seq = c.priority;
    if (c.node_id) e.node = *c.node_id;
    if (c.agent) e.agent = c.agent->name, e.model = c.agent->model;
    if (c.backend) e.backend = c.backend->name;
    e.attempt = c.serial;
    return e;
}

void report_attempt_end(CallObserver& o, const Call& c, const Reply& r, TimePoint at) {
    if (r.first_token != TimePoint{}) o.call_event(call_event(c, CallEvent::Kind::FirstToken, std::min(r.first_token, at)));
    CallEvent e = call_event(c, CallEvent::Kind::AttemptEnded, at);
    e.status = r.status;
    std::string kind = to_string(r.error_kind, r.http_status);
    e.error_kind = kind;
    if (r.status != CallStatus::Ok) e.error = r.text;
    o.call_event(e);
}

}  // namespace moa
