// The public face of dsl/: load a .moa file (with its imports), check it, and get
// a GraphSpec plus diagnostics; dump a GraphSpec; format a source file.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <string>
#include <vector>

#include "moa/diagnostics.hpp"
#include "moa/graph_spec.hpp"

namespace moa {

struct LoadOptions {
    // Directories searched for `import "..."` after the importing file's own directory
    // (the stdlib/ directory is added by the CLI). With the main file's directory they
    // are the import roots: an import may read only a .moa file inside one of them.
    std::vector<std::string> import_paths;
    // `NAME.field=value` overrides of backend and agent fields (`moa run --set`),
    // checked like the file's own fields.
    std::vector<std::string> overrides;
    // `--param NAME=value`: replaces the default of the graph's `param NAME = ...`. The
    // value is written as in a .moa file (a number, duration, string, name, list...);
    // for a param whose default is a string, a bare value is the string itself.
    std::vector<std::pair<std::string, std::string>> params;
    // A .moa file of `price` declarations read with every graph (the CLI passes
    // stdlib/prices.moa); "" = none. Prices declared in the graph override it.
    std::string price_table;
};

// "NAME=value" (the text of `--param`) split at the first '='; nullopt without one or
// with an empty NAME.
std::optional<std::pair<std::string, std::string>> split_param_arg(std::string_view arg);

// `--vary NAME=v1,v2,v3`'s values: split at the commas outside brackets, parentheses,
// braces and strings, so `[a, b],[c]` is two values; each value trimmed of spaces.
// Empty values are kept (and rejected by load_graph as "expected a value").
std::vector<std::string> split_vary_values(std::string_view values);

struct LoadResult {
    GraphSpec graph;
    bool ok = false;  // no errors (warnings allowed)
};

// True for a path named *.moa: the only files moa reads as source (and so quotes in
// diagnostics).
bool is_moa_source(const std::string& path);

// Reads `path` (a .moa file), parses and checks it; every problem goes to `diags`.
LoadResult load_graph(const std::string& path, const LoadOptions& opts, Diagnostics& diags);

// Same, from text in memory (tests, fuzzing); imports are resolved from disk.
LoadResult load_graph_text(const std::string& path, std::string text, const LoadOptions& opts,
                           Diagnostics& diags);

enum class DumpFormat { Text, Json, Dot, Mermaid };
// "text", "json", "dot", "mermaid" (`moa graph --format`), or nullopt.
std::optional<DumpFormat> parse_dump_format(std::string_view s);
void dump_graph(std::ostream& out, const GraphSpec& g, DumpFormat format);

// Canonical formatting of one file's text. Returns false (and fills diags) if the
// file does not parse: nothing is formatted then.
bool format_source(const std::string& path, const std::string& text, std::string& out,
                   Diagnostics& diags);

}  // namespace moa
