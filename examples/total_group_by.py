"""A custom aggregation in a group_by: the total score of each store.

The total of a store is the sum of ``amount ** 1.5`` over its positive
amounts. The plugin computes it inside Polars' group_by; the Python
reference groups the rows with a dict and loops over each store's amounts.
Every store's total must match to 1e-9 (the sums add in different orders).

Run: ``python examples/total_group_by.py``; exits 1 if the check fails.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict

import polars as pl

import polars_scores as ps
from polars_scores import reference

ROWS = 3_000_000
STORES = 10_000


def main() -> int:
    # Amounts from -50.00 (refunds) to 200.00, at random stores.
    stores = pl.int_range(0, STORES, eager=True)
    cents = pl.int_range(-5_000, 20_001, eager=True)
    sales = pl.DataFrame(
        {
            "store": stores.sample(ROWS, with_replacement=True, seed=1),
            "amount": cents.sample(ROWS, with_replacement=True, seed=2) / 100,
        }
    )

    start = time.perf_counter()
    totals = sales.group_by("store").agg(total=ps.col("amount").scores.total())
    plugin_s = time.perf_counter() - start

    store_of_row, amounts = sales["store"].to_list(), sales["amount"].to_list()
    start = time.perf_counter()
    by_store: defaultdict[int, list[float]] = defaultdict(list)
    for store, amount in zip(store_of_row, amounts, strict=True):
        by_store[store].append(amount)
    expected = {store: reference.total(values) for store, values in by_store.items()}
    python_s = time.perf_counter() - start

    print(totals.sort("total", descending=True).head(5))
    print(f"total score of {ROWS:,} sales in {len(expected):,} stores")
    print(f"  polars-scores group_by  {plugin_s:7.3f} s")
    print(f"  Python dict + loop      {python_s:7.3f} s  {python_s / plugin_s:.0f}x slower")

    got = dict(zip(totals["store"].to_list(), totals["total"].to_list(), strict=True))
    wrong = [
        store
        for store, want in expected.items()
        if not math.isclose(got.get(store, math.nan), want, rel_tol=1e-9)
    ]
    matches = not wrong and len(got) == len(expected)
    print(f"  every store's total matches the Python reference: {matches}")
    for store in wrong[:5]:
        print(f"    store {store}: {got.get(store)!r}, Python gives {expected[store]!r}")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
