"""File formats by extension, their scans, sinks and codecs: Polars' own."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import polars as pl

from polars_scores._checks import ParameterError, refuse
from polars_scores.spec import Spelling, spelled

Format = Literal["parquet", "csv", "ipc", "ndjson"]
"""The file formats read and written: Polars' own scans and sinks."""

EXTENSIONS: dict[str, Format] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".ipc": "ipc",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
"""A file's format by its extension (in any case)."""

Compression = Literal["zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed"]
"""The parquet codecs the writers offer (Polars' own; zstd is its default)."""
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)
FORMAT_COMPRESSIONS: dict[Format, tuple[Compression, ...]] = {
    "parquet": COMPRESSIONS,
    "ipc": ("uncompressed", "lz4", "zstd"),
    "csv": ("uncompressed",),
    "ndjson": ("uncompressed",),
}
"""The codecs of each format, its default first (zstd for parquet, as Polars' default)."""
ZSTD_LEVEL = 1
"""The zstd level of parquet outputs. Polars' default (3) spends its extra
effort on scores, random doubles that no level compresses: a scored file of
10M rows (string keys, values, scores) wrote in 0.70 s at level 1 against
0.82 s at level 3, and came out smaller, 187 MB against 190."""


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format `path`'s extension names, if any."""
    return EXTENSIONS.get(Path(path).suffix.lower())


CSV_DTYPES: dict[str, pl.DataType] = {
    name.lower(): getattr(pl, name)()
    for name in (
        "Boolean", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
        "Float32", "Float64", "String", "Date",
    )
}  # fmt: skip
"""The dtypes a CSV column can be given by name (in any case)."""


@dataclass(frozen=True)
class CsvOptions:
    """How CSV inputs are read, where Polars' defaults do not fit the file."""

    null_values: tuple[str, ...] = ()
    """Texts read as null (an empty field is null already)."""
    infer_rows: int | None = None
    """The rows each column's dtype is inferred from (Polars' default: 100)."""
    dtypes: tuple[tuple[str, pl.DataType], ...] = ()
    """Columns read as the dtype given, not an inferred one."""

    def scan(self, paths: str | list[str]) -> pl.LazyFrame:
        """Polars' scan of the CSV files `paths` with these options."""
        return pl.scan_csv(
            paths,
            null_values=list(self.null_values) or None,
            infer_schema_length=self.infer_rows or 100,
            schema_overrides=dict(self.dtypes) or None,
        )


def scan_file(
    format: Format, paths: str | Sequence[str], csv: CsvOptions | None = None
) -> pl.LazyFrame:
    """Polars' scan of the files `paths` in `format` (CSV read as `csv` says)."""
    scans: dict[Format, Callable[[Any], pl.LazyFrame]] = {
        "parquet": pl.scan_parquet,
        "csv": (csv or CsvOptions()).scan,
        "ipc": pl.scan_ipc,
        "ndjson": pl.scan_ndjson,
    }
    return scans[format](paths if isinstance(paths, str) else list(paths))


def output_format(
    method: str,
    output: str | os.PathLike[str],
    format: Format | None,
    spelling: Spelling = "keyword",
) -> Format:
    """The format to write `output` in: `format`, or else the one its extension names."""
    if format is not None:
        if format not in FORMAT_COMPRESSIONS:
            problem = f"format must be one of {', '.join(FORMAT_COMPRESSIONS)}, got {format!r}"
            raise refuse(ParameterError, method, problem)
        return format
    told = format_of(output)
    if told is None:
        problem = (
            f"cannot tell the format of the output {str(output)!r} from its extension; "
            f"name it {', '.join(EXTENSIONS)}"
        )
        if spelling == "keyword":
            problem += ", or pass format="
        raise refuse(ParameterError, method, problem)
    return told


def codec(
    method: str, format: Format, compression: Compression | None, spelling: Spelling = "keyword"
) -> Compression:
    """The codec to write `format` with: `compression`, or else the format's default."""
    offered = FORMAT_COMPRESSIONS[format]
    if compression is None:
        return offered[0]
    if compression not in offered:
        raise refuse(
            ParameterError,
            method,
            f"{spelled(spelling, 'compression')} for {format} must be one of "
            f"{', '.join(offered)}, got {compression!r}",
        )
    return compression


def sink(frame: pl.LazyFrame, path: str, format: Format, compression: Compression) -> None:
    """Run `frame` into the file `path`, in order."""
    if format == "parquet":
        level = ZSTD_LEVEL if compression == "zstd" else None
        frame.sink_parquet(
            path, compression=compression, compression_level=level, maintain_order=True
        )
    elif format == "ipc":
        ipc_codec = cast(Literal["uncompressed", "lz4", "zstd"], compression)  # told by codec()
        frame.sink_ipc(path, compression=ipc_codec, maintain_order=True)
    elif format == "csv":
        frame.sink_csv(path, maintain_order=True)
    else:
        frame.sink_ndjson(path, maintain_order=True)
