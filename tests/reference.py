"""Independent pure-Python references for the plugin's three methods.

Each is the brief's reference loop, generalised only as far as the API is:
nulls (``None``) are skipped, and the rolling score takes its factors, its
start state and optional keys. They are deliberately plain loops over Python
values, sharing no code with the plugin, so that a test comparing the two
checks the plugin against the specification rather than against itself.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

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
