"""The knowledge base: embeddings, the index (catalog, Chroma, BM25) and retrieval.

`ingest/` gets documents in and writes through `knowledge.index`; the bot reads through it.
The sample handbook that kaowu ingests on a new user's first run lives in `handbook/`.
"""

from __future__ import annotations

from pathlib import Path


def bundled_dir() -> Path:
    """Directory of the bundled sample documents."""
    return Path(__file__).resolve().parent / "handbook"
