"""What a user installs: one version everywhere, Polars as the only runtime
dependency, and an sdist that builds and works in a clean environment."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import polars_scores

ROOT = Path(__file__).resolve().parents[1]


def cargo_version() -> str:
    """The `version` of Cargo.toml's [package], the one source of the version."""
    package = (ROOT / "Cargo.toml").read_text().split("\n[", 1)[0]
    found = re.search(r'^version = "([^"]+)"$', package, re.MULTILINE)
    assert found, "Cargo.toml's [package] has no version"
    return found.group(1)


def requirement_names(requirements: list[str]) -> list[str]:
    """The distribution names of the requirements that apply without extras."""
    return [re.split(r"[^\w.-]", r)[0] for r in requirements if "extra ==" not in r]


def test_one_version_from_cargo_toml() -> None:
    version = cargo_version()
    assert polars_scores.__version__ == version
    assert importlib.metadata.version("polars-scores") == version
    project = (ROOT / "pyproject.toml").read_text().split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert 'dynamic = ["version"]' in project
    assert not re.search(r"^version\s*=", project, re.MULTILINE), "a second version in pyproject"


def test_the_command_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "polars_scores.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"polars-scores {cargo_version()}\n"


def test_polars_is_the_only_runtime_dependency() -> None:
    requirements = importlib.metadata.requires("polars-scores") or []
    assert requirement_names(requirements) == ["polars"], requirements


def target_dir() -> Path:
    """The cargo target directory `./dev` uses, so the sdist build is incremental."""
    default = Path.home() / ".cache" / "polars-scores" / "target"
    return Path(os.environ.get("CARGO_TARGET_DIR", default))


def built_from_sdist(tmp_path: Path) -> tuple[Path, Path]:
    """The sdist and the wheel built from it alone.

    `./dev` builds every wheel it installs from the sdist, unpacked on its own,
    and names both in the environment; run without it, this builds them.
    """
    given = os.environ.get("POLARS_SCORES_SDIST"), os.environ.get("POLARS_SCORES_SDIST_WHEEL")
    if given[0] and given[1]:
        return Path(given[0]), Path(given[1])
    # The maturin `./dev` puts first on PATH: building with the same tools,
    # PATH and target directory as `./dev` reuses its build of Polars
    # (pyo3's build script reruns, and all of Polars with it, when PATH or
    # the Python differ, as they would inside pip's isolated build
    # environment; the release workflow's sdist job checks that pip path).
    maturin = shutil.which("maturin")
    assert maturin, "maturin missing: install the build group (pip install --group build)"
    subprocess.run([maturin, "sdist", "--out", tmp_path], cwd=ROOT, check=True, capture_output=True)
    (sdist,) = tmp_path.glob("polars_scores-*.tar.gz")
    # Built from a fixed place, so that cargo reuses what it built before
    # (a new path each run would rebuild the crate from scratch and pile up
    # copies); every file touched, so that cargo never trusts stale output.
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        source = target_dir().with_name(target_dir().name + "-sdist") / top
        shutil.rmtree(source, ignore_errors=True)
        archive.extractall(source.parent)
    now = time.time()
    for path in source.rglob("*"):
        os.utime(path, (now, now))
    built = subprocess.run(
        [maturin, "build", "--profile", "quick", "--out", tmp_path / "wheel"],
        cwd=source,
        env=dict(os.environ, CARGO_TARGET_DIR=str(target_dir())),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-5000:]
    (wheel,) = (tmp_path / "wheel").glob("polars_scores-*.whl")
    return sdist, wheel


@pytest.mark.slow
def test_the_sdist_builds_and_works_in_a_clean_venv(tmp_path: Path) -> None:
    sdist, wheel = built_from_sdist(tmp_path)
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    for needed in (
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        "src/lib.rs",
        "src/kernels/mod.rs",
        "python/polars_scores/__init__.py",
        "python/polars_scores/_internal.pyi",
        "python/polars_scores/py.typed",
    ):
        assert f"{top}/{needed}" in names, f"{needed} missing from the sdist"
    assert not [n for n in names if re.search(r"/(target|\.venv[^/]*|dist)/", n)]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    # --no-compile as `./dev` installs: modules compile when imported.
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-compile", wheel], check=True)
    subprocess.run([python, ROOT / "tests" / "smoke_installed.py"], check=True)
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {line.split("==")[0].lower() for line in installed.split()}
    assert "polars-scores" in names and "polars" in names
    # Polars (and its runtime package), pip and nothing else came with it.
    assert names - {"polars-scores", "pip", "setuptools"} <= {
        name for name in names if name.startswith("polars")
    }, names
