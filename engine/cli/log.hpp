// Logging for the CLI (spdlog lives in log.cpp only).
#pragma once

#include <string>

namespace moa::log {

enum class Level { Debug, Info, Warn, Error, Off };

// stderr logger; colors off when NO_COLOR is set or stderr is not a terminal.
void init(Level level, bool color);
void debug(const std::string& msg);
void info(const std::string& msg);
void warn(const std::string& msg);
void error(const std::string& msg);

}  // namespace moa::log
