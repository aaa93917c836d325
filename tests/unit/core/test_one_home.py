"""One home per constant: half-lives, the default windows and the seed are written once.

* Half-lives (s or min) live in `gliopet.radionuclides` only: no other module of src/gliopet
  may hold one of them as a number.
* The default static window (10-30 min = 600-1800 s) and the seed live in the configuration
  (``gliopet/data/config/defaults.yaml`` and its model ``gliopet/config.py``): no other module
  may hold the window as a pair of numbers, nor the seed at all (not even in a docstring).

The scan reads numbers from the syntax tree, so prose (docstrings, comments) may still name a
half-life or the window ("F-18, 109.77 min"); a number in code may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "gliopet"

#: Half-lives of PET radionuclides as numbers (s, and the min/h figures they come from),
#: including the values of the tables that `gliopet.radionuclides` replaced.
HALF_LIFE_NUMBERS = {
    6586.2, 109.77,            # F-18
    1223.4, 20.39,             # C-11
    122.24, 122.2,             # O-15
    597.9, 9.965,              # N-13
    4062.6, 4057.7, 67.71, 67.629,  # Ga-68
    45720.0, 45721.1,          # Cu-64
    282276.0, 78.41,           # Zr-89
    76.38, 1.273,              # Rb-82
    360806.4,                  # I-124
    14292.0,                   # Sc-44
}
#: The default static window as a pair (min or s).
WINDOW_PAIRS = {(10.0, 30.0), (600.0, 1800.0)}
SEED = "20261126"

HALF_LIFE_HOME = {"radionuclides.py"}
CONFIG_HOME = {"config.py"}


def _number(node: ast.AST) -> float | None:
    """The value of a numeric literal (``-x`` included), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    return None


def half_life_literals(source: str) -> list[tuple[int, float]]:
    """(line, value) of every numeric literal that is a half-life of `HALF_LIFE_NUMBERS`."""
    return [(node.lineno, value) for node in ast.walk(ast.parse(source))
            if (value := _number(node)) is not None and value in HALF_LIFE_NUMBERS]


def window_literals(source: str) -> list[tuple[int, tuple[float, float]]]:
    """(line, pair) of every tuple/list of two numeric literals equal to a default window."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List) and len(node.elts) == 2:
            pair = tuple(_number(e) for e in node.elts)
            if pair in WINDOW_PAIRS:
                found.append((node.lineno, pair))
    return found


def seed_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every line naming the default seed (code, strings or comments)."""
    return [(i, line.strip()) for i, line in enumerate(source.splitlines(), start=1)
            if SEED in line]


def offenders(src: Path = SRC) -> dict[str, list[tuple[str, int, object]]]:
    """Literals outside their home, by kind: ``half-life``, ``window``, ``seed``."""
    found: dict[str, list[tuple[str, int, object]]] = {"half-life": [], "window": [], "seed": []}
    for path in sorted(src.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(src).as_posix()
        checks = {"half-life": (half_life_literals, HALF_LIFE_HOME),
                  "window": (window_literals, CONFIG_HOME), "seed": (seed_literals, CONFIG_HOME)}
        for kind, (check, home) in checks.items():
            if name not in home:
                found[kind].extend((name, line, what) for line, what in check(text))
    return found


def _listing(items: list[tuple[str, int, object]]) -> str:
    return "\n".join(f"    src/gliopet/{name}:{line}: {what}" for name, line, what in items)


def test_half_lives_only_in_radionuclides():
    found = offenders()["half-life"]
    assert not found, ("half-life numbers outside gliopet/radionuclides.py (use "
                       f"gliopet.radionuclides.half_life_s / HALF_LIFE_S):\n{_listing(found)}")


def test_default_window_only_in_the_configuration():
    found = offenders()["window"]
    assert not found, ("the default window 10-30 min written outside the configuration (read "
                       f"config.quant.static_window_min or config.package_defaults()):\n"
                       f"{_listing(found)}")


def test_seed_only_in_the_configuration():
    found = offenders()["seed"]
    assert not found, (f"the seed {SEED} written outside the configuration (take config.seed, "
                       f"or make the parameter required):\n{_listing(found)}")


def test_the_homes_hold_them():
    """The scan finds what it looks for: the homes themselves are full of it."""
    radionuclides = (SRC / "radionuclides.py").read_text()
    assert {v for _, v in half_life_literals(radionuclides)} >= {6586.2, 1223.4, 4062.6}
    config = (SRC / "config.py").read_text()
    assert window_literals(config) and seed_literals(config)
    assert SEED in (SRC / "data" / "config" / "defaults.yaml").read_text()


def test_the_scan_catches_each_kind():
    code = ("T = 6586.2\nLAM = math.log(2) / (109.77 * 60)\nW = (600.0, 1800.0)\n"
            "def f(window=[10, 30], seed=20261126):\n    '''109.77 min, (10, 30) in prose'''\n")
    assert [v for _, v in half_life_literals(code)] == [6586.2, 109.77]
    assert [p for _, p in window_literals(code)] == [(600.0, 1800.0), (10.0, 30.0)]
    assert [line for line, _ in seed_literals(code)] == [4]
