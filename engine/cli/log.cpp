#include "log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace moa::log {

void init(Level level, bool color) {
    auto logger = spdlog::stderr_color_mt("moa", color ? spdlog::color_mode::always : spdlog::color_mode::never);
    logger->set_pattern(color ? "%^moa: %l:%$ %v" : "moa: %l: %v");
    switch (level) {
        case Level::Debug: logger->set_level(spdlog::level::debug); break;
        case Level::Info: logger->set_level(spdlog::level::info); break;
        case Level::Warn: logger->set_level(spdlog::level::warn); break;
        case Level::Error: logger->set_level(spdlog::level::err); break;
        case Level::Off: logger->set_level(spdlog::level::off); break;
    }
    spdlog::set_default_logger(logger);
}

// Messages may contain braces (file names, templates): never use them as formats.
void debug(const std::string& msg) { spdlog::debug("{}", msg); }
void info(const std::string& msg) { spdlog::info("{}", msg); }
void warn(const std::string& msg) { spdlog::warn("{}", msg); }
void error(const std::string& msg) { spdlog::error("{}", msg); }

}  // namespace moa::log
