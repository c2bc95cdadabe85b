"""Every console text renders: the Chinese message templates with their fields, and every page
template compiles (the pages themselves are rendered by the route tests)."""

from __future__ import annotations

import string
from pathlib import Path

import jinja2

import prompts

REPO = Path(__file__).resolve().parents[2]


def test_every_web_message_renders_with_its_fields() -> None:
    names = sorted(p.stem for p in (REPO / "prompts").glob("web_*.txt"))
    assert len(names) >= 15
    for name in names:
        fields = {f for _, f, _, _ in string.Formatter().parse(prompts.load(name)) if f}
        text = prompts.render(name, **dict.fromkeys(fields, "X"))
        assert text.strip() and "{" not in text, name


def test_every_page_template_compiles_and_fetches_nothing_from_outside() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPO / "web" / "templates"))
    names = env.list_templates()
    assert {"base.html", "signin.html", "today.html", "incidents.html", "sites.html",
            "stats.html", "knowledge.html", "questions.html"} <= set(names)  # fmt: skip
    for name in names:
        env.get_template(name)
        source = (REPO / "web" / "templates" / name).read_text(encoding="utf-8")
        assert "http://" not in source and "https://" not in source and "//cdn" not in source
