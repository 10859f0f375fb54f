// How the engine's library API reports failure: one convention, written down here.
//
// 1. A library call that cannot do what it was asked (a file or database missing,
//    unreadable, corrupted or full; input that is not what it must be) throws
//    moa::Error. Its what() is the whole message a user reads: it names the path (or
//    field) and the reason (strerror, SQLite's message). kind() says which sort of
//    failure it was, for callers that react differently (create a missing cache, ...).
// 2. Library code never prints (no std::cerr, stdout, printf) and never returns an exit
//    code. On success a call returns its result as a value (a struct, a count).
// 3. Outcomes that are data stay values, not errors: a failed model call is a Reply /
//    NodeEvent with CallStatus::Error, a failed job a JobResult with ok == false, a
//    malformed input line a Query with `error` set, and parse predicates (parse_row)
//    return false for "not one of ours".
// 4. Nothing is thrown inside the running graph (TBB nodes, the reactor, the cache
//    thread): a store that fails mid-run is reported by Engine::cache_error().
// 5. The .moa language reports through moa::Diagnostics (many errors, with positions).
// 6. The CLI (engine/cli) is the only place that prints errors and picks exit codes:
//    it catches moa::Error at the command boundary.
#pragma once

#include <stdexcept>
#include <string>

namespace moa {

class Error : public std::runtime_error {
public:
    enum class Kind {
        NotFound,  // the file or database is not there (nothing was created)
        Invalid,   // it exists but is not what the call needs (not a cache, not a record)
        Corrupt,   // it is damaged (the message says what to do)
        Io,        // the OS or SQLite failed to read or write it (disk full, permissions)
    };
    Error(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};

}  // namespace moa
