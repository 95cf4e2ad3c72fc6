"""Settings for the whole test suite; shared helpers live in ``helpers.py``."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

import polars_scores  # noqa: F401  (registers the namespace)

# Modest example counts: CI has two cores and runs the suite twice (newest
# Polars and the floor). Plugin calls have no per-example cold start worth
# a deadline, but a busy machine makes timings noisy.
settings.register_profile(
    "polars-scores",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("polars-scores")
