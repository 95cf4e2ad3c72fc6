"""Types of the compiled extension (src/lib.rs, src/states/); the plugin
functions are called through Polars, not from Python."""

from collections.abc import Sequence
from typing import Literal

import polars as pl

__version__: str

def avx2_enabled() -> bool: ...
def accepted_dtype_names(rule_input: bool = False) -> list[str]: ...

class KeyStates:
    def __init__(
        self,
        rise: float,
        fall: float,
        initial: float | Sequence[float],
        key_sorted: bool,
        ops: Sequence[str] | None = None,
        operands: Sequence[float] | None = None,
        inputs: int = 0,
        *,
        states: Sequence[str] | None = None,
        method: str = "KeyStates.score",
        keep_keys: bool = True,
    ) -> None: ...
    def score(
        self,
        keys: Sequence[pl.Series],
        values: pl.Series,
        name: str,
        inputs: Sequence[pl.Series] = (),
    ) -> pl.Series: ...
    def load(self, keys: Sequence[pl.Series], states: Sequence[pl.Series]) -> None: ...
    def export(self, names: Sequence[str]) -> list[pl.Series] | None: ...
    def __len__(self) -> int: ...
    @property
    def layout(self) -> Literal["empty", "dense", "hashed", "sorted"]: ...
    def heap_bytes(self) -> int: ...

class KeyTotals:
    def __init__(
        self,
        exponent: float,
        keys: int,
        values: int,
        *,
        ops: Sequence[str] | None = None,
        operands: Sequence[float] | None = None,
        inputs: int = 0,
        initial: Sequence[float] = (0.0,),
        method: str = "KeyTotals.add",
    ) -> None: ...
    def add(
        self,
        keys: Sequence[pl.Series],
        values: Sequence[pl.Series],
        inputs: Sequence[pl.Series] = (),
    ) -> None: ...
    def export(self, names: Sequence[str]) -> list[pl.Series]: ...
    def finish(self, names: Sequence[str]) -> list[pl.Series]: ...
    def __len__(self) -> int: ...
    def heap_bytes(self) -> int: ...
