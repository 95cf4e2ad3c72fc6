"""The dot product of two columns of a pyarrow Table, brought in without a copy.

``pl.from_arrow`` wraps the Table's buffers (the check below compares their
addresses), and ``scores.dot`` reads the Int64 and Float64 columns each in
its own type, skipping rows where either is null. The result must match
``math.fsum`` of the products to 1e-9.

Run: ``python examples/dot_arrow.py``; exits 1 if a check fails.
"""

from __future__ import annotations

import math
import sys
import time

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

import polars_scores as ps

ROWS = 5_000_000


def orders_table() -> pa.Table:
    """Order lines: a quantity (Int64, 1% unknown) and a unit price (Float64)."""
    quantity = pc.cast(pc.floor(pc.multiply(pc.random(ROWS, initializer=1), 1000)), pa.int64())
    unknown = pc.less(pc.random(ROWS, initializer=2), 0.01)
    quantity = pc.if_else(unknown, pa.scalar(None, pa.int64()), quantity)
    price = pc.multiply(pc.random(ROWS, initializer=3), 100.0)
    return pa.table({"quantity": quantity, "price": price})


def value_buffer_address(array: pa.Array | pa.ChunkedArray) -> int:
    """Where the values of a one-chunk array live in memory."""
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0)
    buffer = array.buffers()[1]
    assert buffer is not None
    return int(buffer.address)


def main() -> int:
    table = orders_table()

    start = time.perf_counter()
    orders = pl.from_arrow(table, rechunk=False)
    assert isinstance(orders, pl.DataFrame)
    revenue = orders.select(ps.col("quantity").scores.dot("price")).item()
    plugin_s = time.perf_counter() - start

    zero_copy = all(
        value_buffer_address(orders[name].to_arrow()) == value_buffer_address(table[name])
        for name in ("quantity", "price")
    )

    quantities, prices = table["quantity"].to_pylist(), table["price"].to_pylist()
    start = time.perf_counter()
    expected = math.fsum(q * p for q, p in zip(quantities, prices, strict=True) if q is not None)
    python_s = time.perf_counter() - start

    print(f"revenue over {ROWS:,} order lines: {revenue:,.2f}")
    print(f"  pl.from_arrow + scores.dot  {plugin_s:7.3f} s")
    print(f"  Python math.fsum            {python_s:7.3f} s  {python_s / plugin_s:.0f}x slower")
    print(f"  pl.from_arrow shares the Table's buffers: {zero_copy}")
    matches = math.isclose(revenue, expected, rel_tol=1e-9)
    print(f"  matches math.fsum ({expected:,.2f}): {matches}")
    return 0 if matches and zero_copy else 1


if __name__ == "__main__":
    sys.exit(main())
