"""MkDocs hook: replace ``<!-- layout: module.Class -->`` by the dataset class's ``layout`` (its folder layout).

The readers keep their expected folder layout in a ``layout`` class attribute (also shown in their error
messages); mkdocstrings reads docstrings from the source, so the layout is inserted here from the class.
"""

from __future__ import annotations

import importlib
import re

MARKER = re.compile(r"^<!-- layout: ([\w.]+) -->$", re.MULTILINE)


def _layout_block(match: re.Match[str]) -> str:
    module_name, _, class_name = match[1].rpartition(".")
    layout = getattr(getattr(importlib.import_module(module_name), class_name), "layout", "")
    if not layout:
        raise ValueError(f"docs: {match[1]} has no 'layout' attribute to show")
    return f"Expected layout:\n\n```text\n{layout.rstrip()}\n```\n"


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    """Expand every layout marker of the page."""
    return MARKER.sub(_layout_block, markdown)
