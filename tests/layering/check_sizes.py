#!/usr/bin/env python3
"""No source file over 520 lines and no function over 80 lines without a stated reason.

Scans *.cpp and *.hpp under the given roots (default: dsl and engine, relative to the
repository). A function may exceed 80 lines only if the line right above its signature
is a comment `// long: REASON`; a file may exceed 520 lines only with a comment
`// long file: REASON` in its first 10 lines. Prints every offender; exits 1 if any.

Functions are found by counting braces in the text with string and character literals,
raw strings and comments blanked out (newlines kept, so line numbers stay right): a
`{` outside any function whose header (the text since the last `;`, `{` or `}`) is a
parameter list followed only by qualifiers, a trailing return type or a constructor's
initializer list opens a function body; its length runs from the header's first line
to the closing brace. Lambdas and local classes count toward the enclosing function.
"""
import os
import re
import sys

FUNCTION_LIMIT = 80
FILE_LIMIT = 520
LONG_FUNCTION = re.compile(r"^\s*//\s*long:\s*\S")
LONG_FILE = re.compile(r"^\s*//\s*long file:\s*\S")

IDENT = re.compile(r"[A-Za-z0-9_]")
RAW_STRING = re.compile(r'(?:u8|u|U|L)?R"([^()\\\s]{0,16})\(')


def blank(text):
    """Spaces for every character but newlines."""
    return re.sub(r"[^\n]", " ", text)


def strip_code(src):
    """The source with comments, literals and preprocessor lines blanked (same lines)."""
    out = []
    i, n = 0, len(src)
    line_start = True  # only whitespace so far on this line (for `#` directives)
    while i < n:
        c = src[i]
        if c == "\n":
            out.append(c)
            i += 1
            line_start = True
            continue
        if line_start and c == "#":  # a directive, with its backslash continuations
            j = i
            while j < n and src[j] != "\n":
                j = j + 2 if src[j] == "\\" and j + 1 < n else j + 1
            out.append(blank(src[i:j]))
            i = j
            continue
        if not c.isspace():
            line_start = False
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(src[i:j]))
            i = j
            continue
        m = RAW_STRING.match(src, i)
        if m and (i == 0 or not IDENT.match(src[i - 1])):
            close = ")" + m.group(1) + '"'
            j = src.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + blank(src[i + 2:j]))
            i = j
            continue
        if c == '"' or (c == "'" and not digit_separator(src, i)):
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + c + blank(src[i + 2:j]))
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def digit_separator(src, i):
    """A `'` inside a number (1'000'000, 0xFF'FF) rather than a character literal."""
    j = i
    while j > 0 and (IDENT.match(src[j - 1]) or src[j - 1] == "."):
        j -= 1
    return j < i and src[j].isdigit()


QUALIFIERS = {"const", "noexcept", "override", "final", "mutable", "try", "volatile"}
SCOPE_KEYWORD = re.compile(r"^(?:template\s*<[^{};]*>\s*)?(namespace|extern|struct|class|union|enum)\b")
LABEL = re.compile(r"^\s*(?:public|private|protected)\s*:(?!:)")


def classify(header):
    """'namespace', 'class', 'function' or 'init' (a brace to skip) for a `{` after header."""
    h = header
    while True:
        m = LABEL.match(h)
        if not m:
            break
        h = h[m.end():]
    h = h.strip()
    m = SCOPE_KEYWORD.match(h)
    if m:
        kw = m.group(1)
        if kw in ("namespace", "extern"):
            return "namespace"
        return "init" if kw == "enum" else "class"
    # The first parenthesised group at depth 0 is the parameter list (operator() aside).
    depth, first_open, first_close = 0, -1, -1
    for k, ch in enumerate(h):
        if ch == "(":
            if depth == 0 and first_open < 0:
                first_open = k
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and first_close < 0 and first_open >= 0:
                if h[first_open - 8:first_open].endswith("operator") and h[first_open + 1:k].strip() == "":
                    first_open = -1  # `operator()`: the parameters come next
                    continue
                first_close = k
    if first_close < 0 or depth != 0:
        return "init"
    tail = h[first_close + 1:]
    if re.search(r"(?<!:):(?!:)", tail):  # a constructor's initializer list
        return "function" if h.endswith((")", "}")) else "init"
    if "->" in tail:
        return "function"
    if h.endswith(")") or h.endswith("&"):
        return "function"
    last = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", h)
    return "function" if last and last.group(1) in QUALIFIERS else "init"


def function_name(header):
    m = re.search(r"operator\s*(\(\)|[^\s(]+)", header)
    if m:
        return "operator" + m.group(1)
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\[", header)
    if m:
        return m.group(1) + " (a lambda)"
    m = re.search(r"([~A-Za-z_][A-Za-z0-9_:~]*)\s*\(", header)
    return m.group(1) if m else "?"


def functions(code):
    """(first line, last line, name) of each function body outside another function."""
    found = []
    stack = []  # scopes: 'namespace', 'class', 'function', 'block', 'init'
    header, header_line = [], 0
    line = 1
    skip_depth = 0  # inside an 'init' brace outside functions: the header goes on after it
    fn_start = None
    for ch in code:
        if ch == "\n":
            line += 1
        in_function = any(s == "function" for s in stack)
        if skip_depth:
            if ch == "{":
                skip_depth += 1
            elif ch == "}":
                skip_depth -= 1
            continue
        if in_function:
            if ch == "{":
                stack.append("block")
            elif ch == "}":
                if stack.pop() == "function":
                    found.append((fn_start[0], line, fn_start[1]))
            continue
        if ch == "{":
            text = "".join(header)
            kind = classify(text)
            if kind == "init":
                skip_depth = 1
                header.append(" ")
                continue
            stack.append(kind)
            if kind == "function":
                fn_start = (header_line + first_code_line(text), function_name(text))
            header = []
        elif ch in ";}":
            if ch == "}" and stack:
                stack.pop()
            header = []
        else:
            if not header:
                header_line = line - (1 if ch == "\n" else 0)
            header.append(ch)
    return found


def first_code_line(text):
    """Lines between the header's start and its first code (labels like `public:` skipped)."""
    m = LABEL.match(text)
    while m:
        m2 = LABEL.match(text, m.end())
        if not m2:
            break
        m = m2
    start = m.end() if m else 0
    stripped = text[start:]
    offset = len(stripped) - len(stripped.lstrip())
    return text[: start + offset].count("\n")


def check_file(path, rel, problems):
    with open(path, encoding="utf-8", errors="replace") as f:
        src = f.read()
    lines = src.split("\n")
    count = src.count("\n") + (0 if src.endswith("\n") or not src else 1)
    if count > FILE_LIMIT and not any(LONG_FILE.match(l) for l in lines[:10]):
        problems.append(f"{rel}: {count} lines (limit {FILE_LIMIT}): split it, or say why in its first "
                        f"10 lines with `// long file: REASON`")
    for first, last, name in functions(strip_code(src)):
        length = last - first + 1
        if length <= FUNCTION_LIMIT:
            continue
        above = lines[first - 2] if first >= 2 else ""
        if LONG_FUNCTION.match(above):
            continue
        problems.append(f"{rel}:{first}: function {name} is {length} lines (limit {FUNCTION_LIMIT}): split it, "
                        f"or say why on the line above its signature with `// long: REASON`")


def main(argv):
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    roots = argv[1:] or [os.path.join(repo, "dsl"), os.path.join(repo, "engine")]
    problems = []
    scanned = 0
    for root in roots:
        if os.path.isfile(root):
            check_file(root, os.path.relpath(root, repo), problems)
            scanned += 1
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "tests")
            for name in sorted(filenames):
                if name.endswith((".cpp", ".hpp")):
                    path = os.path.join(dirpath, name)
                    check_file(path, os.path.relpath(path, repo), problems)
                    scanned += 1
    for p in problems:
        print("sizes: " + p)
    print(f"sizes: {scanned} files, {len(problems)} offender(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
