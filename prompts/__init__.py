"""Prompts and user-facing message templates, one named file each.

Templates use `str.format` fields; `render("not_covered", contact=...)` fills them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of template `name` (file `prompts/<name>.txt` or `.md`), trailing newline removed."""
    base = resources.files(__name__)
    for suffix in (".txt", ".md"):
        path = base / f"{name}{suffix}"
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\n")
    raise KeyError(f"no prompt or template named {name!r}")


def render(name: str, **fields: object) -> str:
    """Template `name` with its fields filled in."""
    return load(name).format(**fields)
