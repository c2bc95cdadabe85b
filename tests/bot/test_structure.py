"""The core depends on nothing in `bot.reports`, and nothing there imports the core back."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at run time or for type checking."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_core_imports_nothing_from_reports() -> None:
    assert not {m for m in _imports(BOT / "core.py") if m.startswith("bot.reports")}


def test_reports_never_import_the_core_or_a_front_end() -> None:
    for path in (BOT / "reports").glob("*.py"):
        found = _imports(path) & {"bot.core", "bot.telegram_app", "bot.console", "bot.services"}
        assert not found, f"{path.name} imports {found}"


def test_telegram_adapter_keeps_no_dialogue_state_machine_of_its_own() -> None:
    imported = _imports(BOT / "telegram_app.py")
    source = (BOT / "telegram_app.py").read_text(encoding="utf-8")
    assert "ConversationHandler" not in source and "DIALOGUE_COMMANDS" not in source
    assert "bot.reports.commands" not in imported
