// The .moa grammar in Spirit X3 (the only translation unit that includes X3).
//
// X3 parses one top-level declaration at a time; the loop in parse_file reports a
// failed declaration and resumes at the next line that starts with a declaration
// keyword in column 1, so one run reports every syntax error of a file.
// Expectation points (`>`) are used after every token that commits to a form: that
// gives "expected X" messages at the right place and keeps X3 from backtracking
// through nested blocks (which would be exponential in the nesting depth).
#include "parser.hpp"
#include "prescan.hpp"

#include <boost/spirit/home/x3.hpp>

#include <array>
#include <string_view>

#include "moa/ascii.hpp"

// X3 describes a parser with a semantic action by its C++ type name; describe it by
// its subject instead, so expectation failures read "expected a value".
namespace boost::spirit::x3 {
template <typename Subject, typename Action>
struct get_info<action<Subject, Action>> {
    typedef std::string result_type;
    std::string operator()(action<Subject, Action> const& p) const { return what(p.subject); }
};
}  // namespace boost::spirit::x3

namespace moa {
namespace x3 = boost::spirit::x3;
using It = const char*;

namespace grammar {

struct file_begin_tag;
struct depth_tag;  // int*: current nesting of operands and blocks

// Bounds recursion inside X3 itself (the lexical pre-scan cannot see every way a
// declaration may run on): deeper than kMaxNesting is an expectation failure, not a
// stack overflow.
template <typename Subject>
struct nest_directive : x3::unary_parser<Subject, nest_directive<Subject>> {
    using base_type = x3::unary_parser<Subject, nest_directive<Subject>>;
    static bool const is_pass_through_unary = true;
    explicit nest_directive(Subject const& subject) : base_type(subject) {}
    template <typename It, typename Ctx, typename RCtx, typename Attr>
    bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx, Attr& attr) const {
        int* depth = x3::get<depth_tag>(ctx);
        if (*depth >= kMaxNesting) boost::throw_exception(x3::expectation_failure<It>(first, "nesting"));
        struct Guard {
            int* d;
            ~Guard() { --*d; }
        } guard{depth};
        ++*depth;
        return this->subject.parse(first, last, ctx, rctx, attr);
    }
};
struct nest_gen {
    template <typename Subject>
    nest_directive<typename x3::extension::as_parser<Subject>::value_type> operator[](Subject const& s) const {
        return nest_directive<typename x3::extension::as_parser<Subject>::value_type>(x3::as_parser(s));
    }
};
nest_gen const nested{};

// Sets the `span` of any AST node that has one, from the rule's matched range.
struct annotate {
    template <typename T, typename Ctx>
    void on_success(It const& first, It const& last, T& node, Ctx const& ctx) {
        if constexpr (requires { node.span; }) {
            It base = x3::get<file_begin_tag>(ctx);
            node.span = {static_cast<uint32_t>(first - base), static_cast<uint32_t>(last - base)};
        }
    }
};

struct NameTok {
    ast::Span span;
    std::string text;
};
struct PathTok {
    ast::Span span;
    ast::Path path;
};

struct ident_id;
struct name_id : annotate {};
struct path_id : annotate {};
struct literal_id : annotate {};
struct string_lit_id : annotate {};
struct operand_id : annotate {};
struct expr_id : annotate {};
struct call_id;
struct list_id;
struct block_id : annotate {};
struct field_id : annotate {};
struct arm_id : annotate {};
struct item_id;
struct param_id : annotate {};
struct decl_id : annotate {};
struct keyword_id : annotate {};

x3::rule<ident_id, std::string> const ident = "a name";
x3::rule<name_id, NameTok> const name = "a name";
x3::rule<path_id, PathTok> const path = "a name";
x3::rule<literal_id, ast::Literal> const literal = "a value";
x3::rule<string_lit_id, ast::Operand> const string_operand = "a string";
x3::rule<operand_id, ast::Operand> const operand = "a value";
x3::rule<expr_id, ast::Expr> const expr = "a value";
x3::rule<call_id, ast::Call> const call = "a call";
x3::rule<list_id, ast::List> const list = "a list";
x3::rule<block_id, ast::Block> const block = "a block";
x3::rule<field_id, ast::Field> const field = "a field";
x3::rule<arm_id, ast::Arm> const arm = "a route arm";
x3::rule<item_id, ast::Item> const item = "a field";
x3::rule<param_id, ast::Param> const param = "a parameter";
x3::rule<decl_id, ast::Decl> const decl = "a declaration";
x3::rule<keyword_id, NameTok> const keyword = "a declaration keyword";

// Named one-token rules so that expectation failures read well.
x3::rule<class field_value_id, ast::Expr> const field_value = "'=' or '{' after the field name";
x3::rule<class target_id, PathTok> const target = "a layer name";
x3::rule<class arrow_id> const arrow = "'->'";
x3::rule<class rbrace_id> const close_brace = "'}' or a field";
x3::rule<class rbracket_id> const close_bracket = "']' or ','";
x3::rule<class rparen_id> const close_paren = "')' or ','";
x3::rule<class qclose_id> const close_quote = "'\"' to close the string";
x3::rule<class tclose_id> const close_text = "'\"\"\"' to close the text block";
x3::rule<class escape_id> const escaped_char = "an escaped character";

// X3 hands a rule whose definition has semantic actions no attribute in
// on_success, so each annotated rule wraps an "inner" rule that holds the actions.
x3::rule<class name_inner_id, NameTok> const name_inner = "a name";
x3::rule<class path_inner_id, PathTok> const path_inner = "a name";
x3::rule<class string_operand_inner_id, ast::Operand> const string_operand_inner = "a string";
x3::rule<class operand_inner_id, ast::Operand> const operand_inner = "a value";
x3::rule<class expr_inner_id, ast::Expr> const expr_inner = "a value";
x3::rule<class block_inner_id, ast::Block> const block_inner = "a block";
x3::rule<class field_inner_id, ast::Field> const field_inner = "a field";
x3::rule<class arm_inner_id, ast::Arm> const arm_inner = "a route arm";
x3::rule<class param_inner_id, ast::Param> const param_inner = "a parameter";
x3::rule<class decl_inner_id, ast::Decl> const decl_inner = "a declaration";
x3::rule<class keyword_inner_id, NameTok> const keyword_inner = "a declaration keyword";

// Character classes as explicit sets: X3's alpha/alnum/digit/space classify a
// non-ASCII byte (a negative char) with an assertion in debug builds and a negative
// table index in release builds; a set tests the byte as unsigned.
auto const alpha = x3::char_("a-zA-Z");
auto const alnum = x3::char_("a-zA-Z0-9");
auto const digit = x3::char_("0-9");
auto const skipper = x3::char_(" \t\r\n\f\v") | x3::lexeme['#' >> *(x3::char_ - x3::eol)];
auto const word_end = !(alnum | '_');
auto const number_core = -x3::char_('-') >> +digit >> -('.' >> +digit) >>
                         -(x3::char_("eE") >> -x3::char_("+-") >> +digit);
auto const dur_unit = x3::lit("ms") | "min" | "s" | "m" | "h" | "d" | "w";  // moa/duration.hpp
// Any word after '/' makes a rate; the checker names the units it knows
// (`600/minute` is "unknown rate unit", not "expected '}'").
auto const rate_unit = x3::lit('/') >> +(alnum | '_');

auto const arrow_def = x3::lit("->");
auto const target_def = !(x3::lexeme[(x3::lit("when") | "otherwise") >> word_end]) >> path;
auto const close_brace_def = x3::lit('}');
auto const close_bracket_def = x3::lit(']');
auto const close_paren_def = x3::lit(')');
auto const close_quote_def = x3::lit('"');
auto const close_text_def = x3::lit("\"\"\"");
auto const escaped_char_def = x3::char_ - x3::eol;

// A name never runs into a non-ASCII character: `agent café` fails at the name (one
// error) instead of declaring `caf` and failing again at `é`.
auto const non_ascii = x3::char_ - x3::ascii::char_;
auto const ident_def = x3::lexeme[(alpha | x3::char_('_')) >> *(alnum | x3::char_('_')) >> !non_ascii];

auto const name_inner_def = ident[([](auto& c) { x3::_val(c).text = std::move(x3::_attr(c)); })];

// A part may index one copy of a repeated layer: `r[1]`, `r[2].a`.
x3::rule<class path_part_id, std::string> const path_part = "a name";
auto const path_part_def = x3::raw[x3::lexeme[ident >> -(x3::lit('[') >> +digit >> ']')]];

auto const path_inner_def = x3::lexeme[path_part % '.'][([](auto& c) {
    x3::_val(c).path.parts = std::move(x3::_attr(c));
})];

template <ast::LiteralKind K>
auto const set_literal = [](auto& c) {
    auto& r = x3::_attr(c);
    x3::_val(c).kind = K;
    x3::_val(c).text.assign(r.begin(), r.end());
};

auto const string_body = x3::lit('"') > *(('\\' > escaped_char) | (x3::char_ - '"' - x3::eol)) >
                         close_quote;
auto const text_body = x3::lit("\"\"\"") > *(x3::char_ - "\"\"\"") > close_text;

using LK = ast::LiteralKind;
auto const literal_def =
    x3::raw[x3::lexeme[number_core >> rate_unit >> word_end]][set_literal<LK::Rate>] |
    x3::raw[x3::lexeme[number_core >> dur_unit >> word_end]][set_literal<LK::Duration>] |
    // A number glued to an unknown unit ("30sec") is kept whole; the checker names
    // the unit instead of the parser saying "expected a value".
    x3::raw[x3::lexeme[number_core >> *(alnum | '_')]][set_literal<LK::Number>] |
    x3::raw[x3::lexeme[text_body]][set_literal<LK::TextBlock>] |
    x3::raw[x3::lexeme[string_body]][set_literal<LK::String>];

auto const string_operand_inner_def = x3::raw[x3::lexeme[string_body]][([](auto& c) {
    auto& r = x3::_attr(c);
    x3::_val(c).kind = ast::Operand::Kind::Literal;
    x3::_val(c).literal.kind = LK::String;
    x3::_val(c).literal.text.assign(r.begin(), r.end());
})];

auto const push_arg = [](auto& c) { x3::_val(c).args.push_back(std::move(x3::_attr(c))); };
auto const call_def = (ident[([](auto& c) { x3::_val(c).name = std::move(x3::_attr(c)); })] >> '(') >
                      -(expr[push_arg] % ',') > -x3::lit(',') > close_paren;

auto const push_item = [](auto& c) { x3::_val(c).items.push_back(std::move(x3::_attr(c))); };
auto const list_def = '[' > -(expr[push_item] % ',') > -x3::lit(',') > close_bracket;

using OK = ast::Operand::Kind;
auto const operand_inner_def =
    literal[([](auto& c) {
        x3::_val(c).kind = OK::Literal;
        x3::_val(c).literal = std::move(x3::_attr(c));
    })] |
    call[([](auto& c) {
        x3::_val(c).kind = OK::Call;
        x3::_val(c).call = std::make_shared<ast::Call>(std::move(x3::_attr(c)));
    })] |
    path[([](auto& c) {
        x3::_val(c).kind = OK::Path;
        x3::_val(c).path = std::move(x3::_attr(c).path);
    })] |
    list[([](auto& c) {
        x3::_val(c).kind = OK::List;
        x3::_val(c).list = std::make_shared<ast::List>(std::move(x3::_attr(c)));
    })] |
    block[([](auto& c) {
        x3::_val(c).kind = OK::Block;
        x3::_val(c).block = std::make_shared<ast::Block>(std::move(x3::_attr(c)));
    })] |
    ('(' > expr[([](auto& c) {
         x3::_val(c).kind = OK::Paren;
         x3::_val(c).paren = std::make_shared<ast::Expr>(std::move(x3::_attr(c)));
     })] > close_paren);

auto const expr_inner_def =
    operand[([](auto& c) { x3::_val(c).first = std::move(x3::_attr(c)); })] >>
    *((x3::char_("+*-") - x3::lit("->"))[([](auto& c) { x3::_val(c).rest.emplace_back(x3::_attr(c), ast::Operand{}); })] >
      operand[([](auto& c) { x3::_val(c).rest.back().second = std::move(x3::_attr(c)); })]);

auto const block_inner_def = '{' > *(item[push_item] >> -x3::lit(';')) > close_brace;

// A block value, as the sugar `retry { attempts = 3 }` for `retry = { attempts = 3 }`.
auto const block_as_expr = [](auto& c) {
    auto& v = x3::_val(c);
    v.span = x3::_attr(c).span;
    v.first.span = x3::_attr(c).span;
    v.first.kind = OK::Block;
    v.first.block = std::make_shared<ast::Block>(std::move(x3::_attr(c)));
};
auto const field_value_def = (x3::lit('=') > expr[([](auto& c) { x3::_val(c) = std::move(x3::_attr(c)); })]) |
                             block[block_as_expr];

// Inside a block, a name that is not a keyword commits to a field: `model "m"`
// reads "expected '=' or '{' after the field name", not "expected '}'".
auto const field_inner_def =
    name[([](auto& c) {
        x3::_val(c).key = std::move(x3::_attr(c).text);
        x3::_val(c).key_span = x3::_attr(c).span;
    })] > field_value[([](auto& c) { x3::_val(c).value = std::move(x3::_attr(c)); })];

auto const set_target = [](auto& c) {
    x3::_val(c).target = std::move(x3::_attr(c).path);
    x3::_val(c).target_span = x3::_attr(c).span;
};
auto const arm_inner_def =
    (x3::lexeme[x3::lit("when") >> word_end] >
     (expr[([](auto& c) { x3::_val(c).patterns.push_back(std::move(x3::_attr(c))); })] % ',') >
     arrow > target[set_target]) |
    (x3::lexeme[x3::lit("otherwise") >> word_end][([](auto& c) { x3::_val(c).otherwise = true; })] >
     arrow > target[set_target]);

auto const item_def =
    arm[([](auto& c) {
        x3::_val(c).kind = ast::Item::Kind::Arm;
        x3::_val(c).arm = std::move(x3::_attr(c));
    })] |
    decl[([](auto& c) {
        x3::_val(c).kind = ast::Item::Kind::Decl;
        x3::_val(c).decl = std::make_shared<ast::Decl>(std::move(x3::_attr(c)));
    })] |
    field[([](auto& c) {
        x3::_val(c).kind = ast::Item::Kind::Field;
        x3::_val(c).field = std::move(x3::_attr(c));
    })];

auto const param_inner_def =
    name[([](auto& c) {
        x3::_val(c).name = std::move(x3::_attr(c).text);
    })] >>
    -(x3::lit('=') > expr[([](auto& c) { x3::_val(c).value = std::move(x3::_attr(c)); })]);

auto const keyword_inner_def =
    x3::raw[x3::lexeme[(x3::lit("backend") | "template" | "agent" | "layer" | "route" | "output" |
                        "topology" | "use" | "param" | "verdict" | "price") >>
                       word_end]][([](auto& c) {
        auto& r = x3::_attr(c);
        x3::_val(c).text.assign(r.begin(), r.end());
    })] >>
    !x3::lit('=');  // `backend = sim` inside an agent is a field, not a declaration

auto const set_keyword = [](auto& c) {
    x3::_val(c).keyword = std::move(x3::_attr(c).text);
    x3::_val(c).keyword_span = x3::_attr(c).span;
};
auto const push_param = [](auto& c) { x3::_val(c).params.push_back(std::move(x3::_attr(c))); };

auto const decl_inner_def =
    (x3::raw[x3::lexeme[x3::lit("import") >> word_end]][([](auto& c) {
         x3::_val(c).keyword = "import";
     })] > string_operand[([](auto& c) {
         ast::Expr e;
         e.span = x3::_attr(c).span;
         e.first = std::move(x3::_attr(c));
         x3::_val(c).value = std::move(e);
     })]) |
    ((keyword[set_keyword] > name[([](auto& c) {
         x3::_val(c).name = std::move(x3::_attr(c).text);
         x3::_val(c).name_span = x3::_attr(c).span;
     })]) >>
     -(x3::lit('(')[([](auto& c) { x3::_val(c).has_params = true; })] >
       -(param[push_param] % ',') > -x3::lit(',') > close_paren) >>
     -(x3::lit('=') > expr[([](auto& c) { x3::_val(c).value = std::move(x3::_attr(c)); })]) >>
     -block[([](auto& c) { x3::_val(c).body = std::move(x3::_attr(c)); })] >>
     -(x3::lexeme[x3::lit("as") >> word_end] > name[([](auto& c) {
           x3::_val(c).alias = std::move(x3::_attr(c).text);
           x3::_val(c).alias_span = x3::_attr(c).span;
       })]));


auto const name_def = name_inner;
auto const path_def = path_inner;
auto const string_operand_def = string_operand_inner;
auto const operand_def = nested[operand_inner];
auto const expr_def = expr_inner;
auto const block_def = nested[block_inner];
auto const field_def = field_inner;
auto const arm_def = arm_inner;
auto const param_def = param_inner;
auto const decl_def = decl_inner;
auto const keyword_def = keyword_inner;

BOOST_SPIRIT_DEFINE(name_inner, path_inner, path_part, string_operand_inner, operand_inner, expr_inner, block_inner, field_inner, arm_inner, param_inner, decl_inner, keyword_inner,
                    ident, field_value, target, name, path, literal, string_operand, operand, expr, call, list, block,
                    field, arm, item, param, decl, keyword, arrow, close_brace,
                    close_bracket, close_paren, close_quote, close_text, escaped_char)

}  // namespace grammar

using namespace prescan;

// An X3 expectation failure at `at` in the declaration starting at `pos`, as one
// diagnostic saying what was expected and found; returns where parsing resumes.
size_t report_expectation(const std::shared_ptr<const SourceFile>& src, size_t pos, size_t at, const std::string& which,
                          RecoveryPoints& recovery, size_t next, Diagnostics& diags) {
    const std::string& s = src->text();
    size_t shown = skip_blank(s, at);
    std::string found = describe_found(s, shown);
    std::string what = "expected " + which;
    if (which == "nesting") {
        shown = at;
        what = "nesting deeper than " + std::to_string(kMaxNesting) + " levels";
        found = describe_found(s, at);
    }
    if (which == grammar::close_quote.name) {
        // A string stops at the end of its line: report there, not on the next line.
        shown = at;
        found = at < s.size() ? "end of line" : "end of file";
        what = "unterminated string: " + what;
    } else if (which == grammar::close_text.name) {
        size_t open = s.rfind("\"\"\"", at > 3 ? at - 3 : 0);
        if (open != std::string::npos && open >= pos) shown = open;
        what = "unterminated text block: " + what;
        found = "end of file";
    } else if (shown >= s.size()) {  // report just after the last token, not past EOF
        shown = std::min(at, s.size());
        while (shown > 0 && ascii::is_space(s[shown - 1])) --shown;
    }
    std::string msg = which == "nesting" ? what : what + ", found " + found;
    if (which == grammar::close_paren.name && s.compare(pos, 4, "use ") == 0 && shown > 0) {
        size_t prev = s.find_last_not_of(" \t\r\n", shown - 1);
        if (prev != std::string::npos && (s[prev] == '(' || s[prev] == ','))
            msg = "expected a named argument, found " + found +
                  "; topology arguments are named: `use moa(proposers = [a, b], aggregator = a)`";
    }
    size_t nb = 0, ne = 0;
    bool bad_name = which != grammar::close_quote.name && which != grammar::close_text.name &&
                    non_ascii_name(s, shown, nb, ne);
    if (bad_name) {
        shown = nb;
        while (static_cast<unsigned char>(s[shown]) < 0x80) ++shown;
        msg = "non-ASCII character in name '" + s.substr(nb, ne - nb) +
              "'; names are ASCII letters, digits and '_'";
    }
    auto& diag = diags.error(src, static_cast<uint32_t>(shown), msg);
    // A block that runs to the end of the file, or into the next declaration:
    // show where it was opened.
    if (which == grammar::close_brace.name &&
        (found == "end of file" || recovery.after(shown > 0 ? shown - 1 : 0) == shown)) {
        if (size_t open = unclosed_brace(s, pos, shown); open != std::string::npos)
            diag.notes.push_back(Diagnostics::note(src, static_cast<uint32_t>(open), "this '{' is never closed"));
    }
    // Resume after the error, never before it: lines the failed declaration
    // already consumed must not be parsed (and reported) twice. If the error
    // is at a declaration in column 1 (a missing '}'), resume right there.
    size_t line_start = shown > 0 ? s.rfind('\n', shown - 1) : std::string::npos;
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    if (line_start > pos && line_start == shown && recovery.after(line_start - 1) == line_start)
        next = line_start;
    else if (at > pos)
        next = recovery.after(std::min(at, s.size()));
    return next;
}

ast::File parse_file(const std::shared_ptr<const SourceFile>& src, Diagnostics& diags) {
    ast::File file;
    const std::string& s = src->text();
    if (size_t bad = first_invalid_utf8(s); bad != std::string::npos) {
        diags.error(src, static_cast<uint32_t>(bad),
                    s[bad] == 0 ? "NUL byte in source; a .moa file is UTF-8 text"
                                : "invalid UTF-8 byte; a .moa file is UTF-8 text");
        return file;
    }
    ScanResult scanned = scan(s);
    file.comments = std::move(scanned.comments);

    It const begin = s.data();
    It const end = s.data() + s.size();
    int depth = 0;
    auto const parser = x3::with<grammar::file_begin_tag>(begin)[x3::with<grammar::depth_tag>(&depth)[grammar::decl]];
    int errors = 0;
    RecoveryPoints recovery(s);
    size_t pos = skip_blank(s, 0);
    while (pos < s.size()) {
        if (errors >= kMaxErrorsPerFile) {
            diags.error(src, static_cast<uint32_t>(pos), "too many errors; giving up on this file");
            break;
        }
        size_t next = recovery.after(pos);
        if (scanned.too_deep >= pos && scanned.too_deep < next) {
            diags.error(src, static_cast<uint32_t>(scanned.too_deep),
                        "nesting deeper than " + std::to_string(kMaxNesting) + " levels");
            ++errors;
            pos = skip_blank(s, next);
            continue;
        }
        It first = begin + pos;
        ast::Decl d;
        bool ok = false;
        try {
            ok = x3::phrase_parse(first, end, parser, grammar::skipper, d);
            if (!ok) {
                std::string msg = "expected a declaration (import, param, backend, price, template, "
                                  "agent, layer, route, output, verdict, topology or use), found " +
                                  describe_found(s, pos);
                if (is_word_char(s[pos])) {
                    std::vector<std::string> kws(kKeywords.begin(), kKeywords.end());
                    std::string word = s.substr(pos, word_length(s, pos));
                    if (auto sug = did_you_mean(word, kws); !sug.empty())
                        msg = "unknown declaration '" + word + "'; did you mean '" + sug + "'?";
                }
                diags.error(src, static_cast<uint32_t>(pos), msg, word_length(s, pos));
                ++errors;
            }
        } catch (const x3::expectation_failure<It>& e) {
            next = report_expectation(src, pos, static_cast<size_t>(e.where() - begin), e.which(), recovery, next, diags);
            ++errors;
            ok = false;
        }
        if (!ok) file.broken_names.push_back(declared_name(s, pos));
        if (ok) {
            file.decls.push_back(std::move(d));
            pos = skip_blank(s, static_cast<size_t>(first - begin));
        } else {
            pos = skip_blank(s, next);
        }
    }
    return file;
}

}  // namespace moa

namespace moa {

std::optional<ast::Field> parse_field(const std::shared_ptr<const SourceFile>& src, Diagnostics& diags) {
    const std::string& s = src->text();
    if (first_invalid_utf8(s) != std::string::npos || scan(s).too_deep != std::string::npos) {
        diags.error(src, 0, "invalid value");
        return std::nullopt;
    }
    It const begin = s.data();
    It first = begin;
    It const end = begin + s.size();
    ast::Field f;
    try {
        int depth = 0;
        auto const parser = x3::with<grammar::file_begin_tag>(begin)[x3::with<grammar::depth_tag>(&depth)[grammar::field]];
        if (x3::phrase_parse(first, end, parser, grammar::skipper, f) && first == end) return f;
        size_t at = static_cast<size_t>(first - begin);
        diags.error(src, static_cast<uint32_t>(at), "expected `NAME.field=value`, found " + describe_found(s, at));
    } catch (const x3::expectation_failure<It>& e) {
        size_t at = skip_blank(s, static_cast<size_t>(e.where() - begin));
        diags.error(src, static_cast<uint32_t>(at), "expected " + e.which() + ", found " + describe_found(s, at));
    }
    return std::nullopt;
}

}  // namespace moa
