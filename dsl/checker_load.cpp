// Checker, part 0: reading the main file and its imports.
//
// An import may read only a `.moa` file inside an import root: the main file's
// directory (and everything under it), the directories given with -I /
// --import-path or MOA_PATH, and the standard library. Paths are compared after
// resolving symbolic links, so a link inside a root cannot lead out of it. A file
// that is not a .moa source is never read, so no diagnostic can quote its bytes (an
// `import "../.env"` used to echo a key in a syntax error).
#include <filesystem>
#include <fstream>

#include "checker.hpp"
#include "parser.hpp"

namespace moa {
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxFileBytes = 64u << 20;

bool read_whole_file(const std::string& path, std::string& out, std::string& error) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        error = "is a directory";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open file";
        return false;
    }
    in.seekg(0, std::ios::end);
    auto size = static_cast<size_t>(in.tellg());
    if (size > kMaxFileBytes) {
        error = "file is larger than 64 MiB";
        return false;
    }
    in.seekg(0);
    out.resize(size);
    in.read(out.data(), static_cast<std::streamsize>(size));
    return true;
}

bool under(const fs::path& root, const fs::path& p) {
    auto r = root.begin(), q = p.begin();
    for (; r != root.end(); ++r, ++q) {
        if (r->empty()) continue;  // a trailing separator
        if (q == p.end() || *r != *q) return false;
    }
    return true;
}
}  // namespace

bool is_moa_source(const std::string& path) { return fs::path(path).extension() == ".moa"; }

void Checker::set_roots(const std::string& main_path) {
    std::error_code ec;
    fs::path dir = fs::path(main_path).parent_path();
    std::vector<fs::path> dirs = {dir.empty() ? fs::path(".") : dir};
    for (const auto& d : opts_.import_paths) dirs.emplace_back(d);
    for (const auto& d : dirs) {
        fs::path c = fs::canonical(d, ec);
        if (!ec) roots_.push_back(c.string());
    }
}

bool Checker::inside_roots(const std::string& canonical) const {
    for (const auto& r : roots_)
        if (under(fs::path(r), fs::path(canonical))) return true;
    return false;
}

// Finds `rel` for an import in `importer`: the importing file's directory first,
// then the import paths; only files inside a root count. Reports and returns "" if
// there is none.
std::string Checker::resolve_import(const LoadedFile& importer, const ast::Decl& d, const std::string& rel) {
    const Origin at{importer.src, d.value->span};
    auto error = [&](const std::string& msg) -> Diagnostic& {
        return diags_.error(at.file, at.span.begin, msg, at.span.end - at.span.begin);
    };
    if (!is_moa_source(rel)) {
        error("cannot import \"" + rel + "\": only .moa files can be imported");
        return {};
    }
    std::error_code ec;
    std::vector<fs::path> candidates = {fs::path(importer.src->path()).parent_path() / rel};
    if (fs::path(rel).is_relative())
        for (const auto& dir : opts_.import_paths) candidates.push_back(fs::path(dir) / rel);
    bool refused = false, link = false;
    for (const auto& c : candidates) {
        if (!fs::is_regular_file(c, ec)) continue;
        std::string real = fs::canonical(c, ec).string();
        if (ec) continue;
        if (!inside_roots(real)) {
            link = link || (!refused && inside_roots(fs::weakly_canonical(fs::absolute(c, ec).parent_path(), ec).string()));
            refused = true;
            continue;
        }
        if (!is_moa_source(real)) {  // a link named x.moa to some other file
            error("cannot import \"" + rel + "\": it is a link to a file that is not a .moa source; only .moa files can be imported");
            return {};
        }
        return c.lexically_normal().string();
    }
    if (refused) {
        error("cannot import \"" + rel + "\": it " + (link ? "is a symbolic link to a file " : "is ") +
              "outside the directories imports may read (the main file's directory, the standard library, "
              "and -I/--import-path directories); add `--import-path DIR` to allow another directory");
        return {};
    }
    std::string where;
    for (const auto& c : candidates) where += "\n  " + c.lexically_normal().string();
    error("cannot find imported file \"" + rel + "\"; looked in:" + where);
    return {};
}

bool Checker::in_unimported_stdlib(const std::string& name) {
    if (!stdlib_names_) {
        stdlib_names_.emplace();
        std::error_code ec;
        for (const auto& dir : opts_.import_paths) {
            fs::path p = fs::path(dir) / "moa.moa";
            if (!fs::is_regular_file(p, ec)) continue;
            std::string text, err;
            if (loaded_paths_.count(fs::weakly_canonical(p, ec).string()) || !read_whole_file(p.string(), text, err))
                break;
            Diagnostics quiet;  // its own errors are not this file's business
            ast::File f = parse_file(std::make_shared<SourceFile>(p.string(), std::move(text)), quiet);
            for (const auto& d : f.decls) stdlib_names_->insert(d.name);
            break;
        }
    }
    return stdlib_names_->count(name) > 0;
}

void Checker::load(const std::string& path, std::string text, bool main, std::vector<std::string>& stack) {
    std::error_code ec;
    std::string key = fs::weakly_canonical(path, ec).string();
    if (key.empty()) key = path;
    if (loaded_paths_.count(key)) return;
    loaded_paths_.insert(key);
    auto file = std::make_unique<LoadedFile>();
    file->src = std::make_shared<SourceFile>(path, std::move(text));
    file->main = main;
    file->ast = parse_file(file->src, diags_);
    for (const auto& n : file->ast.broken_names) broken_.insert(n);
    if (!file->ast.broken_names.empty()) syntax_errors_ = true;
    LoadedFile& lf = *file;
    files_.push_back(std::move(file));

    stack.push_back(key);
    for (const auto& d : lf.ast.decls) {
        if (d.keyword != "import") continue;
        std::string rel, err;
        size_t err_at = 0;
        if (!decode_string(d.value->first.literal.text, rel, err, err_at)) {
            diags_.error(lf.src, d.value->span.begin, err);
            continue;
        }
        std::string found = resolve_import(lf, d, rel);
        if (found.empty()) continue;
        std::string fkey = fs::weakly_canonical(found, ec).string();
        for (size_t i = 0; i < stack.size(); ++i) {
            if (stack[i] != fkey) continue;
            std::string cycle;
            for (size_t j = i; j < stack.size(); ++j) cycle += fs::path(stack[j]).filename().string() + " -> ";
            cycle += fs::path(fkey).filename().string();
            diags_.error(lf.src, d.value->span.begin, "import cycle: " + cycle,
                         d.value->span.end - d.value->span.begin);
            fkey.clear();
            break;
        }
        if (fkey.empty()) continue;
        std::string body;
        if (!read_whole_file(found, body, err)) {
            diags_.error(lf.src, d.value->span.begin, "cannot read \"" + found + "\": " + err);
            continue;
        }
        load(found, std::move(body), false, stack);
    }
    stack.pop_back();
}

LoadResult load_graph_text(const std::string& path, std::string text, const LoadOptions& opts,
                           Diagnostics& diags) {
    Checker c(diags, opts);
    return c.run(path, std::move(text));
}

LoadResult load_graph(const std::string& path, const LoadOptions& opts, Diagnostics& diags) {
    if (!is_moa_source(path)) {
        diags.error(nullptr, 0, path + ": not a .moa file (moa reads only .moa sources)");
        return {};
    }
    std::string text, err;
    if (!read_whole_file(path, text, err)) {
        diags.error(nullptr, 0, path + ": " + err);
        return {};
    }
    return load_graph_text(path, std::move(text), opts, diags);
}

}  // namespace moa
