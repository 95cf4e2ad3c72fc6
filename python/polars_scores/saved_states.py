"""State files: each key's state after a run, saved so that the next run carries on.

A state file is an ordinary parquet file, one row per key: the key columns
and one Float64 column per state of each value, named as the score columns
(what ``StatefulScorer.states()`` gives, for every value), so it is also
each key's latest score, for a query of its own. The file's key-value
metadata holds, under :data:`METADATA_KEY`, a JSON object with the format
version, the settings the states were scored with (a run with other
settings is refused, naming the one that differs) and the runs that made
it, with the input files each one read (a file read again is refused: its
rows would count twice).

The writers (``states=``) and the command line (``--state``) read it with
:meth:`StateFile.load` before anything is written, and replace it with
:meth:`StateFile.save` once their output is in place: a run killed at any
moment leaves both files old, or the output new and the state file old,
and the same command run again then gives what an uninterrupted run gives.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from polars_scores._checks import ScoresError, refuse
from polars_scores.durable import Replacement, cannot_write, os_error_code
from polars_scores.formats import format_of
from polars_scores.inputs import first_line
from polars_scores.signals import Interrupt
from polars_scores.spec import ScoreSpec, spelled
from polars_scores.stateful import StartStatesError

METADATA_KEY = "polars_scores.state"
"""The parquet key-value metadata entry that holds a state file's settings."""

FORMAT_VERSION = 1
"""The version of the layout of the settings this package writes and reads."""


class StateFileError(ScoresError, ValueError):
    """A state file that cannot be carried on from: unreadable, not a state
    file, made with other settings, or that already holds an input's rows."""


@dataclass(frozen=True)
class InputFile:
    """A file a run reads, as a state file records it: the same path, size
    and modification time mean the same file, whose rows it holds already."""

    path: str
    size: int
    mtime_ns: int
    rows: int | None = None
    """The file's rows where its metadata tells them cheaply (parquet, IPC)."""

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> InputFile:
        resolved = os.path.realpath(path)
        found = os.stat(resolved)
        return cls(resolved, found.st_size, found.st_mtime_ns, _rows(resolved))

    def same_file(self, other: InputFile) -> bool:
        return (self.path, self.size, self.mtime_ns) == (other.path, other.size, other.mtime_ns)


def _rows(path: str) -> int | None:
    """The row count in a parquet or IPC file's metadata; None for other
    formats, which would be read whole to count, and for unreadable files."""
    kind = format_of(path) or "parquet"
    if kind not in ("parquet", "ipc"):
        return None
    try:
        scan = pl.scan_parquet(path) if kind == "parquet" else pl.scan_ipc(path)
        return int(scan.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return None


@dataclass(frozen=True)
class Run:
    """A run that made a state file: when (UTC), its output and its inputs."""

    time: str
    output: str
    inputs: tuple[InputFile, ...] = ()

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> Run:
        inputs = tuple(InputFile(**found) for found in plain["inputs"])
        return cls(str(plain["time"]), str(plain["output"]), inputs)


def rule_text(rule: str | Mapping[str, str] | None) -> str | Mapping[str, str] | None:
    """A rule as the user gave it, as a state file shows it in messages."""
    return dict(rule) if isinstance(rule, Mapping) else rule


def settings_of(spec: ScoreSpec[str], rule: str | Mapping[str, str] | None) -> dict[str, Any]:
    """What scores the states hold, as a state file records it: two runs
    carry on from one another only where these are equal (`rule`, its text,
    only names the rule in messages; its program is what counts)."""
    program = spec.program
    return {
        "values": list(spec.values),
        "keys": list(spec.keys),
        "names": list(spec.names),
        "rule": None
        if program is None
        else {
            "text": rule_text(rule),
            "ops": list(program.ops),
            "operands": list(program.operands),
            "states": None if program.states is None else list(program.states),
        },
        "rise": None if program is not None else spec.rise,
        "fall": None if program is not None else spec.fall,
        "initial": list(spec.number_starts()),
        "inputs": [[name, column] for name, column in spec.inputs],
    }


def state_columns(spec: ScoreSpec[str]) -> list[str]:
    """A state file's columns: the keys, then each value's state columns."""
    states = [column for index in range(len(spec.values)) for column in spec.columns(index)]
    return [*spec.keys, *states]


@dataclass
class StateFile:
    """The state file at `path` of a writer's run, which reads `inputs`
    (where they are known: the command line's files)."""

    path: Path
    rule: str | Mapping[str, str] | None = None
    """The rule as the user gave it, for messages."""
    inputs: tuple[InputFile, ...] = ()
    runs: list[Run] = field(default_factory=list)
    """The runs recorded in the file, once loaded."""

    def load(self, spec: ScoreSpec[str], output: str | os.PathLike[str]) -> pl.DataFrame | None:
        """The saved states to start from, checked against `spec`; None where
        the file does not exist yet (the first run). Refuses a file that is
        `output`, that cannot be read, that is made with other settings, or
        that holds the rows of one of the run's inputs already."""
        method, where = spec.method, self._where(spec)
        if _same_place(self.path, Path(output)):
            raise refuse(StateFileError, method, f"{where} is the output; write it elsewhere")
        # Checked before the output is written, which the state file follows.
        folder = self.path.parent
        if self.path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            why = "is a folder" if self.path.is_dir() else "cannot be written in its folder"
            raise refuse(StateFileError, method, f"{where} {why}")
        if not self.path.exists():
            return None
        try:
            raw = pl.read_parquet_metadata(self.path).get(METADATA_KEY)
            frame = pl.read_parquet(self.path)
        except (pl.exceptions.PolarsError, OSError) as error:
            problem = f"cannot read {where} as parquet: {first_line(error)}"
            raise refuse(StateFileError, method, problem) from None
        recorded = _recorded(method, where, raw)
        _refuse_other_settings(spec, where, recorded, settings_of(spec, self.rule))
        self.runs = recorded["runs"]
        _check_frame(spec, where, frame, recorded["key_dtypes"])
        self._refuse_consumed(spec)
        return frame

    def write(self, spec: ScoreSpec[str], states: pl.DataFrame, output: str) -> Replacement:
        """`states` (keys and state columns) with the settings, the earlier
        runs and this one, written to a work file beside the file, which
        :meth:`replace` puts in place once the output is (a run may write
        it while its output is finished)."""
        frame = states.select(state_columns(spec))
        now = datetime.datetime.now(datetime.timezone.utc)
        run = Run(now.isoformat(timespec="microseconds"), os.path.realpath(output), self.inputs)
        recorded = {
            "format": FORMAT_VERSION,
            **settings_of(spec, self.rule),
            "key_dtypes": {key: str(frame.schema[key]) for key in spec.keys},
            "runs": [asdict(earlier) for earlier in [*self.runs, run]],
        }
        metadata = {METADATA_KEY: json.dumps(recorded)}
        replacement = Replacement(spec.method, self.path)
        try:
            # Snappy: every parquet reader has it (Spark's default), and a
            # million string keys write in half the time zstd takes.
            frame.write_parquet(replacement.path, compression="snappy", metadata=metadata)
        except (pl.exceptions.PolarsError, OSError) as error:
            replacement.close()
            code = getattr(error, "errno", None) or os_error_code(str(error))
            if code is None:
                raise
            raise cannot_write(spec.method, self.path, code) from None
        except BaseException:
            replacement.close()
            raise
        return replacement

    def replace(self, spec: ScoreSpec[str], written: Replacement) -> None:
        """Put the states :meth:`write` wrote in place, atomically and durably."""
        # The output is in place already: a stop signal now waits for the
        # state file, so that the two agree once the run stops.
        with Interrupt() as stop:
            try:
                written.commit()
            finally:
                written.close()
        if stop.requested():
            stop.deliver()

    def refused_keys(self, spec: ScoreSpec[str], error: StartStatesError) -> StateFileError:
        """The error of a run whose states were refused as they loaded (a
        key listed twice), naming this file."""
        return refuse(StateFileError, spec.method, f"in {self._where(spec)}, {error.problem}")

    def _where(self, spec: ScoreSpec[str]) -> str:
        """The file as messages name it (``--state``'s on the command line)."""
        kind = "state" if spec.spelling == "keyword" else spelled("option", "state")
        return f"the {kind} file {str(self.path)!r}"

    def _refuse_consumed(self, spec: ScoreSpec[str]) -> None:
        for read in self.inputs:
            for run in self.runs:
                if any(read.same_file(done) for done in run.inputs):
                    problem = (
                        f"the input {read.path!r} was scored into {self._where(spec)} "
                        f"already, by the run of {run.time} that wrote {run.output!r}; to "
                        "score it again, start from a copy of the state file made before that run"
                    )
                    raise refuse(StateFileError, spec.method, problem)


def _same_place(one: Path, other: Path) -> bool:
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _recorded(method: str, where: str, raw: str | None) -> dict[str, Any]:
    """The settings a state file records, checked to be of a version this reads."""
    if raw is None:
        problem = f"{where} is no polars-scores state file: its metadata has no {METADATA_KEY!r}"
        raise refuse(StateFileError, method, problem)
    try:
        recorded: dict[str, Any] = json.loads(raw)
        version = recorded["format"]
    except (ValueError, TypeError, KeyError):
        problem = f"{where} has settings that cannot be read (metadata {METADATA_KEY!r})"
        raise refuse(StateFileError, method, problem) from None
    if version != FORMAT_VERSION:
        problem = (
            f"{where} has format version {version!r}; this polars-scores reads "
            f"version {FORMAT_VERSION} (made by another version of polars-scores?)"
        )
        raise refuse(StateFileError, method, problem)
    for name, kinds in _SETTINGS.items():
        if name not in recorded or not isinstance(recorded[name], kinds):
            problem = f"{where} has settings that cannot be read: {name!r} is missing or wrong"
            raise refuse(StateFileError, method, problem)
    rule = recorded["rule"]
    try:
        recorded["runs"] = [Run.from_plain(run) for run in recorded["runs"]]
        if rule is not None and not {"text", "ops", "operands", "states"} <= rule.keys():
            raise KeyError("rule")
    except (ValueError, TypeError, KeyError):
        problem = f"{where} has settings that cannot be read: 'runs' or 'rule' is wrong"
        raise refuse(StateFileError, method, problem) from None
    return recorded


_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "values": list,
    "keys": list,
    "names": list,
    "rule": (dict, type(None)),
    "rise": (float, type(None)),
    "fall": (float, type(None)),
    "initial": list,
    "inputs": list,
    "key_dtypes": dict,
    "runs": list,
}
"""What a state file's settings hold, and of which JSON types."""


def _refuse_other_settings(
    spec: ScoreSpec[str], where: str, recorded: Mapping[str, Any], current: Mapping[str, Any]
) -> None:
    """Refuse a state file made with other settings than `current`, naming
    the first that differs, as the caller spells it."""
    # Compared as JSON text, as the file holds them: NaN equals NaN there,
    # -0.0 differs from 0.0, and every float round-trips exactly.
    current = json.loads(json.dumps(current))
    for name in ("values", "keys", "recurrence", "names", "initial", "inputs"):
        if _comparable(name, recorded) != _comparable(name, current):
            was, now = _shown(spec, name, recorded), _shown(spec, name, current)
            problem = f"{where} was made with {was}; this run has {now}"
            raise refuse(StateFileError, spec.method, problem)


def _comparable(name: str, settings: Mapping[str, Any]) -> str:
    if name == "recurrence":
        rule = settings["rule"]
        program = None if rule is None else {k: v for k, v in rule.items() if k != "text"}
        return json.dumps([program, settings["rise"], settings["fall"]])
    return json.dumps(settings[name])


def _shown(spec: ScoreSpec[str], name: str, settings: Mapping[str, Any]) -> str:
    """A setting as the caller spells it: ``--value amount`` or ``value=['amount']``."""
    option = spec.spelling == "option"

    def given(parameter: str, values: Sequence[Any]) -> str:
        if not option:
            shown = values[0] if len(values) == 1 else list(values)
            return f"{parameter}={shown!r}"
        if not values:
            return f"no {spelled('option', parameter)}"
        return " ".join(f"{spelled('option', parameter)} {value}" for value in values)

    if name == "values":
        return given("value", settings["values"])
    if name == "keys":
        return given("by", settings["keys"])
    if name == "names":
        return given("name", settings["names"])
    if name == "inputs":
        pairs = [f"{input_name}={column}" for input_name, column in settings["inputs"]]
        return given("inputs", pairs) if option else f"inputs={dict(settings['inputs'])!r}"
    if name == "initial":
        starts = settings["initial"]
        rule = settings["rule"]
        states = None if rule is None else rule["states"]
        if states is None or len(set(map(json.dumps, starts))) == 1:
            return given("initial", starts[:1])
        return given("initial", [dict(zip(states, starts, strict=True))])
    rule = settings["rule"]
    if rule is None:
        both = given("rise", [settings["rise"]]), given("fall", [settings["fall"]])
        return " ".join(both) if option else ", ".join(both)
    text = rule["text"]
    if option and isinstance(text, Mapping):
        return given("rule", [repr(f"{state}={expr}") for state, expr in text.items()])
    return given("rule", [repr(text)] if option else [text])


def _check_frame(
    spec: ScoreSpec[str], where: str, frame: pl.DataFrame, key_dtypes: Mapping[str, str]
) -> None:
    """Refuse a frame whose columns or dtypes are not those of the states of `spec`."""
    method = spec.method
    wanted = state_columns(spec)
    if frame.columns != wanted:
        problem = f"{where} has the columns {frame.columns}; the states are {wanted}"
        raise refuse(StateFileError, method, problem)
    for column, dtype in frame.schema.items():
        want = key_dtypes.get(column, "Float64") if column in spec.keys else "Float64"
        if str(dtype) != want:
            problem = f"{where} has the column {column!r} as {dtype}; it must be {want}"
            raise refuse(StateFileError, method, problem)
        if column not in spec.keys and frame[column].null_count():
            problem = f"{where} has nulls in the state column {column!r}"
            raise refuse(StateFileError, method, problem)
    if not spec.keys and frame.height != 1:
        problem = f"{where} has {frame.height} rows; without keys, the state is one row"
        raise refuse(StateFileError, method, problem)
