#!/usr/bin/env bash
# Installs what a release job built in dist/ into the runner's Python, then
# checks it with Polars alone and runs the test suite (but the slow packaging
# checks, which rebuild from source). --from-sdist: pip builds the sdist into
# a wheel first, as it does for a user on a platform without a wheel.
set -euo pipefail
python -m pip install --upgrade "pip>=25.1"  # dependency groups (--group)
if [ "${1:-}" = --from-sdist ]; then
    python -m pip install dist/*.tar.gz
else
    python -m pip install dist/*.whl
fi
python tests/smoke_installed.py
python -m pip install --group test --group bench
python -m pytest -q -p no:cacheprovider -m "not slow"
