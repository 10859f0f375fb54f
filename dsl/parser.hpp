// Parsing one .moa file into its syntax tree (Spirit X3 lives only in parser.cpp).
#pragma once

#include <memory>
#include <optional>

#include "ast.hpp"
#include "source.hpp"

namespace moa {

// Parses the whole file, recovering at the next top-level declaration after a
// syntax error so that every error of a file is reported in one run. Comments are
// collected into File::comments for the formatter.
ast::File parse_file(const std::shared_ptr<const SourceFile>& src, Diagnostics& diags);

// Parses one `key = value` field (the text of a `--set NAME.key=value` override).
std::optional<ast::Field> parse_field(const std::shared_ptr<const SourceFile>& src, Diagnostics& diags);

// Limits that keep hostile input linear: deeper nesting and more errors than these
// are reported and not explored further.
inline constexpr int kMaxNesting = 64;
inline constexpr int kMaxErrorsPerFile = 50;

}  // namespace moa
