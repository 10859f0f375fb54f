// `moa fmt`: canonical formatting from the syntax tree, keeping every comment.
//
// Layout rules: two-space indentation; one item per line inside blocks; `key { }`
// for block-valued fields; lists inline when they fit in 100 columns, else one item
// per line with a trailing comma; at most one blank line kept between items, and
// always one between top-level declarations that have a body. Literals (numbers,
// strings, text blocks) are printed exactly as written: they are data.
// Comments: a comment on its own line stays before the item that follows it; a
// comment after code on the same line stays after that item.
#include <optional>
#include <sstream>

#include "moa/dsl.hpp"
#include "parser.hpp"

namespace moa {

namespace {

constexpr size_t kWidth = 100;

class Printer {
public:
    Printer(const std::string& src, const std::vector<ast::Comment>& comments) : src_(src), comments_(comments) {}

    std::string run(const ast::File& f) {
        uint32_t prev_end = 0;
        bool prev_multiline = false;
        for (size_t i = 0; i < f.decls.size(); ++i) {
            const ast::Decl& d = f.decls[i];
            bool source_blank = i > 0 && blank_between(prev_end, first_token_or_comment(prev_end, d.span.begin));
            size_t mark = out_.size();
            leading(d.span.begin, 0, i == 0 && !source_blank);
            size_t decl_start = out_.size();
            decl(d, 0);
            // Whether a declaration spans lines is judged on the output, not the
            // source: `moa fmt` may wrap a long line, and a second run must agree.
            bool multiline = out_.find('\n', decl_start) != std::string::npos;
            trailing(d.span.end);
            bool sep = i > 0 && (multiline || prev_multiline || source_blank || f.decls[i - 1].keyword != d.keyword);
            bool has_blank = (mark >= 2 && out_.compare(mark - 2, 2, "\n\n") == 0) || (mark < out_.size() && out_[mark] == '\n');
            if (sep && !has_blank) out_.insert(mark, "\n");
            prev_end = d.span.end;
            prev_multiline = multiline;
        }
        if (next_ < comments_.size() && !out_.empty()) blank();
        leading(static_cast<uint32_t>(src_.size()) + 1, 0, true);
        return out_;
    }

private:
    bool blank_between(uint32_t a, uint32_t b) const {
        int nl = 0;
        for (uint32_t i = a; i < b && i < src_.size(); ++i) {
            if (src_[i] == '\n') {
                if (++nl >= 2) return true;
            } else if (src_[i] != ' ' && src_[i] != '\t' && src_[i] != '\r') {
                nl = 0;
            }
        }
        return false;
    }
    uint32_t first_token_or_comment(uint32_t after, uint32_t item) const {
        for (size_t k = next_; k < comments_.size(); ++k)
            if (comments_[k].span.begin >= after && comments_[k].span.begin < item) return comments_[k].span.begin;
        return item;
    }
    void blank() {
        if (!out_.empty() && out_.size() >= 2 && out_.compare(out_.size() - 2, 2, "\n\n") != 0) out_ += '\n';
    }
    void indent(int n) { out_.append(static_cast<size_t>(n) * 2, ' '); }
    size_t column() const {
        size_t nl = out_.rfind('\n');
        return nl == std::string::npos ? out_.size() : out_.size() - nl - 1;
    }

    // Own-line comments that precede `off`, at the given indentation.
    void leading(uint32_t off, int ind, bool at_block_start) {
        uint32_t last = 0;
        bool first = true;
        while (next_ < comments_.size() && comments_[next_].span.begin < off) {
            const auto& c = comments_[next_++];
            if (!first && blank_between(last, c.span.begin)) blank();
            else if (first && !at_block_start && blank_between(prev_item_end_, c.span.begin) && !ends_blank()) blank();
            indent(ind);
            out_ += c.text;
            out_ += '\n';
            last = c.span.end;
            first = false;
        }
        if (!first && blank_between(last, off) && off <= src_.size()) blank();
    }
    bool ends_blank() const { return out_.size() >= 2 && out_.compare(out_.size() - 2, 2, "\n\n") == 0; }

    // A comment after code on the line where `end` is.
    void trailing(uint32_t end) {
        prev_item_end_ = end;
        if (next_ < comments_.size()) {
            const auto& c = comments_[next_];
            // Only separators between the item and the comment: it is this item's.
            bool same_line = c.span.begin >= end &&
                             src_.find_first_not_of(" \t,;", end) == c.span.begin;
            if (same_line) {
                out_ += "  ";
                out_ += c.text;
                ++next_;
            }
        }
        out_ += '\n';
    }

    bool comment_inside(ast::Span s) const {
        return next_ < comments_.size() && comments_[next_].span.begin < s.end && comments_[next_].span.begin >= s.begin;
    }

    // Single-line rendering, or nothing if the expression cannot be on one line.
    std::optional<std::string> flat(const ast::Expr& e) const {
        auto first = flat_operand(e.first);
        if (!first) return std::nullopt;
        std::string r = *first;
        for (const auto& [op, o] : e.rest) {
            auto x = flat_operand(o);
            if (!x) return std::nullopt;
            r += std::string(" ") + op + " " + *x;
        }
        return r;
    }
    std::optional<std::string> flat_operand(const ast::Operand& o) const {
        using K = ast::Operand::Kind;
        switch (o.kind) {
            case K::Literal:
                if (o.literal.text.find('\n') != std::string::npos) return std::nullopt;
                return o.literal.text;
            case K::Path: return o.path.joined();
            case K::Paren: {
                auto x = flat(*o.paren);
                if (!x) return std::nullopt;
                return "(" + *x + ")";
            }
            case K::Call: {
                std::string r = o.call->name + "(";
                for (size_t i = 0; i < o.call->args.size(); ++i) {
                    auto x = flat(o.call->args[i]);
                    if (!x) return std::nullopt;
                    r += (i ? ", " : "") + *x;
                }
                return r + ")";
            }
            case K::List: {
                if (comment_inside(o.span)) return std::nullopt;
                std::string r = "[";
                for (size_t i = 0; i < o.list->items.size(); ++i) {
                    auto x = flat(o.list->items[i]);
                    if (!x) return std::nullopt;
                    r += (i ? ", " : "") + *x;
                }
                return r + "]";
            }
            case K::Block: return std::nullopt;
        }
        return std::nullopt;
    }

    void expr(const ast::Expr& e, int ind) {
        if (auto f = flat(e); f && column() + f->size() <= kWidth && !comment_inside(e.span)) {
            out_ += *f;
            return;
        }
        operand(e.first, ind);
        for (const auto& [op, o] : e.rest) {
            out_ += std::string(" ") + op + " ";
            operand(o, ind);
        }
    }

    void operand(const ast::Operand& o, int ind) {
        using K = ast::Operand::Kind;
        switch (o.kind) {
            case K::Literal: out_ += o.literal.text; return;
            case K::Path: out_ += o.path.joined(); return;
            case K::Paren:
                out_ += "(";
                expr(*o.paren, ind);
                out_ += ")";
                return;
            case K::Call:
                out_ += o.call->name + "(";
                for (size_t i = 0; i < o.call->args.size(); ++i) {
                    if (i) out_ += ", ";
                    expr(o.call->args[i], ind);
                }
                out_ += ")";
                return;
            case K::List: {
                if (auto f = flat_operand(o); f && column() + f->size() <= kWidth) {
                    out_ += *f;
                    return;
                }
                out_ += "[\n";
                for (const auto& item : o.list->items) {
                    leading(item.span.begin, ind + 1, true);
                    indent(ind + 1);
                    expr(item, ind + 1);
                    out_ += ",";
                    trailing(item.span.end);
                }
                leading(o.span.end - 1, ind + 1, false);
                indent(ind);
                out_ += "]";
                return;
            }
            case K::Block: block(*o.block, ind); return;
        }
    }

    void block(const ast::Block& b, int ind) {
        if (b.items.empty() && !comment_inside(b.span)) {
            out_ += "{}";
            return;
        }
        out_ += "{\n";
        prev_item_end_ = b.span.begin + 1;
        for (size_t i = 0; i < b.items.size(); ++i) {
            const ast::Item& it = b.items[i];
            uint32_t begin = it.span().begin;
            if (i > 0 && blank_between(prev_item_end_, first_token_or_comment(prev_item_end_, begin))) blank();
            leading(begin, ind + 1, i == 0);
            indent(ind + 1);
            item(it, ind + 1);
            trailing(it.span().end);
        }
        leading(b.span.end - 1, ind + 1, false);
        indent(ind);
        out_ += "}";
    }

    void item(const ast::Item& it, int ind) {
        switch (it.kind) {
            case ast::Item::Kind::Field: {
                const ast::Field& f = it.field;
                out_ += f.key;
                if (f.value.first.kind == ast::Operand::Kind::Block && f.value.rest.empty()) {
                    out_ += " ";
                    block(*f.value.first.block, ind);
                } else {
                    out_ += " = ";
                    expr(f.value, ind);
                }
                return;
            }
            case ast::Item::Kind::Arm: {
                const ast::Arm& a = it.arm;
                if (a.otherwise) out_ += "otherwise";
                else {
                    out_ += "when ";
                    for (size_t i = 0; i < a.patterns.size(); ++i) {
                        if (i) out_ += ", ";
                        expr(a.patterns[i], ind);
                    }
                }
                out_ += " -> " + a.target.joined();
                return;
            }
            case ast::Item::Kind::Decl: decl(*it.decl, ind); return;
        }
    }

    void decl(const ast::Decl& d, int ind) {
        out_ += d.keyword;
        if (d.keyword == "import") {
            out_ += " " + d.value->first.literal.text;
            return;
        }
        out_ += " " + d.name;
        if (d.has_params) {
            // Inline when it fits and holds no comment; else one parameter per line.
            std::optional<std::string> line = "(";
            for (size_t i = 0; i < d.params.size() && line; ++i) {
                *line += (i ? ", " : "") + d.params[i].name;
                if (!d.params[i].value) continue;
                auto v = flat(*d.params[i].value);
                if (!v) line.reset();
                else *line += " = " + *v;
            }
            if (line) *line += ")";
            bool comments = !d.params.empty() && comment_inside({d.params.front().span.begin, d.params.back().span.end + 1});
            if (line && !comments && column() + line->size() + (d.alias.empty() ? 0 : 4 + d.alias.size()) <= kWidth) {
                out_ += *line;
            } else {
                out_ += "(\n";
                for (const auto& p : d.params) {
                    leading(p.span.begin, ind + 1, true);
                    indent(ind + 1);
                    out_ += p.name;
                    if (p.value) {
                        out_ += " = ";
                        expr(*p.value, ind + 1);
                    }
                    out_ += ",";
                    trailing(p.span.end);
                }
                indent(ind);
                out_ += ")";
            }
        }
        if (d.value) {
            out_ += " = ";
            expr(*d.value, ind);
        }
        if (d.body) {
            out_ += " ";
            block(*d.body, ind);
        }
        if (!d.alias.empty()) out_ += " as " + d.alias;
    }

    const std::string& src_;
    const std::vector<ast::Comment>& comments_;
    size_t next_ = 0;
    uint32_t prev_item_end_ = 0;
    std::string out_;
};

}  // namespace

bool format_source(const std::string& path, const std::string& text, std::string& out, Diagnostics& diags) {
    if (!is_moa_source(path)) {  // never parse (and quote) another kind of file
        diags.error(nullptr, 0, path + ": not a .moa file (moa reads only .moa sources)");
        return false;
    }
    auto src = std::make_shared<SourceFile>(path, text);
    size_t before = diags.error_count();
    ast::File f = parse_file(src, diags);
    if (diags.error_count() != before) return false;
    Printer p(text, f.comments);
    out = p.run(f);
    return true;
}

}  // namespace moa
