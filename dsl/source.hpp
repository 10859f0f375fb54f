// Source files and diagnostics live in the public header.
#pragma once

#include "moa/diagnostics.hpp"
