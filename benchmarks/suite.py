"""The benchmark suite: the plugin against its peers, at several sizes.

Usage::

    python benchmarks/suite.py [--sizes 1e5,1e6,1e7] [--repeats N] [--out DIR] [--quick]

For each size it builds one frame, runs every peer of every case once (a
warm-up whose results must agree with the plugin's), then times them
round-robin (each round starting one peer later), so that a slow spell on
a shared machine hits them all alike, and keeps the median. It prints
markdown tables (ns/row, and each peer's time as a ratio to the plugin's),
the issue's targets with PASS/MISS and the peak memory of each plugin call,
and writes them with a chart into ``--out``: results.md, results.json and
ns_per_row.png.

``--quick`` is the smoke run of the tests: one run per figure, a small
Python sample, and every call's peak memory measured in one process (fast,
but not exact).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

try:
    import cases
    from chart import Line, Panel, machine_footer, write_chart
    from frames import make_frame
    from machine import machine_info
    from peak_memory import CALLS
    from targets import TARGETS
except ImportError as error:
    # numba, numpy and matplotlib come with the bench group; say so rather than a traceback.
    sys.exit(
        f"benchmarks/suite.py: cannot import a peer's library ({error}); "
        "install the bench group: pip install --group bench"
    )

HERE = Path(__file__).resolve().parent

BUDGET_S = 30.0
"""Once a peer has had three runs at a size taking this long in all, it stops."""

QUICK_SAMPLE = 10_000
"""The Python loops' sample under --quick."""


@dataclass
class Timing:
    """The medians of a peer's runs at one size, per row.

    Minor page faults are counted because first touching fresh output
    memory can cost more than computing it.
    """

    ns_per_row: float
    faults_per_krow: float
    runs: int


# case key -> peer key -> rows -> timing
Results = dict[str, dict[str, dict[int, Timing]]]


def parse_sizes(text: str) -> list[int]:
    """'1e5,1e6' -> [100000, 1000000].

    Examples
    --------
    >>> parse_sizes("1e3, 2.5e3")
    [1000, 2500]
    """
    try:
        sizes = [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: not a list of numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes: need positive row counts, got {text!r}")
    return sorted(set(sizes))


def size_label(rows: int) -> str:
    """Rows in short scientific form.

    Examples
    --------
    >>> size_label(10_000_000), size_label(2_500)
    ('1e7', '2.5e3')
    """
    mantissa, exponent = f"{rows:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def number(value: float) -> str:
    """About three significant digits, without an exponent."""
    for digits, floor in ((0, 100.0), (1, 10.0), (2, 1.0)):
        if value >= floor:
            return f"{value:.{digits}f}"
    return f"{value:.3f}"


def timed(run: Callable[[], object]) -> tuple[float, int]:
    """Seconds one call takes and the minor page faults it causes; the
    collector stays off meanwhile, and freeing the result is not counted."""
    gc.collect()
    gc.disable()
    try:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    finally:
        gc.enable()
    del result
    return elapsed, faults


def check_agreement(case: cases.Case) -> None:
    """Runs each peer once, as a warm-up, and stops the suite if a peer's
    result differs from the plugin's."""
    results = {peer.key: peer.run() for peer in case.peers}
    reference = results[case.reference]
    for peer in case.peers:
        if peer.comparable and peer.key != case.reference:
            compare = cases.bit_difference if peer.bit_identical else cases.disagreement
            why = compare(reference, results[peer.key])
            if why is not None:
                sys.exit(f"benchmarks/suite.py: {case.title}: {peer.label} disagrees: {why}")


def time_case(case: cases.Case, repeats: int) -> dict[str, Timing]:
    """The median time per row of each peer, runs taken round-robin.

    Each round starts one peer later: whether a call finds freed memory to
    reuse or must fault in fresh pages depends on what ran just before it.
    """
    runs: dict[str, list[tuple[float, int]]] = {peer.key: [] for peer in case.peers}
    for round_ in range(repeats):
        start = round_ % len(case.peers)
        for peer in case.peers[start:] + case.peers[:start]:
            done = runs[peer.key]
            if len(done) >= 3 and sum(seconds for seconds, _ in done) > BUDGET_S:
                continue
            done.append(timed(peer.run))
    timings = {}
    for peer in case.peers:
        seconds, faults = zip(*runs[peer.key], strict=True)
        timings[peer.key] = Timing(
            statistics.median(seconds) / peer.rows * 1e9,
            statistics.median(faults) / peer.rows * 1e3,
            len(seconds),
        )
    return timings


def run_sizes(
    sizes: list[int], repeats: int, python_sample: int
) -> tuple[Results, dict[str, cases.Case]]:
    """Times every case at every size; also returns the cases (for labels)."""
    results: Results = {}
    described: dict[str, cases.Case] = {}
    cases.warm_up_numba()
    for rows in sizes:
        frame = make_frame(rows)
        for case in cases.cases(frame, python_sample):
            described[case.key] = case
            check_agreement(case)
            for key, timing in time_case(case, repeats).items():
                results.setdefault(case.key, {}).setdefault(key, {})[rows] = timing
                label = next(peer.label for peer in case.peers if peer.key == key)
                print(
                    f"{size_label(rows)} {case.title}: {label}: "
                    f"{number(timing.ns_per_row)} ns/row ({timing.runs} runs)",
                    file=sys.stderr,
                )
        del frame
    return results, described


def measure_memory(rows: int, quick: bool) -> dict[str, dict[str, float]]:
    """Peak memory growth of each call, each in a fresh process, two at a
    time. Under ``quick``, all in one process: it only checks that they run."""

    def measure(names: list[str]) -> dict[str, dict[str, float]]:
        command = [sys.executable, str(HERE / "peak_memory.py"), str(rows), *names]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
        measured: dict[str, dict[str, float]] = json.loads(done.stdout)
        return measured

    if quick:
        return measure(list(CALLS))
    memory: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for measured in pool.map(measure, [[name] for name in CALLS]):
            memory.update(measured)
    return memory


def memory_verdict(name: str, rows: int, memory: dict[str, dict[str, float]]) -> tuple[str, str]:
    """What a plugin call may grow by without copying an input, and whether it did.

    Allowed: its result and scratch by design, the growth of the native call
    it runs beside, a quarter of its smallest input column and 4 MiB of
    allocator noise. A copy of an input needs a whole column more.
    """
    call = CALLS[name]
    if call.needs_per_row is None:
        return "-", "-"
    allowed = call.needs_per_row * rows + memory[name]["smallest_input"] / 4 + 4 * 2**20
    if call.beside is not None:
        allowed += memory[call.beside]["growth"]
    verdict = "no input copy" if memory[name]["growth"] <= allowed else "COPY"
    return f"{allowed / 2**20:.1f}", verdict


def markdown(
    info: dict[str, str],
    sizes: list[int],
    repeats: int,
    results: Results,
    described: dict[str, cases.Case],
    memory: dict[str, dict[str, float]],
    python_sample: int,
) -> str:
    """The whole report as markdown."""
    lines = ["# polars-scores benchmarks", ""]
    lines += [f"- {name}: {value}" for name, value in info.items()]
    lines += [
        "",
        f"Each figure is the median of {repeats} run(s), or of at least 3 once a peer's runs "
        f"have taken over {BUDGET_S:g} s, taken round-robin (each round starting one peer "
        "later) after one warm-up run whose result is checked against the plugin's. "
        "`x plugin` is the peer's time over the plugin's: above 1, the plugin is faster. "
        f"Python loops run on the first {python_sample:,} rows and are scaled. The last "
        "column counts the minor page faults of a run (a fresh 4 KiB page touched for the "
        "first time) per 1,000 rows, at the largest size.",
    ]
    largest = sizes[-1]
    for key, case in described.items():
        header = (
            "| peer |"
            + "".join(f" {size_label(rows)} ns/row | x plugin |" for rows in sizes)
            + f" faults/1k rows @{size_label(largest)} |"
        )
        divider = "|---|" + "--:|--:|" * len(sizes) + "--:|"
        lines += ["", f"## {case.title}", "", header, divider]
        for peer in case.peers:
            cells = []
            for rows in sizes:
                timing = results[key][peer.key][rows]
                ratio = timing.ns_per_row / results[key][case.reference][rows].ns_per_row
                cells.append(f" {number(timing.ns_per_row)} | {number(ratio)}x |")
            faults = results[key][peer.key][largest].faults_per_krow
            label = f"**{peer.label}**" if peer.key == case.reference else peer.label
            lines.append(f"| {label} |" + "".join(cells) + f" {faults:.1f} |")

    note = "" if largest == 10_000_000 else "; the issue sets them for 10,000,000"
    lines += ["", f"## Targets (at {largest:,} rows{note})", ""]
    lines += ["| target | measured | bound | verdict |", "|---|--:|--:|---|"]
    for target in TARGETS:
        ratio = (
            results[target.case][target.peer][largest].ns_per_row
            / results[target.case][target.versus][largest].ns_per_row
        )
        verdict = "PASS" if target.passes(ratio) else "MISS"
        lines.append(f"| {target.text} | {ratio:.2f}x | {target.condition}x | {verdict} |")

    lines += ["", f"## Peak memory (at {largest:,} rows)", ""]
    if not memory:
        lines.append("Not measured: it reads /proc, so it needs Linux.")
    else:
        lines += [
            "Peak growth of the resident set over what it was before the call, each call "
            "in a fresh process (all in one under --quick, so not exact there). COPY: a "
            "plugin call grew by more than its own result and scratch space, so an input "
            "was copied, by the plugin or by Polars around it.",
            "",
            "| call | input MiB | peak growth MiB | allowed without a copy, MiB | verdict |",
            "|---|--:|--:|--:|---|",
        ]
        for name, measured in memory.items():
            allowed, verdict = memory_verdict(name, largest, memory)
            lines.append(
                f"| {CALLS[name].label} | {measured['input'] / 2**20:.1f} "
                f"| {measured['growth'] / 2**20:.1f} | {allowed} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def chart(
    path: Path, results: Results, described: dict[str, cases.Case], info: dict[str, str]
) -> None:
    """ns/row against rows, one panel per case, the plugin's line bold."""
    panels = [
        Panel(
            case.title,
            [
                Line(
                    peer.label,
                    [(rows, t.ns_per_row) for rows, t in results[key][peer.key].items()],
                    bold=peer.key == case.reference,
                )
                for peer in case.peers
            ],
        )
        for key, case in described.items()
    ]
    write_chart(path, panels, footer=machine_footer(info))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1e5,1e6,1e7"))
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (default 5)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--quick", action="store_true", help="a smoke run: see the module doc")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    python_sample = QUICK_SAMPLE if args.quick else cases.PYTHON_SAMPLE
    if "OPENBLAS_CORETYPE" in os.environ:
        print(
            "note: OPENBLAS_CORETYPE is set, which slows numpy's dot; for numpy's best, run "
            "this command alone with it and OPENBLAS_L2_SIZE unset (env -u ... -u ...)",
            file=sys.stderr,
        )

    info = machine_info()
    results, described = run_sizes(args.sizes, repeats, python_sample)
    info["load average at the end"] = " ".join(f"{load:.2f}" for load in os.getloadavg())
    has_proc = Path("/proc/self/clear_refs").exists()
    memory = measure_memory(args.sizes[-1], args.quick) if has_proc else {}
    report = markdown(info, args.sizes, repeats, results, described, memory, python_sample)
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(report)
    raw = {
        "machine": info,
        "repeats": repeats,
        "ns_per_row": {
            case: {
                peer: {str(rows): vars(t) for rows, t in by_rows.items()}
                for peer, by_rows in peers.items()
            }
            for case, peers in results.items()
        },
        "peak_memory_bytes": memory,
    }
    (args.out / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
    chart(args.out / "ns_per_row.png", results, described, info)
    print(f"wrote {args.out}/results.md, results.json and ns_per_row.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
