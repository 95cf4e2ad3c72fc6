"""What a benchmark ran on: CPU, cores, memory, library versions and BLAS."""

from __future__ import annotations

import ctypes
import os
import platform
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    """Total memory from ``/proc/meminfo``, in GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def version(package: str) -> str:
    """An installed distribution's version, or 'not installed'."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def openblas_core() -> str:
    """The CPU kernel the loaded OpenBLAS runs (numpy's ``dot`` uses it).

    OpenBLAS picks it at load time unless ``OPENBLAS_CORETYPE`` forces one, so
    it says whether numpy's figures are comparable between machines.
    """
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    libraries = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line})
    for library in libraries:
        handle = ctypes.CDLL(library)
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_"):
            if hasattr(handle, symbol):
                get_corename = getattr(handle, symbol)
                get_corename.restype = ctypes.c_char_p
                return f"OpenBLAS {get_corename().decode()}"
        if hasattr(handle, "openblas_get_corename"):
            handle.openblas_get_corename.restype = ctypes.c_char_p
            return f"OpenBLAS {handle.openblas_get_corename().decode()}"
    return "no OpenBLAS loaded"


def machine_info() -> dict[str, str]:
    """Facts about this machine and its libraries, for the results' header.

    Call it after numpy is imported, so that its BLAS is loaded.

    Examples
    --------
    >>> info = machine_info()
    >>> info["cpu"] == cpu_model(), "polars" in info
    (True, True)
    """
    forced = {
        name: os.environ[name]
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        if name in os.environ
    }
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable",
        "memory": memory_gib(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "polars": version("polars"),
        "polars-scores": version("polars-scores"),
        "numpy": version("numpy"),
        "numba": version("numba"),
        "blas": openblas_core(),
        "blas environment": ", ".join(f"{k}={v}" for k, v in forced.items()) or "not forced",
        "load average at the start": " ".join(f"{value:.2f}" for value in load),
    }
