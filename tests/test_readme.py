"""The README's tour runs as printed, and the names its other examples use exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_tour_runs() -> None:
    exec(compile(BLOCKS[0], "README.md", "exec"), {})


def test_every_imported_name_exists() -> None:
    imports = re.findall(r"^from (polars_scores[\w.]*) import (.+)$", README, flags=re.MULTILINE)
    assert imports
    for module_name, names in imports:
        module = importlib.import_module(module_name)
        for name in re.split(r",\s*", re.sub(r" as \w+", "", names)):
            # A name is an attribute, or a submodule imported through `from`.
            if not hasattr(module, name):
                importlib.import_module(f"{module_name}.{name}")
