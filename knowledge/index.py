"""The knowledge index: one place that owns the embedder, the Chroma collection and BM25.

Ingest writes through `KnowledgeIndex.writer()`; the bot reads through `KnowledgeIndex.search()`.

Storage, all under `<data_dir>/index/`:
- `catalog.sqlite3` is the source of truth: which documents are live, their cleaned text, and
  every chunk with source, title, section path, offsets and search tokens.
- Chroma (a local directory, or a server) holds one vector per evidence unit (a sentence, or a
  list lead-in with one item; see `knowledge.units`). A chunk's dense score is the best score of
  its units, so a question is matched against single sentences as well as whole passages.

Crash safety: a document is replaced in three steps — add the new vectors, switch the catalog
rows in one SQLite transaction, delete the old vectors. Search only returns chunk ids that the
catalog lists, so a process killed between any two steps leaves the previous state fully
usable; vectors left behind are deleted when the next writer opens.
"""

from __future__ import annotations

import hashlib
import math
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
from knowledge.units import build_units

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
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL REFERENCES documents(path) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    quote TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS units_path ON units(path);
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


@dataclass(frozen=True)
class UnitRecord:
    """A stored evidence unit: the exact quote and where it sits in its document."""

    id: str
    chunk: int  # position of its chunk in the snapshot
    start: int
    end: int
    quote: str


@dataclass
class UnitHit:
    """An evidence unit found for a query, with its cosine similarity to the query."""

    unit: UnitRecord
    hit: Hit
    sim: float
    rank: int | None = None  # 0-based rank among all units by similarity, if in the pool


@dataclass
class Retrieval:
    """Everything search found for one query: passages, their units and the score scale."""

    query: str
    hits: list[Hit]
    units: list[UnitHit]
    # Similarities of the query's nearest units in the whole index, best first: the scale
    # against which one unit's similarity is judged (it differs between queries).
    pool: list[float]


@dataclass
class Hit:
    """A search result: the chunk, its fused rank score and the two underlying signals."""

    chunk: ChunkRecord
    score: float
    dense: float
    lexical: float
    rerank: float | None = None  # cross-encoder relevance (0..1) when a reranker is configured
    dense_rank: int | None = None  # 0-based rank among passages by dense score, if found so
    lexical_rank: int | None = None  # 0-based rank by BM25, if found so


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

    def __init__(
        self,
        generation: str,
        records: list[ChunkRecord],
        tokens: list[list[str]],
        units: list[UnitRecord],
    ):
        self.generation = generation
        self.records = records
        self.by_id = {r.id: i for i, r in enumerate(records)}
        self.bm25 = BM25Index(tokens)
        self.units = units
        self.unit_by_id = {u.id: i for i, u in enumerate(units)}
        self._char_idf: dict[str, float] | None = None
        self.units_of: dict[int, list[int]] = {}
        for i, u in enumerate(units):
            self.units_of.setdefault(u.chunk, []).append(i)

    def char_idf(self) -> dict[str, float]:
        """idf of single characters and character pairs over the chunks (built on first use)."""
        if self._char_idf is None:
            df: dict[str, int] = {}
            for r in self.records:
                grams = set(r.text) | {r.text[i : i + 2] for i in range(len(r.text) - 1)}
                for g in grams:
                    df[g] = df.get(g, 0) + 1
            n = len(self.records)
            self._char_idf = {g: math.log(1 + (n - d + 0.5) / (d + 0.5)) for g, d in df.items()}
        return self._char_idf


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
            name = "kaowu-u-" + "".join(
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
        pos = {r.id: i for i, r in enumerate(records)}
        units = [
            UnitRecord(uid, pos[cid], start, end, quote)
            for uid, cid, start, end, quote in self._db.execute(
                'SELECT id, chunk_id, start, "end", quote FROM units ORDER BY path, start, "end"'
            )
            if cid in pos
        ]
        return _Snapshot(generation, records, tokens, units)

    # ---------------------------------------------------------------- search
    def vocabulary(self) -> list[str]:
        """Every search token of the live corpus."""
        return self._current().bm25.terms()

    @property
    def generation(self) -> str:
        """Changes whenever the live corpus changes."""
        return self._current().generation

    def char_idf(self) -> dict[str, float]:
        """idf of characters and character pairs in the live corpus."""
        return self._current().char_idf()

    def idf(self, term: str) -> float:
        """BM25 idf of a token in the live corpus."""
        return self._current().bm25.idf(term)

    def search(self, query: str, k: int = 8, pool: int = 30) -> list[Hit]:
        """Hybrid passage search: dense (best unit per chunk) and BM25, fused by reciprocal rank."""
        return self.retrieve(query, k=k, pool=pool).hits

    def retrieve(self, query: str, k: int = 8, pool: int = 30, n_units: int = 60) -> Retrieval:
        """Passages and evidence units for a query.

        Dense search runs over unit vectors; a chunk's dense score is its best unit's. BM25
        runs over chunks. The two passage rankings are fused by reciprocal rank, and near-
        duplicate chunks (the same passage reposted in another document) are collapsed into the
        better-ranked one. Every unit of a returned chunk comes back with its similarity.
        """
        snap = self._current()
        if not snap.records:
            return Retrieval(query, [], [], [])
        qvec = self.embedder.embed_query(query)
        unit_sim: dict[int, float] = {}
        n = min(n_units * 2, self.collection.count())
        if n:
            res = self.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, include=["distances"]
            )
            for uid, dist in zip(res["ids"][0], res["distances"][0], strict=True):
                j = snap.unit_by_id.get(uid)
                if j is not None and len(unit_sim) < n_units:
                    unit_sim[j] = 1.0 - float(dist)
        scale = sorted(unit_sim.values(), reverse=True)
        dense: dict[int, float] = {}
        for j, sim in unit_sim.items():
            c = snap.units[j].chunk
            dense[c] = max(dense.get(c, -1.0), sim)
        dense_order = sorted(dense, key=lambda i: -dense[i])[:pool]
        lexical = dict(snap.bm25.top(tokenize(query), pool))
        fused: dict[int, float] = {}
        for ranking in (dense_order, list(lexical)):
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (60 + rank)
        order = sorted(fused, key=lambda i: -fused[i])
        chosen: list[int] = []
        kept_shingles: list[set[str]] = []
        for i in order:
            sh = char_shingles(snap.records[i].text)
            if any(overlap(sh, other) >= 0.8 for other in kept_shingles):
                continue
            kept_shingles.append(sh)
            chosen.append(i)
            if len(chosen) >= k:
                break
        # Units of the chosen chunks that dense search did not reach still need a similarity.
        missing = [j for i in chosen for j in snap.units_of.get(i, []) if j not in unit_sim]
        if missing:
            vecs = self._vectors([snap.units[j].id for j in missing])
            for j in missing:
                v = vecs.get(snap.units[j].id)
                unit_sim[j] = float(np.dot(v, qvec)) if v is not None else 0.0
        unit_rank = {j: r for r, j in enumerate(sorted(unit_sim, key=lambda j: -unit_sim[j]))}
        pooled = set(unit_rank) - set(missing)
        dense_rank = {i: r for r, i in enumerate(dense_order)}
        lexical_rank = {i: r for r, i in enumerate(lexical)}
        hits: list[Hit] = []
        units: list[UnitHit] = []
        for i in chosen:
            own = snap.units_of.get(i, [])
            best = max((unit_sim[j] for j in own), default=0.0)
            hit = Hit(
                snap.records[i],
                fused[i],
                best,
                lexical.get(i, 0.0),
                dense_rank=dense_rank.get(i),
                lexical_rank=lexical_rank.get(i),
            )
            hits.append(hit)
            units.extend(
                UnitHit(snap.units[j], hit, unit_sim[j], unit_rank[j] if j in pooled else None)
                for j in own
            )
        return Retrieval(query, hits, units, scale)

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
        return {r[0] for r in self._db.execute("SELECT id FROM units")}

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
        """Add or replace one document (vectors first, then the catalog switch, then cleanup).

        `progress` is called with the number of chunks done after each batch.
        """
        idx = self.index
        # Ids differ between versions of a document, so old and new vectors can coexist until
        # the catalog switches over.
        stem = hashlib.sha1(doc.path.encode()).hexdigest()[:10] + ":" + doc.fingerprint[:12]
        ids = [f"{stem}:{c.ord}" for c in doc.chunks]
        texts = [embed_text(doc.title, c.context, c.text) for c in doc.chunks]
        units = build_units(doc.title, doc.chunks)
        unit_ids = [f"{stem}:u{n}" for n in range(len(units))]
        chunk_id = {c.ord: cid for c, cid in zip(doc.chunks, ids, strict=True)}
        batch = 32
        done_chunks = 0
        for b in range(0, len(units), batch):
            part = units[b : b + batch]
            vecs = idx.embedder.embed_passages([u.embed for u in part])
            metas = [{"path": doc.path, "start": u.start, "end": u.end} for u in part]
            idx.collection.upsert(
                ids=unit_ids[b : b + batch],
                embeddings=vecs.tolist(),
                metadatas=metas,
                documents=[u.quote for u in part],
            )
            if progress:
                reached = part[-1].chunk_ord + 1 if b + batch < len(units) else len(doc.chunks)
                progress(reached - done_chunks)
                done_chunks = reached
        if progress and done_chunks < len(doc.chunks):
            progress(len(doc.chunks) - done_chunks)
        old = [r[0] for r in idx._db.execute("SELECT id FROM units WHERE path=?", (doc.path,))]
        with idx._db:  # one transaction: the document switches from old to new at once
            idx._db.execute("DELETE FROM units WHERE path=?", (doc.path,))
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
            idx._db.executemany(
                "INSERT INTO units VALUES (?,?,?,?,?,?)",
                [
                    (uid, doc.path, chunk_id[u.chunk_ord], u.start, u.end, u.quote)
                    for uid, u in zip(unit_ids, units, strict=True)
                ],
            )
            self._bump()
        stale = sorted(set(old) - set(unit_ids))
        for i in range(0, len(stale), 500):
            idx.collection.delete(ids=stale[i : i + 500])

    def remove(self, path: str) -> None:
        """Remove one document (catalog first, then its vectors)."""
        idx = self.index
        old = [r[0] for r in idx._db.execute("SELECT id FROM units WHERE path=?", (path,))]
        with idx._db:
            idx._db.execute("DELETE FROM units WHERE path=?", (path,))
            idx._db.execute("DELETE FROM chunks WHERE path=?", (path,))
            idx._db.execute("DELETE FROM documents WHERE path=?", (path,))
            self._bump()
        for i in range(0, len(old), 500):
            idx.collection.delete(ids=old[i : i + 500])

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
