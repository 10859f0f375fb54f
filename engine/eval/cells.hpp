// The cells of the comparison table as text, shared by every format (table.cpp) and the
// HTML report (report_html.cpp), so the same number reads the same everywhere.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "moa/eval_stats.hpp"

namespace moa::eval {

// x with `decimals` digits after the point, locale-independent (std::to_chars); "n/a" for
// a NaN or infinity.
std::string fixed(double x, int decimals);
// A cost in USD with 3 significant digits ("0.00123", "12.3"), or "unknown".
std::string cost_text(const std::optional<double>& usd);

struct Column {
    std::string header;
    bool numeric = true;  // right-aligned
};

// The columns the rows have data for (win rate, LC and score only when some row has one),
// and each row's cells in that order. Intervals read "62.1 [59.0, 65.2]", in one cell.
struct TableText {
    std::vector<Column> columns;
    std::vector<std::vector<std::string>> cells;
};
TableText table_text(const std::vector<CandidateRow>& rows);

}  // namespace moa::eval
