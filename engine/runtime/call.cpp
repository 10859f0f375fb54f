#include "runtime/call.hpp"

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

}  // namespace moa
