"""Independent pure-Python references for the plugin's three methods.

Each is the brief's reference loop, generalised only as far as the API is:
nulls (``None``) are skipped, and the rolling score takes its factors, its
start state and optional keys. They are deliberately plain loops over Python
values, sharing no code with the plugin, so that a test comparing the two
checks the plugin against the specification rather than against itself.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Hashable, Mapping, Sequence

Number = int | float


def score_series(
    values: Sequence[Number | None],
    *,
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
) -> list[float | None]:
    """The rolling score of one series: the brief's ``score_series`` loop.

    A null value scores null and leaves the state as it was.
    """
    out: list[float | None] = []
    prev = float(initial)
    for value in values:
        if value is None:
            out.append(None)
            continue
        v = float(value)
        if v > prev:  # noqa: SIM108  (the brief's loop, line for line)
            prev = prev * rise + v
        else:
            prev = prev * fall
        out.append(prev)
    return out


def score_by_key(
    values: Sequence[Number | None],
    keys: Sequence[Hashable],
    *,
    rise: float = 0.9,
    fall: float = 0.5,
    initial: Sequence[Number | None] | float = 0.0,
) -> list[float | None]:
    """The rolling score with one state per key, in row order.

    ``initial`` is a number, or one value per row read at each key's first
    row (``None`` there meaning 0.0).
    """
    states: dict[Hashable, float] = {}
    out: list[float | None] = []
    for row, (value, key) in enumerate(zip(values, keys, strict=True)):
        if key not in states:
            if isinstance(initial, (int, float)):
                start = initial
            else:
                start = initial[row] if initial[row] is not None else 0.0
            states[key] = float(start)
        if value is None:
            out.append(None)
            continue
        v = float(value)
        prev = states[key]
        if v > prev:  # noqa: SIM108  (the brief's loop, line for line)
            prev = prev * rise + v
        else:
            prev = prev * fall
        states[key] = prev
        out.append(prev)
    return out


def power(v: float, exponent: float) -> float:
    """``v ** exponent`` for ``v > 0``, with +inf where Python would raise on overflow."""
    try:
        return v**exponent
    except OverflowError:
        return math.inf


def fsum_of_non_negative(terms: Sequence[float]) -> float:
    """``math.fsum`` of non-negative terms; +inf where their exact sum overflows."""
    try:
        return math.fsum(terms)
    except OverflowError:
        return math.inf


def total(values: Sequence[Number | None], *, exponent: float = 1.5) -> float:
    """The brief's ``score`` loop: the sum of ``v ** exponent`` over non-null ``v > 0``.

    Summed exactly (``math.fsum``), so a test can bound the plugin's rounding.
    """
    terms = []
    for value in values:
        if value is None:
            continue
        v = float(value)
        if v > 0:
            terms.append(power(v, exponent))
    return fsum_of_non_negative(terms)


def dot_terms(a: Sequence[Number | None], b: Sequence[Number | None]) -> list[float]:
    """The products ``a * b`` of the rows where both are non-null."""
    return [
        float(x) * float(y) for x, y in zip(a, b, strict=True) if x is not None and y is not None
    ]


def dot(a: Sequence[Number | None], b: Sequence[Number | None]) -> float:
    """The sum of ``a * b`` over the rows where both are non-null.

    Finite terms are summed exactly (``math.fsum``). Where a term is infinite
    or NaN the finite ones cannot matter, and the IEEE sum of the non-finite
    ones is the answer (``inf + -inf`` is NaN, where ``math.fsum`` raises).
    """
    terms = dot_terms(a, b)
    non_finite = [t for t in terms if not math.isfinite(t)]
    if non_finite:
        return sum(non_finite)
    return math.fsum(terms)


def evaluate_rule(rule: str, names: dict[str, float]) -> float:
    """`rule` evaluated as Python does over floats, walking its syntax tree.

    Literals are floats, ``sqrt``/``exp``/``log``/``floor``/``ceil`` are
    ``math``'s (``floor`` and ``ceil`` converted back to float), ``abs``,
    ``min``, ``max`` the builtins. Where Python raises, the IEEE 754 result
    stands instead (``1/0`` is ``inf``, ``log(0)`` is ``-inf``).
    """
    return float(_evaluate(ast.parse(rule.strip(), mode="eval").body, names))


def _ieee_divide(a: float, b: float) -> float:
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _odd_integer(x: float) -> bool:
    return math.isfinite(x) and x == math.floor(x) and math.fmod(x, 2.0) != 0.0


def _ieee_power(a: float, b: float) -> float:
    if math.isfinite(a) and a < 0.0 and math.isfinite(b) and b != math.floor(b):
        return math.nan  # Python's result is complex (or it raises computing it)
    try:
        result = a**b
    except ZeroDivisionError:  # 0.0 to a negative power
        return math.copysign(math.inf, a) if _odd_integer(b) else math.inf
    except OverflowError:
        return -math.inf if a < 0.0 and _odd_integer(b) else math.inf
    return result


def _ieee_function(name: str, x: float) -> float:
    try:
        if name == "floor":
            return float(math.floor(x))
        if name == "ceil":
            return float(math.ceil(x))
        return float(getattr(math, name)(x))
    except OverflowError:  # exp of a large number; floor or ceil of an infinity
        return x if math.isinf(x) else math.inf
    except ValueError:  # sqrt or log out of domain; floor or ceil of NaN
        return -math.inf if name == "log" and x == 0.0 else math.nan


def _evaluate(node: ast.expr, names: dict[str, float]) -> float | bool:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return {"inf": math.inf, "nan": math.nan}.get(node.id, names.get(node.id, math.nan))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, names)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        a, b = float(_evaluate(node.left, names)), float(_evaluate(node.right, names))
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            return a / b if b != 0.0 else _ieee_divide(a, b)
        return _ieee_power(a, b)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, names)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, names)
            holds = {
                ast.Lt: operator.lt,
                ast.LtE: operator.le,
                ast.Gt: operator.gt,
                ast.GtE: operator.ge,
                ast.Eq: operator.eq,
                ast.NotEq: operator.ne,
            }[type(op)](left, right)
            if not holds:
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(value, names) for value in node.values)
        return any(_evaluate(value, names) for value in node.values)
    if isinstance(node, ast.IfExp):
        if _evaluate(node.test, names):
            return _evaluate(node.body, names)
        return _evaluate(node.orelse, names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [float(_evaluate(arg, names)) for arg in node.args]
        if node.func.id == "abs":
            return abs(args[0])
        if node.func.id == "min":
            return min(args)
        if node.func.id == "max":
            return max(args)
        return _ieee_function(node.func.id, args[0])
    raise ValueError(f"not in the rule grammar: {ast.dump(node)}")


def scan_by_key(
    rule: str,
    values: Sequence[Number | None],
    *,
    inputs: dict[str, Sequence[Number | None]] | None = None,
    keys: Sequence[Hashable] | None = None,
    initial: float = 0.0,
) -> list[float | None]:
    """`rule` run row by row (one state per key when `keys` are given): a row
    whose value or any input is null scores null and leaves the state."""
    inputs = inputs or {}
    tree = ast.parse(rule.strip(), mode="eval").body
    states: dict[Hashable, float] = {}
    out: list[float | None] = []
    for row, value in enumerate(values):
        key = keys[row] if keys is not None else None
        prev = states.setdefault(key, float(initial))
        row_inputs = {name: column[row] for name, column in inputs.items()}
        if value is None or any(x is None for x in row_inputs.values()):
            out.append(None)
            continue
        names = {name: float(x) for name, x in row_inputs.items() if x is not None}
        prev = float(_evaluate(tree, {**names, "prev": prev, "value": float(value)}))
        states[key] = prev
        out.append(prev)
    return out


def scan_states_by_key(
    rule: Mapping[str, str],
    values: Sequence[Number | None],
    *,
    inputs: dict[str, Sequence[Number | None]] | None = None,
    keys: Sequence[Hashable] | None = None,
    initial: Mapping[str, float] | None = None,
) -> dict[str, list[float | None]]:
    """A mapping rule run row by row, by Python's tuple assignment (every
    state's expression reads the states before the row), one set of states
    per key when `keys` are given; each state's column, nulls where a row's
    value or any input is null (the states stay)."""
    inputs = inputs or {}
    trees = {name: ast.parse(text.strip(), mode="eval").body for name, text in rule.items()}
    start = {name: float((initial or {}).get(name, 0.0)) for name in rule}
    states: dict[Hashable, dict[str, float]] = {}
    out: dict[str, list[float | None]] = {name: [] for name in rule}
    for row, value in enumerate(values):
        key = keys[row] if keys is not None else None
        before = states.setdefault(key, dict(start))
        row_inputs = {name: column[row] for name, column in inputs.items()}
        if value is None or any(x is None for x in row_inputs.values()):
            for column in out.values():
                column.append(None)
            continue
        names = {name: float(x) for name, x in row_inputs.items() if x is not None}
        scope = {**names, **before, "value": float(value)}
        after = {name: float(_evaluate(tree, scope)) for name, tree in trees.items()}
        states[key] = after
        for name, column in out.items():
            column.append(after[name])
    return out


def fold_states_by_key(
    rule: Mapping[str, str],
    values: Sequence[Number | None],
    *,
    inputs: dict[str, Sequence[Number | None]] | None = None,
    keys: Sequence[Hashable],
    initial: Mapping[str, float] | None = None,
) -> dict[Hashable, dict[str, float]]:
    """Each key's states after its last row, keys in the order they first
    appear."""
    columns = scan_states_by_key(rule, values, inputs=inputs, keys=keys, initial=initial)
    start = {name: float((initial or {}).get(name, 0.0)) for name in rule}
    last: dict[Hashable, dict[str, float]] = {}
    for row, key in enumerate(keys):
        last.setdefault(key, dict(start))
        if columns[next(iter(rule))][row] is not None:
            last[key] = {name: float(column[row]) for name, column in columns.items()}  # type: ignore[arg-type]
    return last
