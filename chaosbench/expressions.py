"""The catalog's expression grammar: text is parsed, never evaluated.

An equation is Python-syntax text checked node by node against a whitelist over :mod:`ast`
(numbers, names, arithmetic, a fixed set of functions, comparisons inside ``piecewise``, and the
delayed term ``x(t - tau)``), then translated to sympy. Anything else (attribute access, calls of
unknown names, lambdas, subscripts, strings) is refused with an error naming the system and field.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Callable, Iterable

from .errors import CatalogError

FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min args, max args)
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "asin": (1, 1),
    "acos": (1, 1),
    "atan": (1, 1),
    "atan2": (2, 2),
    "sinh": (1, 1),
    "cosh": (1, 1),
    "tanh": (1, 1),
    "exp": (1, 1),
    "log": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "sign": (1, 1),
    "heaviside": (1, 1),
    "floor": (1, 1),
    "min": (2, 8),
    "max": (2, 8),
    "mod": (2, 2),
    "piecewise": (3, 63),
}
CONSTANTS = {"pi"}
TIME = "t"
RESERVED = set(FUNCTIONS) | CONSTANTS | {TIME}

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_UNARY = (ast.UAdd, ast.USub)
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
MAX_LENGTH = 20_000
#: bounds that keep checking, sympy and the compiler fast and shallow for any accepted expression
#: (the catalog's largest: depth 23, 808 nodes, exponents up to 5; cse of a 2000-node product takes ~15 s)
MAX_DEPTH = 100
MAX_NODES = 2_000
MAX_EXPONENT = 1_000


def _fail(where: str, problem: str) -> CatalogError:
    return CatalogError(f"{where}: {problem}")


class _Checker:
    """Walks an AST, refusing every node outside the grammar."""

    def __init__(self, where: str, names: set[str], variables: set[str], allow_delay: bool):
        self.where, self.names, self.variables, self.allow_delay = where, names, variables, allow_delay

    def expr(self, node: ast.AST, in_condition: bool = False) -> None:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _fail(self.where, f"only numbers are allowed as literals, found {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in self.names and node.id not in CONSTANTS and node.id != TIME:
                raise _fail(self.where, f"unknown name '{node.id}' (declare it as a variable or parameter)")
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BINOPS):
                raise _fail(self.where, f"operator '{type(node.op).__name__}' is not allowed (use + - * / **)")
            self.expr(node.left)
            self.expr(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY):
                raise _fail(self.where, f"unary operator '{type(node.op).__name__}' is not allowed")
            self.expr(node.operand)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif in_condition and isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.ops[0], _COMPARE):
                raise _fail(self.where, "conditions are single comparisons with < <= > >=")
            self.expr(node.left)
            self.expr(node.comparators[0])
        elif in_condition and isinstance(node, ast.BoolOp):
            for value in node.values:
                self.expr(value, in_condition=True)
        else:
            raise _fail(self.where, f"'{type(node).__name__}' is not allowed in an expression")

    def call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            raise _fail(self.where, "only plain function names may be called (no attribute access)")
        if node.keywords:
            raise _fail(self.where, f"keyword arguments are not allowed in '{node.func.id}(...)'")
        name, args = node.func.id, node.args
        if name in self.variables:
            return self.delay(node, name)
        if name not in FUNCTIONS:
            raise _fail(self.where, f"unknown function '{name}' (allowed: {', '.join(sorted(FUNCTIONS))})")
        lo, hi = FUNCTIONS[name]
        if not lo <= len(args) <= hi or (name == "piecewise" and len(args) % 2 == 0):
            raise _fail(
                self.where,
                f"'{name}' takes "
                + (
                    "cond, value pairs and a final otherwise value"
                    if name == "piecewise"
                    else f"{lo}" + (f" to {hi}" if hi != lo else "") + " argument(s)"
                ),
            )
        for i, arg in enumerate(args):
            is_condition = name == "piecewise" and i % 2 == 0 and i < len(args) - 1
            self.expr(arg, in_condition=is_condition)

    def delay(self, node: ast.Call, name: str) -> None:
        if not self.allow_delay:
            raise _fail(self.where, f"delayed term '{name}(...)' needs flags.delay = true")
        arg = node.args[0] if len(node.args) == 1 else None
        if not (
            isinstance(arg, ast.BinOp)
            and isinstance(arg.op, ast.Sub)
            and isinstance(arg.left, ast.Name)
            and arg.left.id == TIME
            and isinstance(arg.right, (ast.Name, ast.Constant))
        ):
            raise _fail(self.where, f"a delayed term is written '{name}(t - tau)' with a parameter or number")
        lag = arg.right
        if isinstance(lag, ast.Name) and (lag.id in self.variables or lag.id not in self.names):
            raise _fail(self.where, f"delay '{lag.id}' must be a parameter")
        if isinstance(lag, ast.Constant):
            self.expr(lag)


def parse(
    text: object, *, where: str, names: Iterable[str], variables: Iterable[str] = (), allow_delay: bool = False
) -> ast.Expression:
    """Check ``text`` against the grammar and return its AST.

    ``where`` names the system and field for error messages; ``names`` are the declared variables
    and parameters. Raises :class:`CatalogError` for anything outside the grammar.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise _fail(where, f"expected an expression string, found {type(text).__name__}")
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise _fail(where, f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _fail(where, f"syntax error in '{_excerpt(text)}': {_first_clause(exc.msg)}") from None
    except (RecursionError, MemoryError, ValueError):  # the parser's own limits (nesting, huge literals)
        raise _fail(where, f"expression too deeply nested or too large to parse: '{_excerpt(text)}'") from None
    _check_size(tree, where)  # first, so that the recursive checks below stay shallow
    _Checker(where, set(names), set(variables), allow_delay).expr(tree.body)
    _check_powers(tree, where)
    return tree


def _first_clause(message: str | None) -> str:
    """Python's own message without its advice to Python programmers (set_int_max_str_digits...)."""
    return message.splitlines()[0].split(";")[0] if message else "invalid syntax"


def _excerpt(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _check_size(tree: ast.Expression, where: str) -> None:
    """Refuse, without recursion, more than MAX_NODES nodes or MAX_DEPTH levels (a sum of n terms is
    n levels deep): checking, translating and compiling then stay fast and within Python's stack."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _fail(where, f"expression has more than {MAX_NODES} parts; split it with parameters")
        if depth > MAX_DEPTH:
            raise _fail(
                where,
                f"expression nested more than {MAX_DEPTH} levels deep (a sum or product of "
                "n terms counts n levels); group long sums or products in parentheses",
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_powers(tree: ast.Expression, where: str) -> None:
    """Refuse powers whose constant exponents multiply past MAX_EXPONENT: sympy computes powers of
    integers exactly, so ``0*9**9**9`` would build the integer 9**387420489 (or ``((2*x)**99)**99``
    the coefficient 2**9801) before anything could simplify it away."""
    # a node and the product of the constant exponents applied to it
    stack: list[tuple[ast.AST, float]] = [(tree.body, 1.0)]
    while stack:
        node, power = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _constant_magnitude(node.right)
            if exponent is not None and not power * max(exponent, 1.0) <= MAX_EXPONENT:
                raise _fail(
                    where,
                    f"constant exponents multiplying past {MAX_EXPONENT} are not allowed "
                    f"(in '{_excerpt(ast.unparse(node))}')",
                )
            stack += [(node.left, power * max(exponent or 1.0, 1.0)), (node.right, 1.0)]
        else:
            stack.extend((child, power) for child in ast.iter_child_nodes(node))


def _constant_magnitude(node: ast.AST) -> float | None:
    """|value| of a small constant subexpression (a number, or arithmetic of numbers), else None."""
    if isinstance(node, ast.UnaryOp):
        return _constant_magnitude(node.operand)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            return abs(float(node.value))
        except OverflowError:
            return math.inf
    arithmetic = (ast.Constant, ast.UnaryOp, ast.BinOp, ast.operator, ast.unaryop)
    if isinstance(node, ast.BinOp) and all(isinstance(n, arithmetic) for n in ast.walk(node)):
        try:
            return abs(float(_evaluate(node)))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return math.inf
    return None


def delay_lag(node: ast.Call) -> str | int | float:
    """``tau`` of a checked delayed term ``x(t - tau)``: the parameter's name, or the number."""
    arg = node.args[0] if node.args else None
    if isinstance(arg, ast.BinOp):
        if isinstance(arg.right, ast.Name):
            return arg.right.id
        if isinstance(arg.right, ast.Constant) and isinstance(arg.right.value, (int, float)):
            return arg.right.value
    raise ValueError(f"'{ast.unparse(node)}' is not a delayed term x(t - tau) (check it with parse first)")


def to_sympy(tree: ast.Expression, symbols: dict[str, object]):
    """Translate a checked AST into a sympy expression.

    ``symbols`` maps names to sympy symbols; delayed terms ``x(t - tau)`` become ``Delayed(x, tau)``.
    """
    import sympy as sp

    funcs = {
        "sin": sp.sin,
        "cos": sp.cos,
        "tan": sp.tan,
        "asin": sp.asin,
        "acos": sp.acos,
        "atan": sp.atan,
        "atan2": sp.atan2,
        "sinh": sp.sinh,
        "cosh": sp.cosh,
        "tanh": sp.tanh,
        "exp": sp.exp,
        "log": sp.log,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "sign": sp.sign,
        "floor": sp.floor,
        "heaviside": lambda x: sp.Heaviside(x, sp.Rational(1, 2)),
        "min": sp.Min,
        "max": sp.Max,
        "mod": sp.Mod,
    }

    def conv(node: ast.AST):
        if isinstance(node, ast.Constant):
            value = node.value
            return sp.Integer(value) if isinstance(value, int) else sp.Float(repr(value), 17)
        if isinstance(node, ast.Name):
            return sp.pi if node.id == "pi" else symbols[node.id]
        if isinstance(node, ast.BinOp):
            a, b = conv(node.left), conv(node.right)
            op = type(node.op)
            return {
                ast.Add: lambda: a + b,
                ast.Sub: lambda: a - b,
                ast.Mult: lambda: a * b,
                ast.Div: lambda: a / b,
                ast.Pow: lambda: a**b,
            }[op]()
        if isinstance(node, ast.UnaryOp):
            v = conv(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Compare):
            a, b = conv(node.left), conv(node.comparators[0])
            return {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}[type(node.ops[0])](a, b)
        if isinstance(node, ast.BoolOp):
            parts = [conv(v) for v in node.values]
            return sp.And(*parts) if isinstance(node.op, ast.And) else sp.Or(*parts)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise ValueError(f"'{type(node).__name__}' is outside the grammar (check the text with parse first)")
        name, args = node.func.id, node.args
        if name == "piecewise":
            pieces = [(conv(args[i + 1]), conv(args[i])) for i in range(0, len(args) - 1, 2)]
            return sp.Piecewise(*pieces, (conv(args[-1]), True))
        if name in funcs:
            return funcs[name](*[conv(a) for a in args])
        lag = delay_lag(node)
        return Delayed(symbols[name], symbols[lag] if isinstance(lag, str) else conv(ast.Constant(lag)))

    return conv(tree.body)


def _delayed_class():
    import sympy as sp

    class Delayed(sp.Function):
        """``Delayed(x, tau)`` stands for x(t - tau); the compiler turns it into a history lookup."""

        nargs = 2

    return Delayed


class _LazyDelayed:
    _cls = None

    def __call__(self, *args):
        if _LazyDelayed._cls is None:
            _LazyDelayed._cls = _delayed_class()
        return _LazyDelayed._cls(*args)

    @property
    def cls(self):
        if _LazyDelayed._cls is None:
            _LazyDelayed._cls = _delayed_class()
        return _LazyDelayed._cls


Delayed = _LazyDelayed()


def constant_value(text: object, *, where: str) -> float:
    """Evaluate a parameter value: a number, or a constant expression such as ``"8/3"``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    tree = parse(text, where=where, names=())
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    if any(isinstance(n, ast.Name) and n.id != "pi" and id(n) not in called for n in ast.walk(tree)):
        raise _fail(where, f"'{text}' is not a constant (only numbers, pi and functions of them)")
    try:
        value = float(_evaluate(tree.body))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        raise _fail(where, f"'{text}' is not a finite real constant") from None
    if not math.isfinite(value):
        raise _fail(where, f"'{text}' is not a finite constant")
    return value


_MATH: dict[str, Callable[..., float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
    "floor": math.floor,
    "min": min,
    "max": max,
    "mod": lambda a, b: a % b,
    "sign": lambda a: (a > 0) - (a < 0),
    "heaviside": lambda a: 1.0 if a > 0 else (0.0 if a < 0 else 0.5),
}


def _evaluate(node: ast.AST) -> float:
    """Value of a checked constant expression (numbers, pi, arithmetic, functions); no sympy needed."""
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)):  # parse() admits numbers only
            raise TypeError(f"not a number: {node.value!r}")
        return float(node.value)
    if isinstance(node, ast.Name):
        return math.pi
    if isinstance(node, ast.UnaryOp):
        v = _evaluate(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _evaluate(node.left), _evaluate(node.right)
        op = type(node.op)
        methods: dict[type[ast.operator], Callable[[float], Any]] = {
            ast.Add: a.__add__,
            ast.Sub: a.__sub__,
            ast.Mult: a.__mul__,
            ast.Div: a.__truediv__,
            ast.Pow: a.__pow__,
        }
        value = methods[op](b)
        # a negative base to a fractional power is complex (or NotImplemented): not a real constant
        if not isinstance(value, (int, float)):
            raise ValueError("not a real number")
        return value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MATH:
        return float(_MATH[node.func.id](*[_evaluate(a) for a in node.args]))
    raise ValueError("not a constant")


def evaluate_numpy(tree: ast.Expression, env: dict):
    """Evaluate a checked expression on numpy arrays (``env`` maps names to arrays or numbers).

    Used for observables, where compiling is not worth it; delayed terms are not allowed here.
    """
    import numpy as np

    ufuncs = {
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "asin": np.arcsin,
        "acos": np.arccos,
        "atan": np.arctan,
        "atan2": np.arctan2,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "tanh": np.tanh,
        "exp": np.exp,
        "log": np.log,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "sign": np.sign,
        "floor": np.floor,
        "mod": np.mod,
        "heaviside": lambda x: np.heaviside(x, 0.5),
    }

    def ev(node):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return math.pi if node.id == "pi" else env[node.id]
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            return {
                ast.Add: np.add,
                ast.Sub: np.subtract,
                ast.Mult: np.multiply,
                ast.Div: np.divide,
                ast.Pow: np.power,
            }[type(node.op)](a, b)
        if isinstance(node, ast.Compare):
            a, b = ev(node.left), ev(node.comparators[0])
            return {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal}[
                type(node.ops[0])
            ](a, b)
        if isinstance(node, ast.BoolOp):
            parts = [ev(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for p in parts[1:]:
                out = combine(out, p)
            return out
        name, args = node.func.id, [ev(a) for a in node.args]
        if name == "piecewise":
            return np.select(args[0:-1:2], args[1::2], default=args[-1])
        if name in ("min", "max"):
            fn = np.minimum if name == "min" else np.maximum
            out = args[0]
            for a in args[1:]:
                out = fn(out, a)
            return out
        return ufuncs[name](*args)

    return ev(tree.body)
