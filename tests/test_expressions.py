"""The expression grammar: hostile text is refused, valid text means what it says."""

import math

import pytest
import sympy as sp

from chaosbench.catalog import load_catalog
from chaosbench.errors import CatalogError
from chaosbench.expressions import constant_value, parse, to_sympy

from .conftest import entry

HOSTILE = [
    '__import__("os").system("echo pwned")',
    "x.__class__",
    "(lambda: 1)()",
    "y[0]",
    "open('/etc/passwd')",
    "eval('1')",
    "x if x > 0 else v",
    "'text'",
    "unknown_name + x",
    "[x, v]",
    "x @ v",
    "x < v",
    "sin(x, v)",
    "sin(x=1)",
    "True",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expression_is_refused(text):
    with pytest.raises(CatalogError, match="system 'Evil', field 'equations.x'"):
        parse(text, where="system 'Evil', field 'equations.x'", names=["x", "v", "w"], variables=["x", "v"])


@pytest.mark.parametrize("text", HOSTILE[:6])
def test_hostile_user_catalog_is_refused_naming_system_and_field(text, user_catalog):
    path = user_catalog(Evil=entry(equations={"x": text, "v": "-x"}))
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert "system 'Evil'" in str(err.value) and "equations.x" in str(err.value)


def test_delay_terms_need_the_delay_flag():
    with pytest.raises(CatalogError, match="flags.delay"):
        parse("x(t - tau)", where="w", names=["x", "tau"], variables=["x"])
    parse("x(t - tau)", where="w", names=["x", "tau"], variables=["x"], allow_delay=True)
    with pytest.raises(CatalogError, match="delayed term"):
        parse("x(t + tau)", where="w", names=["x", "tau"], variables=["x"], allow_delay=True)


def test_translation_evaluates_like_the_formula():
    x, v, a = sp.symbols("x v a")
    text = "a*sin(x)**2 + piecewise(x < 0 and v > 1, -1, v <= 0.5, 2*v, 3) + mod(x, 2) + heaviside(v) + max(x, v, 0.5)"
    expr = to_sympy(parse(text, where="w", names=["x", "v", "a"]), {"x": x, "v": v, "a": a})
    for xv, vv in [(-0.3, 1.5), (0.7, 0.2), (-2.5, -1.0)]:
        pw = -1.0 if (xv < 0 and vv > 1) else (2.0 * vv if vv <= 0.5 else 3.0)
        want = 2.0 * math.sin(xv) ** 2 + pw + (xv % 2) + (1.0 if vv > 0 else 0.0) + max(xv, vv, 0.5)
        got = float(expr.subs({x: xv, v: vv, a: 2.0}))
        assert got == pytest.approx(want, rel=1e-12)


def test_parameter_constants():
    assert constant_value("8/3", where="w") == pytest.approx(8 / 3, rel=1e-15)
    assert constant_value("2*pi/3", where="w") == pytest.approx(2 * math.pi / 3, rel=1e-15)
    assert constant_value("sqrt(3)", where="w") == pytest.approx(math.sqrt(3), rel=1e-15)
    # a negative base to a fractional power is complex: refused with the system and field, not a traceback
    for bad in ["x + 1", "1/0", "__import__('os')", "1e999", "(1 + (-8)**0.5) * 2", "abs((-8)**0.5)"]:
        with pytest.raises(CatalogError):
            constant_value(bad, where="w")


LARGE = {
    "3000-term sum": "+".join(["x"] * 3000),
    "deep parentheses": "(" * 500 + "x" + ")" * 500,
    "deep unary minus": "-" * 5000 + "x",
    "deep calls": "sin(" * 150 + "x" + ")" * 150,
    "integer tower": "0*9**9**9",
    "tower on a variable": "x**9**9",
    "nested powers": "((2*x)**100)**100",
    "huge literal": "1" * 5000,
    "too many parts": "+".join(["(" + "+".join(["x"] * 40) + ")"] * 100),
}


@pytest.mark.parametrize("text", LARGE.values(), ids=LARGE.keys())
def test_row8_hostile_large_expressions_are_refused_in_bounded_time(text, user_catalog):
    import time

    assert len(text) <= 20_000
    path = user_catalog(Evil=entry(equations={"x": text, "v": "-x"}))
    start = time.perf_counter()
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "system 'Evil', field 'equations.x'" in message and "\n" not in message and len(message) < 300


def test_row8_hostile_parameter_constants_are_refused_in_bounded_time():
    import time

    start = time.perf_counter()
    for text in ("9**9**9**9", "-" * 5000 + "1", "+".join(["1"] * 3000)):
        with pytest.raises(CatalogError, match="parameters.a"):
            constant_value(text, where="system 'Evil', field 'parameters.a'")
    assert time.perf_counter() - start < 5


def test_row8_the_largest_accepted_expressions_translate_quickly():
    """A guard against a blow-up (exponential work), not a speed goal: CPU time, so a busy machine's waiting
    does not count, with room for a slow one."""
    import time

    x = sp.Symbol("x")
    start = time.process_time()
    grouped = "+".join("(" + "+".join(f"sin({10 * j + i}*x)" for i in range(10)) + ")" for j in range(20))
    for text in ["+".join(["x"] * 90), "x**1000 + (x**2)**3", grouped]:
        sp.diff(to_sympy(parse(text, where="w", names=["x"]), {"x": x}), x)
    assert time.process_time() - start < 10


def test_row8_a_hostile_catalog_is_one_line_from_the_cli(user_catalog):
    import subprocess
    import sys
    from pathlib import Path

    path = user_catalog(Evil=entry(equations={"x": "0*9**9**9", "v": "-x"}))
    r = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent.parent / "cli.py"), "--catalog", path, "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "system 'Evil', field 'equations.x'" in r.stderr
