"""Optional cross-encoder reranking of retrieved passages (RERANKER=<name or path>)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from knowledge.embeddings import EmbedderUnavailable, sentence_transformers


class RerankerUnavailable(RuntimeError):
    """The configured reranker cannot be loaded; the message (Chinese) says how to fix it."""


class Reranker:
    """A sentence-transformers CrossEncoder scoring (question, passage) pairs."""

    def __init__(self, model: str) -> None:
        try:
            st = sentence_transformers("RERANKER")
        except EmbedderUnavailable as exc:
            raise RerankerUnavailable(str(exc)) from exc
        try:
            self._model = st.CrossEncoder(model, device="cpu")
        except Exception as exc:  # several error types for a missing or broken model
            raise RerankerUnavailable(
                f"找不到重排序模型 {model!r}：请填写本机上的模型目录或本机缓存中的模型名（不会联网下载）。"
            ) from exc
        self.name = model

    def raw_scores(self, query: str, passages: Sequence[str]) -> list[float]:
        """The model's own score of each (query, passage) pair."""
        if not passages:
            return []
        raw = self._model.predict([(query, p) for p in passages], show_progress_bar=False)
        return [float(x) for x in raw]

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance of each passage relative to the others, 0..1 (best = 1).

        Normalised per query, so it reads the same whether or not the model applies its own
        activation to its logits.
        """
        raw = self.raw_scores(query, passages)
        if not raw:
            return []
        lo, hi = min(raw), max(raw)
        if math.isclose(lo, hi):
            return [0.5] * len(raw)
        return [(x - lo) / (hi - lo) for x in raw]
