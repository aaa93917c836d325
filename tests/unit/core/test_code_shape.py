"""Shape of the code in src/gliopet: typed public functions, short functions.

Public means a name without a leading underscore, at any depth (methods and nested functions
count too: make a nested helper private or type it). Every parameter except ``self``/``cls``
and the return value must be annotated.

Long functions: at most `ALLOWED_LONG_FUNCTIONS` may exceed `MAX_FUNCTION_LINES` lines (def line
to last line, docstring included). Tighten `ALLOWED_LONG_FUNCTIONS` towards 0 as the remaining
ones are split; the test prints the offenders.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[3] / "src" / "gliopet"

# --- the long-function rule: tighten here ---------------------------------------------------
MAX_FUNCTION_LINES = 80
ALLOWED_LONG_FUNCTIONS = 0
# ---------------------------------------------------------------------------------------------

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.AST) -> list[_Function]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def untyped_public(source: str) -> list[tuple[int, str]]:
    """(line, name) of public functions with an unannotated parameter or return value."""
    found = []
    for node in _functions(ast.parse(source)):
        if node.name.startswith("_"):
            continue
        a = node.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p)]
        params = [p for p in params if p.arg not in ("self", "cls")]
        if node.returns is None or any(p.annotation is None for p in params):
            found.append((node.lineno, node.name))
    return found


def long_functions(source: str, max_lines: int = MAX_FUNCTION_LINES) -> list[tuple[int, int, str]]:
    """(lines, first line, name) of functions longer than `max_lines`."""
    return [(n.end_lineno - n.lineno + 1, n.lineno, n.name) for n in _functions(ast.parse(source))
            if n.end_lineno - n.lineno + 1 > max_lines]


def _scan(check: Callable[[str], list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Run `check` on every module; prefix each finding with the module's path."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for item in check(path.read_text()):
            out.append((path.relative_to(SRC.parents[1]).as_posix(), *item))
    return out


def test_detectors_flag_a_bad_snippet():
    source = (
        "def typed(a: int, *rest: int, k: str = '', **kw: int) -> int:\n    return a\n"
        "def bare(a, b: int) -> int:\n    return b\n"
        "def no_return(a: int):\n    return a\n"
        "def _private(a):\n    return a\n"
        "class C:\n"
        "    def method(self, x: int) -> int:\n        return x\n"
        "    def loose(self, *args):\n        def inner(y): return y\n        return args\n"
        "def long() -> None:\n" + "    pass\n" * 5
    )
    assert [name for _, name in untyped_public(source)] == ["bare", "no_return", "loose", "inner"]
    assert [name for _, _, name in long_functions(source, max_lines=5)] == ["long"]


def test_every_public_function_is_typed():
    offenders = _scan(untyped_public)
    listing = "\n".join(f"  {path}:{line} {name}" for path, line, name in offenders)
    assert not offenders, f"{len(offenders)} public function(s) without full type hints:\n{listing}"


def test_few_functions_over_the_line_limit():
    offenders = sorted(_scan(long_functions), key=lambda item: -item[1])
    listing = "\n".join(f"  {lines} lines  {path}:{line} {name}"
                        for path, lines, line, name in offenders)
    print(f"functions over {MAX_FUNCTION_LINES} lines:\n{listing or '  none'}")
    assert len(offenders) <= ALLOWED_LONG_FUNCTIONS, (
        f"{len(offenders)} functions over {MAX_FUNCTION_LINES} lines (at most "
        f"{ALLOWED_LONG_FUNCTIONS} allowed); split them into named helpers:\n{listing}")
