"""Every user-facing template renders with its fields, and every template the code names exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import prompts

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.stem for p in (REPO / "prompts").iterdir() if p.suffix in (".txt", ".md"))
# prompts.render("name", ...) / prompts.load("name") with a literal name, anywhere in the code.
NAMED = re.compile(r"prompts\.(?:render|load)\(\s*\"([a-z0-9_]+)\"")


def _fields(text: str) -> set[str]:
    return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_renders_with_its_fields(name: str) -> None:
    text = prompts.load(name)
    assert text.strip(), f"{name} is empty"
    fields = _fields(text)
    rendered = prompts.render(name, **dict.fromkeys(fields, "〈值〉"))
    assert ("〈值〉" in rendered) == bool(fields), name


def test_every_template_the_code_names_exists() -> None:
    named: dict[str, list[str]] = {}
    for package in ("bot", "web", "knowledge", "ingest"):
        for path in (REPO / package).rglob("*.py"):
            for name in NAMED.findall(path.read_text(encoding="utf-8")):
                named.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert len(named) > 50
    missing = {n: where for n, where in named.items() if n not in TEMPLATES}
    assert not missing, f"templates named in code but not in prompts/: {missing}"
