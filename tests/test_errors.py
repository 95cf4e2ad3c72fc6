"""Wrong inputs give clear errors: never a panic, never a wrong result."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from helpers import (
    NUMERIC_DTYPES,
    assert_bit_identical,
    assert_close,
    chunked,
    column_values,
    cuts,
    raised,
)
from hypothesis import given
from hypothesis import strategies as st
from reference import dot, dot_terms, score_by_key, score_series, total

NAME = "col_zq"
"""The column under test: a name that appears nowhere else in a message."""

# Each non-numeric dtype, a strategy for one of its values, and the words that
# may name the dtype in a message (Rust's display, e.g. `str`, or Python's).
NON_NUMERIC: dict[str, tuple[pl.DataType, st.SearchStrategy[Any], tuple[str, ...]]] = {
    "String": (pl.String(), st.text(max_size=3), ("str",)),
    "Boolean": (pl.Boolean(), st.booleans(), ("bool",)),
    "List": (pl.List(pl.Int64), st.lists(st.integers(-5, 5), max_size=3), ("list",)),
    "Array": (
        pl.Array(pl.Int64, 2),
        st.lists(st.integers(-5, 5), min_size=2, max_size=2),
        ("array",),
    ),
    "Struct": (
        pl.Struct({"f": pl.Int64}),
        st.fixed_dictionaries({"f": st.integers(-5, 5)}),
        ("struct",),
    ),
    "Date": (pl.Date(), st.dates(), ("date",)),
    "Datetime": (pl.Datetime("us"), st.datetimes(), ("datetime",)),
    "Duration": (
        pl.Duration("us"),
        st.timedeltas(dt.timedelta(days=-9), dt.timedelta(days=9)),
        ("duration",),
    ),
    "Time": (pl.Time(), st.times(), ("time",)),
    "Categorical": (pl.Categorical(), st.sampled_from("abc"), ("cat",)),
    "Decimal": (
        pl.Decimal(10, 2),
        st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False),
        ("decimal",),
    ),
    "Binary": (pl.Binary(), st.binary(max_size=3), ("binary",)),
}

SAMPLES: dict[str, list[Any]] = {
    "String": ["a", None],
    "Boolean": [True, None],
    "List": [[1, 2], None],
    "Array": [[1, 2], None],
    "Struct": [{"f": 1}, None],
    "Date": [dt.date(2024, 1, 2), None],
    "Datetime": [dt.datetime(2024, 1, 2, 3, 4), None],
    "Duration": [dt.timedelta(hours=5), None],
    "Time": [dt.time(1, 2), None],
    "Categorical": ["a", None],
    "Decimal": [Decimal("1.25"), None],
    "Binary": [b"x", None],
}


def sample(kind: str, name: str = NAME) -> pl.Series:
    return pl.Series(name, SAMPLES[kind], dtype=NON_NUMERIC[kind][0])


def assert_clear_error(
    error: BaseException, method: str, column: str, dtype_words: tuple[str, ...]
) -> None:
    """A Polars error whose message names the method, the column and its dtype."""
    assert isinstance(error, pl.exceptions.PolarsError), repr(error)
    message = str(error)
    assert "panicked" not in message, message
    assert method in message, message
    assert f"'{column}'" in message, message
    assert any(word in message.lower() for word in dtype_words), message


# Each way a method meets the non-numeric column, as (method, call on a frame
# holding the column `NAME` and a Float64 column `ok`).
FRAME_CALLS: list[tuple[str, Callable[[pl.DataFrame], object]]] = [
    ("scores.rolling", lambda df: df.select(pl.col(NAME).scores.rolling())),
    ("scores.rolling", lambda df: df.select(pl.col(NAME).scores.rolling(by="ok"))),
    ("scores.rolling", lambda df: df.select(pl.col("ok").scores.rolling(initial=NAME))),
    ("scores.rolling", lambda df: df.select(pl.col("ok").scores.rolling(initial=NAME, by="ok"))),
    ("scores.rolling", lambda df: df[NAME].scores.rolling()),
    ("scores.total", lambda df: df.select(pl.col(NAME).scores.total())),
    ("scores.total", lambda df: df.group_by("ok").agg(pl.col(NAME).scores.total())),
    ("scores.total", lambda df: df[NAME].scores.total()),
    ("scores.dot", lambda df: df.select(pl.col(NAME).scores.dot("ok"))),
    ("scores.dot", lambda df: df.select(pl.col("ok").scores.dot(NAME))),
    ("scores.dot", lambda df: df.select(pl.col("ok").scores.dot(pl.col(NAME).first()))),
    ("scores.dot", lambda df: df[NAME].scores.dot(df["ok"])),
    ("scores.dot", lambda df: df["ok"].scores.dot(df[NAME])),
]


@pytest.mark.parametrize("kind", list(NON_NUMERIC))
@pytest.mark.parametrize(
    ("method", "call"),
    FRAME_CALLS,
    ids=[f"{i}-{method}" for i, (method, _) in enumerate(FRAME_CALLS)],
)
def test_non_numeric_column(kind: str, method: str, call: Callable[[pl.DataFrame], object]) -> None:
    df = pl.DataFrame([sample(kind), pl.Series("ok", [1.0, 2.0])])
    assert_clear_error(raised(lambda: call(df)), method, NAME, NON_NUMERIC[kind][2])


@pytest.mark.parametrize("kind", list(NON_NUMERIC))
@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_non_numeric_column_lazily(kind: str, engine: str) -> None:
    lazy = pl.LazyFrame([sample(kind)])
    for method, expr in [
        ("scores.rolling", pl.col(NAME).scores.rolling()),
        ("scores.total", pl.col(NAME).scores.total()),
        ("scores.dot", pl.col(NAME).scores.dot(1.0)),
    ]:
        error = raised(lambda expr=expr: lazy.select(expr).collect(engine=engine))
        assert_clear_error(error, method, NAME, NON_NUMERIC[kind][2])


BAD_NUMBERS: list[tuple[object, type[Exception]]] = [
    (True, TypeError),
    (False, TypeError),
    ("0.9", TypeError),
    (None, TypeError),
    ([0.9], TypeError),
    (1j, TypeError),
    (Decimal("0.5"), TypeError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (-math.inf, ValueError),
]


@pytest.mark.parametrize(("value", "error"), BAD_NUMBERS, ids=repr)
def test_number_parameters(value: object, error: type[Exception]) -> None:
    s = pl.Series("x", [1.0])
    calls: list[tuple[str, str, Callable[[], object]]] = [
        ("scores.rolling", "rise", lambda: pl.col("x").scores.rolling(rise=value)),  # type: ignore[arg-type]
        ("scores.rolling", "fall", lambda: pl.col("x").scores.rolling(fall=value)),  # type: ignore[arg-type]
        ("scores.total", "exponent", lambda: pl.col("x").scores.total(exponent=value)),  # type: ignore[arg-type]
        ("scores.rolling", "rise", lambda: s.scores.rolling(rise=value)),  # type: ignore[arg-type]
        ("scores.total", "exponent", lambda: s.scores.total(exponent=value)),  # type: ignore[arg-type]
    ]
    # A string `initial` is a column name, and a start may be NaN or infinite
    # (tests/test_rule_inputs.py), so only the others are wrong there.
    if not isinstance(value, (str, float)):
        calls.append(
            ("scores.rolling", "initial", lambda: pl.col("x").scores.rolling(initial=value))  # type: ignore[arg-type]
        )
        calls.append(("scores.rolling", "initial", lambda: s.scores.rolling(initial=value)))  # type: ignore[arg-type]
    for method, parameter, call in calls:
        with pytest.raises(error) as caught:
            call()
        assert parameter in str(caught.value)
        assert method in str(caught.value)


@pytest.mark.parametrize("by", [5, 2.5, True, [1], ["k", 3], {"k"}, b"k"], ids=repr)
def test_by_of_a_wrong_type(by: object) -> None:
    with pytest.raises(TypeError, match="by"):
        pl.col("x").scores.rolling(by=by)  # type: ignore[arg-type]


@pytest.mark.parametrize("by", [5, "k", [pl.col("k")]], ids=["int", "str", "expr-list"])
def test_series_by_of_a_wrong_type(by: object) -> None:
    """The Series method takes Series keys; anything else must not be read as a literal key."""
    series = pl.Series("x", [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="by"):
        series.scores.rolling(by=by)  # type: ignore[arg-type]


@pytest.mark.parametrize("other", [True, None, [1.0], b"x"], ids=repr)
def test_dot_other_of_a_wrong_type(other: object) -> None:
    with pytest.raises(TypeError, match="other"):
        pl.col("x").scores.dot(other)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="other"):
        pl.Series("x", [1.0]).scores.dot(other)  # type: ignore[arg-type]


# ---- One property over everything a caller can pass ------------------------

# Float16 is numeric but not in the documented set: either a correct result or
# a clear error is fine there.
MAYBE_NUMERIC = [pl.Float16] if hasattr(pl, "Float16") else []

good_numbers = st.one_of(st.floats(-3.0, 3.0), st.integers(-3, 3))
bad_numbers = st.sampled_from([value for value, _ in BAD_NUMBERS])


@st.composite
def column(draw: st.DrawFn, name: str, length: int | None = None) -> tuple[str, pl.Series]:
    """(kind, series): a column of any dtype, nulls and chunks included.

    kind is "numeric", "maybe" or "other".
    """
    size = {"max_size": 20} if length is None else {"min_size": length, "max_size": length}
    choice = draw(st.sampled_from([*NUMERIC_DTYPES, *MAYBE_NUMERIC, pl.Null, *NON_NUMERIC]))
    if choice == pl.Null:
        n = draw(st.integers(0, 20)) if length is None else length
        kind, series = "numeric", pl.Series(name, [None] * n)
    elif isinstance(choice, str):
        dtype, element, _ = NON_NUMERIC[choice]
        raw = draw(st.lists(st.one_of(st.none(), element), **size))
        kind, series = "other", pl.Series(name, raw, dtype=dtype)
    elif choice in MAYBE_NUMERIC:
        raw = draw(st.lists(st.one_of(st.none(), st.floats(width=16)), **size))
        kind, series = "maybe", pl.Series(name, raw, dtype=choice)
    else:
        raw = draw(column_values(choice, max_magnitude=1e100, **size))
        kind, series = "numeric", pl.Series(name, raw, dtype=choice)
    return kind, chunked(series, draw(cuts(len(series))))


def dtype_words(series: pl.Series) -> tuple[str, ...]:
    """The words that may name `series`' dtype in a message."""
    for dtype, _, words in NON_NUMERIC.values():
        if series.dtype.base_type() == dtype.base_type():
            return words
    return ("f16", "float16")  # the only other dtype that may be refused


@given(data=st.data())
def test_any_input_gives_a_right_answer_or_a_clear_error(data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(["scores.rolling", "scores.total", "scores.dot"]))
    kind, x = data.draw(column(NAME))
    n = len(x)
    api = data.draw(st.sampled_from(["eager", "in-memory", "streaming", "series"]))
    bad_parameters: list[str] = []
    kwargs: dict[str, Any] = {}
    others: list[tuple[str, pl.Series]] = []

    if method == "scores.rolling":
        for parameter in ("rise", "fall", "initial"):
            if data.draw(st.booleans()):
                if data.draw(st.integers(0, 9)) == 0:
                    # A start may be NaN or infinite; a string is a column's name.
                    kwargs[parameter] = data.draw(
                        bad_numbers.filter(
                            lambda v, start=parameter == "initial": (
                                not isinstance(v, str) and not (start and isinstance(v, float))
                            )
                        )
                    )
                    bad_parameters.append(parameter)
                else:
                    kwargs[parameter] = data.draw(good_numbers)
        keyed = data.draw(st.booleans())
        if keyed:
            keys = data.draw(
                st.lists(st.one_of(st.none(), st.integers(-2, 2)), min_size=n, max_size=n)
            )
            others.append(
                ("numeric", chunked(pl.Series("k", keys, dtype=pl.Int64), data.draw(cuts(n))))
            )
    elif method == "scores.total":
        if data.draw(st.booleans()):
            if data.draw(st.integers(0, 9)) == 0:
                kwargs["exponent"] = data.draw(bad_numbers)
                bad_parameters.append("exponent")
            else:
                kwargs["exponent"] = data.draw(st.floats(-2.0, 3.0))
    else:
        others.append(data.draw(column("other", n)))

    def run() -> list[Any]:
        """The method's result as a list (one item for the aggregations)."""
        if api == "series":
            if method == "scores.rolling":
                by = others[0][1] if others else None
                return x.scores.rolling(by=by, **kwargs).to_list()
            if method == "scores.total":
                return [x.scores.total(**kwargs)]
            return [x.scores.dot(others[0][1])]
        if method == "scores.rolling":
            expr = pl.col(NAME).scores.rolling(by="k" if others else None, **kwargs)
        elif method == "scores.total":
            expr = pl.col(NAME).scores.total(**kwargs)
        else:
            expr = pl.col(NAME).scores.dot("other")
        df = pl.DataFrame([x, *(series for _, series in others)])
        lazy = df.lazy().select(expr)
        result = df.select(expr) if api == "eager" else lazy.collect(engine=api)
        assert result.columns == [NAME]
        assert result.schema[NAME] == pl.Float64
        return result[NAME].to_list()

    try:
        got = run()
    except (TypeError, ValueError) as error:
        # With several wrong parameters, naming any one of them is clear.
        assert any(p in str(error) for p in bad_parameters), repr(error)
        assert method in str(error), repr(error)
        return
    except pl.exceptions.PolarsError as error:
        culprits = [(NAME, x, kind)] + [("other", s, k) for k, s in others if k != "numeric"]
        wrong = [(name, s) for name, s, k in culprits if k != "numeric"]
        assert not bad_parameters, repr(error)
        assert wrong, f"unexpected error on numeric input: {error!r}"
        assert any(
            f"'{name}'" in str(error) and any(w in str(error).lower() for w in dtype_words(s))
            for name, s in wrong
        ), str(error)
        assert method in str(error) and "panicked" not in str(error), str(error)
        return
    # Any other exception fails the test as it propagates.

    assert not bad_parameters, f"wrong {bad_parameters} accepted: {kwargs}"
    assert kind != "other" and all(k != "other" for k, _ in others), "non-numeric input accepted"
    values = x.to_list()
    if method == "scores.rolling":
        reference_kwargs = {"rise": 0.9, "fall": 0.5, "initial": 0.0} | kwargs
        if others:
            want = score_by_key(values, others[0][1].to_list(), **reference_kwargs)
        else:
            want = score_series(values, **reference_kwargs)
        assert_bit_identical(got, want)
    elif method == "scores.total":
        want_total = total(values, exponent=kwargs.get("exponent", 1.5))
        assert_close(got[0], want_total, scale=want_total + 1e-290)
    else:
        b = others[0][1].to_list()
        scale = math.fsum(abs(t) for t in dot_terms(values, b) if math.isfinite(t))
        assert_close(got[0], dot(values, b), scale=scale)
