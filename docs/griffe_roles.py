"""A griffe extension for the API reference: the package's docstrings use
Sphinx roles (:func:`scan_scores`, :class:`~polars_scores.stateful.RollingScorer`)
where the reference, rendered by mkdocstrings, reads Markdown. Each role
becomes inline code of its last name, as Sphinx shows a ``~`` target."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|exc):`~?(?P<target>[^`]+)`")


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(
                lambda found: f"`{found['target'].rsplit('.', 1)[-1]}`", obj.docstring.value
            )
