"""The knowledge index: one place that owns the embedder, the Chroma collection and BM25.

Ingest writes through `KnowledgeIndex.writer()`; the bot reads through `KnowledgeIndex.search()`.

Storage, all under `<data_dir>/index/`:
- `catalog.sqlite3` is the source of truth: which documents are live, their cleaned text, and
  every chunk with source, title, section path, offsets and search tokens.
- Chroma (a local directory, or a server) holds one vector per chunk id.

Crash safety: a document is replaced in three steps — add the new vectors, switch the catalog
rows in one SQLite transaction, delete the old vectors. Search only returns chunk ids that the
catalog lists, so a process killed between any two steps leaves the previous state fully
usable; vectors left behind are deleted when the next writer opens.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.lexical import BM25Index, tokenize
from knowledge.textutil import char_shingles, overlap

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    path TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    text TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL REFERENCES documents(path) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    section TEXT NOT NULL,
    context TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
"""


class IndexUnavailable(RuntimeError):
    """The vector store cannot be reached; the message (Chinese) says what to check."""


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk with everything a citation needs."""

    id: str
    path: str
    source: str
    title: str
    section: str
    context: str
    start: int
    end: int
    text: str


@dataclass
class Hit:
    """A search result: the chunk, its fused rank score and the two underlying signals."""

    chunk: ChunkRecord
    score: float
    dense: float
    lexical: float
    rerank: float | None = None  # cross-encoder relevance (0..1) when a reranker is configured


@dataclass(frozen=True)
class PreparedDocument:
    """A cleaned, chunked document ready to be written."""

    path: str
    source: str
    title: str
    fingerprint: str
    text: str
    chunks: Sequence[Any]  # ingest.chunk.Chunk


@dataclass(frozen=True)
class DocumentInfo:
    """What the catalog knows about a live document."""

    path: str
    source: str
    title: str
    fingerprint: str
    n_chunks: int


def embed_text(title: str, context: str, text: str) -> str:
    """The text embedded and BM25-indexed for a chunk: its headings (or title), then itself."""
    lead = context or title
    return f"{lead}\n{text}" if lead else text


class _Snapshot:
    """Read-side state built from the catalog: records, live ids and the BM25 index."""

    def __init__(self, generation: str, records: list[ChunkRecord], tokens: list[list[str]]):
        self.generation = generation
        self.records = records
        self.by_id = {r.id: i for i, r in enumerate(records)}
        self.bm25 = BM25Index(tokens)


class KnowledgeIndex:
    """Catalog + vectors + BM25 for the knowledge base."""

    def __init__(
        self,
        data_dir: Path,
        embedder_factory: Callable[[], Embedder],
        chroma_host: str | None = None,
        chroma_port: int = 8000,
    ) -> None:
        self.root = Path(data_dir) / "index"
        self.root.mkdir(parents=True, exist_ok=True)
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._chroma_host, self._chroma_port = chroma_host, chroma_port
        self._collection: Any = None
        self._snapshot: _Snapshot | None = None
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "catalog.sqlite3", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._db.commit()

    # ---------------------------------------------------------------- components
    @property
    def embedder(self) -> Embedder:
        """The embedder, created on first use (model loading is the slow part of start-up)."""
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def collection(self) -> Any:
        """The Chroma collection for this embedder (one per embedder: vector spaces differ)."""
        if self._collection is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            settings = ChromaSettings(anonymized_telemetry=False)
            if self._chroma_host:
                try:
                    client = chromadb.HttpClient(
                        host=self._chroma_host, port=self._chroma_port, settings=settings
                    )
                except Exception as exc:  # the client raises ValueError/ConnectionError variants
                    raise IndexUnavailable(
                        f"无法连接 Chroma 服务器 {self._chroma_host}:{self._chroma_port}。"
                        "请确认服务已启动，或清空 CHROMA_HOST 改用本地目录。"
                    ) from exc
            else:
                client = chromadb.PersistentClient(
                    path=str(self.root / "chroma"), settings=settings
                )
            name = "kaowu-" + "".join(
                c if c.isalnum() or c in "-_." else "-" for c in self.embedder.name
            )
            self._collection = client.get_or_create_collection(
                name[:60], metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        return self._collection

    def close(self) -> None:
        """Release the catalog connection."""
        self._db.close()

    # ---------------------------------------------------------------- catalog reads
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def documents(self) -> list[DocumentInfo]:
        """Live documents, by path."""
        rows = self._db.execute(
            "SELECT path, source, title, fingerprint, n_chunks FROM documents ORDER BY path"
        ).fetchall()
        return [DocumentInfo(*r) for r in rows]

    def document_text(self, path: str) -> str | None:
        """The cleaned text of a live document (offsets in citations refer to it)."""
        row = self._db.execute("SELECT text FROM documents WHERE path=?", (path,)).fetchone()
        return row[0] if row else None

    def chunk(self, chunk_id: str) -> ChunkRecord | None:
        """One live chunk by id."""
        snap = self._current()
        i = snap.by_id.get(chunk_id)
        return None if i is None else snap.records[i]

    @property
    def size(self) -> int:
        """Number of live chunks."""
        return len(self._current().records)

    def _current(self) -> _Snapshot:
        with self._lock:
            generation = self._meta("generation") or "0"
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = self._load_snapshot(generation)
            return self._snapshot

    def _load_snapshot(self, generation: str) -> _Snapshot:
        rows = self._db.execute(
            'SELECT c.id, c.path, d.source, d.title, c.section, c.context, c.start, c."end", '
            "c.text, c.tokens FROM chunks c JOIN documents d ON d.path = c.path "
            "ORDER BY c.path, c.ord"
        ).fetchall()
        records = [ChunkRecord(*r[:9]) for r in rows]
        tokens = [r[9].split(" ") if r[9] else [] for r in rows]
        return _Snapshot(generation, records, tokens)

    # ---------------------------------------------------------------- search
    def idf(self, term: str) -> float:
        """BM25 idf of a token in the live corpus."""
        return self._current().bm25.idf(term)

    def search(self, query: str, k: int = 8, pool: int = 30) -> list[Hit]:
        """Hybrid search: dense (Chroma) and BM25 candidates fused by reciprocal rank.

        Near-duplicate chunks (the same passage reposted in another document) are collapsed
        into the better-ranked one so they do not crowd the results.
        """
        snap = self._current()
        if not snap.records:
            return []
        qvec = self.embedder.embed_query(query)
        dense: dict[int, float] = {}
        n = min(pool * 2, self.collection.count())
        if n:
            res = self.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, include=["distances"]
            )
            for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True):
                i = snap.by_id.get(cid)
                if i is not None and len(dense) < pool:
                    dense[i] = 1.0 - float(dist)
        lexical = dict(snap.bm25.top(tokenize(query), pool))
        fused: dict[int, float] = {}
        for ranking in (sorted(dense, key=lambda i: -dense[i]), list(lexical)):
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (60 + rank)
        # Chunks found only lexically still need a dense similarity for answer decisions.
        missing = [i for i in fused if i not in dense]
        if missing:
            vecs = self._vectors([snap.records[i].id for i in missing])
            for i in missing:
                v = vecs.get(snap.records[i].id)
                dense[i] = float(np.dot(v, qvec)) if v is not None else 0.0
        order = sorted(fused, key=lambda i: -fused[i])
        hits: list[Hit] = []
        kept_shingles: list[set[str]] = []
        for i in order:
            rec = snap.records[i]
            sh = char_shingles(rec.text)
            if any(overlap(sh, other) >= 0.8 for other in kept_shingles):
                continue
            kept_shingles.append(sh)
            hits.append(Hit(rec, fused[i], dense.get(i, 0.0), lexical.get(i, 0.0)))
            if len(hits) >= k:
                break
        return hits

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {
            cid: np.asarray(vec, dtype=np.float32)
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
        }

    # ---------------------------------------------------------------- writes
    @contextmanager
    def writer(self) -> Iterator[IndexWriter]:
        """Open a writer; vectors orphaned by an earlier crash are removed first."""
        with self._lock:
            self._collect_garbage()
            yield IndexWriter(self)

    def _live_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT id FROM chunks")}

    def _collect_garbage(self) -> int:
        live = self._live_ids()
        stored = set(self.collection.get(include=[])["ids"])
        orphans = sorted(stored - live)
        for i in range(0, len(orphans), 500):
            self.collection.delete(ids=orphans[i : i + 500])
        return len(orphans)

    def built_with_other_embedder(self) -> str | None:
        """The embedder the stored vectors came from, if it is not the configured one.

        Vectors from another model cannot be searched with this one; until a re-ingest, only
        keyword search finds anything.
        """
        built = self._meta("embedder")
        if built is None or not self.documents() or built == self.embedder.name:
            return None
        return built


class IndexWriter:
    """Adds, replaces and removes documents, each in its own crash-safe step."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    def put(self, doc: PreparedDocument, progress: Callable[[int], None] | None = None) -> None:
        """Add or replace one document (vectors first, then the catalog switch, then cleanup)."""
        idx = self.index
        # Ids differ between versions of a document, so old and new vectors can coexist until
        # the catalog switches over.
        stem = hashlib.sha1(doc.path.encode()).hexdigest()[:10] + ":" + doc.fingerprint[:12]
        ids = [f"{stem}:{c.ord}" for c in doc.chunks]
        texts = [embed_text(doc.title, c.context, c.text) for c in doc.chunks]
        batch = 32
        for b in range(0, len(texts), batch):
            vecs = idx.embedder.embed_passages(texts[b : b + batch])
            metas = [
                {
                    "path": doc.path,
                    "source": doc.source,
                    "title": doc.title,
                    "section": c.section_path,
                    "start": c.start,
                    "end": c.end,
                }
                for c in doc.chunks[b : b + batch]
            ]
            idx.collection.upsert(
                ids=ids[b : b + batch],
                embeddings=vecs.tolist(),
                metadatas=metas,
                documents=[c.text for c in doc.chunks[b : b + batch]],
            )
            if progress:
                progress(len(metas))
        old = [r[0] for r in idx._db.execute("SELECT id FROM chunks WHERE path=?", (doc.path,))]
        with idx._db:  # one transaction: the document switches from old to new at once
            idx._db.execute("DELETE FROM chunks WHERE path=?", (doc.path,))
            idx._db.execute("DELETE FROM documents WHERE path=?", (doc.path,))
            idx._db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?)",
                (
                    doc.path,
                    doc.source,
                    doc.title,
                    doc.fingerprint,
                    doc.text,
                    len(doc.chunks),
                    time.time(),
                ),
            )
            idx._db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        cid,
                        doc.path,
                        c.ord,
                        c.section_path,
                        c.context,
                        c.start,
                        c.end,
                        c.text,
                        " ".join(tokenize(t)),
                    )
                    for cid, c, t in zip(ids, doc.chunks, texts, strict=True)
                ],
            )
            self._bump()
        stale = [i for i in old if i not in set(ids)]
        if stale:
            idx.collection.delete(ids=stale)

    def remove(self, path: str) -> None:
        """Remove one document (catalog first, then its vectors)."""
        idx = self.index
        old = [r[0] for r in idx._db.execute("SELECT id FROM chunks WHERE path=?", (path,))]
        with idx._db:
            idx._db.execute("DELETE FROM chunks WHERE path=?", (path,))
            idx._db.execute("DELETE FROM documents WHERE path=?", (path,))
            self._bump()
        if old:
            idx.collection.delete(ids=old)

    def _bump(self) -> None:
        db = self.index._db
        db.execute(
            "INSERT INTO meta VALUES ('generation', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (f"{time.time_ns()}",),
        )
        db.execute(
            "INSERT INTO meta VALUES ('embedder', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (self.index.embedder.name,),
        )
