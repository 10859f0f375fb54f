#!/usr/bin/env python3
"""check_sizes.py on files written here: braces inside literals, raw strings and comments
do not move a function's end; constructors with brace-initialised members, inline
methods, trailing return types, templates, operators and lambdas are measured; a
`// long:` reason above the signature and a `// long file:` reason exempt; a short
function and a short file pass. Exits 1 on the first difference."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_sizes  # noqa: E402


def body(n):
    return "\n".join(f"    x += {i};" for i in range(n))


TRICKY = r'''// braces everywhere a naive counter would see them
#include <string>
#define OPEN {
namespace a {
const char* s = "}}}{{{\"}";
const char* r = R"x(}} { )" }  )x";
char c = '{';
char d = '}';
char e = '\'';
long big = 1'000'000;
/* { { { */
class K : public B {
public:
    K(int v) : a_{v}, b_(v) {
BODY
    }
    int get() const { return a_; }  // {
    auto f() -> int {
BODY
    }

private:
    int a_{0};
};
auto lam = [](int x) {
BODY
};
// long: a state machine read top to bottom
int exempt(int x) {
BODY
}
template <typename T>
T tpl(T x) noexcept {
BODY
}
bool operator()(int) {
BODY
}
int short_one() { return 1; }
enum class E { A, B };
std::string table[] = {"a", "{"};
}  // namespace a
'''.replace("BODY", body(85))

# (first line, name, length) of each function the check must report in TRICKY.
EXPECTED = [(14, "K", 87), (102, "f", 87), (193, "lam (a lambda)", 87), (368, "tpl", 88),
            (456, "operator()", 87)]


def main():
    failures = []
    code = check_sizes.strip_code(TRICKY)
    if code.count("\n") != TRICKY.count("\n"):
        failures.append("stripping changed the number of lines")
    got = [(first, name, last - first + 1) for first, last, name in check_sizes.functions(code)
           if last - first + 1 > check_sizes.FUNCTION_LIMIT]
    long_names = [name for _, name, _ in got]
    if "exempt" not in long_names:
        failures.append("the exempt function was not measured at all: " + repr(got))
    reported = [g for g in got if g[1] != "exempt"]
    if reported != EXPECTED:
        failures.append(f"long functions: got {reported}, expected {EXPECTED}")
    with tempfile.TemporaryDirectory() as d:
        def run(name, text):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            return subprocess.run([sys.executable, os.path.join(HERE, "check_sizes.py"), path],
                                  capture_output=True, text=True)
        r = run("tricky.cpp", TRICKY)
        if r.returncode != 1 or "function exempt" in r.stdout or r.stdout.count(" is 8") != len(EXPECTED):
            failures.append("check_sizes.py on tricky.cpp:\n" + r.stdout)
        if "tricky.cpp: " not in r.stdout or "lines (limit 520)" not in r.stdout:
            failures.append("the 544-line file without a reason was not reported:\n" + r.stdout)
        r = run("reasoned.hpp", "#pragma once\n// long file: generated tables\n" + "int x;\n" * 600)
        if r.returncode != 0:
            failures.append("a long file with `// long file:` was reported:\n" + r.stdout)
        r = run("short.cpp", "int f() {\n" + body(78) + "\n}\n")
        if r.returncode != 0:
            failures.append("an 80-line function was reported:\n" + r.stdout)
        r = run("long.cpp", "int f() {\n" + body(79) + "\n}\n")
        if r.returncode != 1 or "function f is 81 lines" not in r.stdout:
            failures.append("an 81-line function was not reported:\n" + r.stdout)
        r = run("noreason.cpp", "// long:\nint f() {\n" + body(79) + "\n}\n")
        if r.returncode != 1:
            failures.append("`// long:` without a reason exempted a function:\n" + r.stdout)
    for f in failures:
        print("check_sizes_test: " + f)
    print(f"check_sizes_test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
