"""Keyword search: BM25 over jieba tokens.

Chroma has no BM25; dense search alone misses exact terms such as "12345", "双对调" or a form
name, so the index keeps this lexical side next to the vectors and fuses the two.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

_KEEP = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


_cache_dir: Path | None = None
_tokenizer_lock = threading.Lock()


def set_cache_dir(path: Path) -> None:
    """Keep jieba's dictionary cache in `path` (the data directory), not in the system /tmp.

    Takes effect if the tokenizer has not been built yet in this process.
    """
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(path)


@lru_cache(maxsize=1)
def _build_tokenizer() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    if _cache_dir is not None:
        tk.tmp_dir = str(_cache_dir)
        tk.cache_file = "jieba.cache"
    with resources.as_file(resources.files("knowledge") / "domain_words.txt") as path:
        tk.load_userdict(str(path))
    return tk


def _tokenizer() -> Any:
    # Built once even when the first questions arrive on several threads at once.
    with _tokenizer_lock:
        return _build_tokenizer()


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function words and question words that carry no topic."""
    text = (resources.files("knowledge") / "stopwords.txt").read_text(encoding="utf-8")
    return frozenset(text.split())


def tokenize(text: str) -> list[str]:
    """Search tokens: jieba search-mode words, lower-cased, without stopwords and punctuation."""
    stop = stopwords()
    out: list[str] = []
    for tok in _tokenizer().cut_for_search(text):
        tok = tok.strip().lower()
        if tok and tok not in stop and _KEEP.search(tok):
            out.append(tok)
    return out


def segment(text: str) -> list[str]:
    """Dictionary words in order (precise mode, no guessing of unknown words)."""
    return [t for t in _tokenizer().cut(text, HMM=False) if t]


def is_word(text: str) -> bool:
    """Whether the general dictionary (or kaowu's domain words) knows `text` as a word."""
    tk = _tokenizer()
    tk.check_initialized()
    return tk.FREQ.get(text, 0) > 0


def key_terms(text: str) -> list[str]:
    """Content words of a question, in order, each once (precise jieba mode, no stopwords)."""
    stop = stopwords()
    out: list[str] = []
    for tok in _tokenizer().cut(text, HMM=False):
        tok = tok.strip().lower()
        if tok and tok not in stop and _KEEP.search(tok) and tok not in out:
            if _QUESTION_WORD.match(tok):
                continue
            out.append(tok)
    return out


# "几级", "几年", "多少天": asking for a number, not naming a topic.
_QUESTION_WORD = re.compile(r"^(几.{0,2}|多少.?|多[久长大远高]|哪.{0,2})$")


def subwords(term: str) -> list[str]:
    """The shorter dictionary words inside a compound term (英语听力 -> 英语, 听力)."""
    parts = [t for t in _tokenizer().cut_for_search(term, HMM=False) if t != term and len(t) > 1]
    return list(dict.fromkeys(parts))


class BM25Index:
    """An in-memory BM25 (Okapi) index over pre-tokenised documents."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        self.avgdl = float(lengths.mean()) if self.n else 0.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        norm = k1 * (1 - b + b * lengths / self.avgdl) if self.n else lengths
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            idx = np.asarray(ids, dtype=np.int32)
            freq = np.asarray(tfs, dtype=np.float32)
            self._postings[term] = (idx, freq * (k1 + 1) / (freq + norm[idx]))

    def terms(self) -> list[str]:
        """Every indexed token."""
        return list(self._postings)

    def df(self, term: str) -> int:
        """Number of documents containing `term`."""
        hit = self._postings.get(term)
        return 0 if hit is None else len(hit[0])

    def idf(self, term: str) -> float:
        """BM25 idf; a term absent from the corpus gets the highest value."""
        df = self.df(term)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query_tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every document for the query."""
        out = np.zeros(self.n, dtype=np.float32)
        for term in set(query_tokens):
            hit = self._postings.get(term)
            if hit is not None:
                out[hit[0]] += self.idf(term) * hit[1]
        return out

    def top(self, query_tokens: Iterable[str], k: int) -> list[tuple[int, float]]:
        """The k best documents as (position, score), best first, zero scores left out."""
        s = self.scores(query_tokens)
        if not self.n:
            return []
        k = min(k, self.n)
        idx = np.argpartition(-s, k - 1)[:k]
        idx = idx[np.argsort(-s[idx])]
        return [(int(i), float(s[i])) for i in idx if s[i] > 0]
