"""The Python reference loops that the kernels match, as the seed article
wrote them: the demo, the examples and the benchmarks time the plugin against
them. (The tests keep their own, more general references.)"""

from __future__ import annotations

from collections.abc import Iterable


def rolling(values: Iterable[float]) -> list[float]:
    """The rolling score with rise 0.9, fall 0.5 and initial 0.0.

    Examples
    --------
    >>> rolling([1.0, 0.5, 3.0])
    [1.0, 0.5, 3.45]
    """
    out, prev = [], 0.0
    for v in values:
        if v > prev:  # noqa: SIM108  (the article's loop, statement for statement)
            prev = prev * 0.9 + v
        else:
            prev = prev * 0.5
        out.append(prev)
    return out


def total(values: Iterable[float]) -> float:
    """The sum of ``v ** 1.5`` over the positive values.

    Examples
    --------
    >>> total([4.0, -1.0, 9.0])
    35.0
    """
    summed = 0.0
    for v in values:
        if v > 0:
            summed += v**1.5
    return summed
