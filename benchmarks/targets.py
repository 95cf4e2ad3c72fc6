"""The issue's performance targets, each a bound on the ratio of two timings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """``time(peer) / time(versus)`` in case ``case`` must be at most (or at
    least) ``bound``."""

    text: str
    case: str
    peer: str
    versus: str
    bound: float
    at_most: bool = True

    def passes(self, ratio: float) -> bool:
        """Whether a measured ratio meets the target.

        Examples
        --------
        >>> Target("t", "rolling", "plugin", "numba", 0.75).passes(0.5)
        True
        """
        return ratio <= self.bound if self.at_most else ratio >= self.bound

    @property
    def condition(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.bound:g}"


def at_least(text: str, case: str, peer: str, versus: str, bound: float) -> Target:
    """A target whose ratio must be at least `bound`."""
    return Target(text, case, peer, versus, bound, at_most=False)


TARGETS = [
    Target("rolling / numba @njit in map_batches", "rolling", "plugin", "numba", 0.75),
    Target("rolling / native cum_sum", "rolling", "plugin", "cum_sum", 1.5),
    at_least("Python loop / rolling", "rolling", "python", "plugin", 25),
    at_least(
        "rolling on one thread / rolling (multi-core, issue 7)", "rolling", "serial", "plugin", 1.8
    ),
    at_least("rolling .over(k) / rolling by=k", "rolling_by", "plugin_over", "plugin_by", 10),
    Target("rolling by=k / numba dense-key loop", "rolling_by", "plugin_by", "numba", 1.5),
    at_least("native expression / total (eager)", "total", "native", "plugin", 10),
    Target("total / native sum() (eager)", "total", "plugin", "sum", 3),
    at_least("native expression / total (streaming)", "total_lazy", "native", "plugin", 10),
    Target("total / native sum() (streaming)", "total_lazy", "plugin", "sum", 3),
    Target("group_by total / group_by sum() (eager)", "group_by", "plugin", "sum", 1.15),
    Target("group_by total / group_by sum() (streaming)", "group_by_lazy", "plugin", "sum", 1.15),
    Target("dot / native dot", "dot", "plugin", "native", 1.0),
]
"""From the issue, for 10M rows on the 2-core machine."""
