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

One writer at a time, across processes: writers hold `index/.write.lock` (flock), so one
ingest's clean-up can never take another's fresh vectors for leftovers. Readers take no lock;
on a read-only data directory they open the catalog read-only and search a private copy of
the vectors.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import prompts
from knowledge.embeddings import Embedder
from knowledge.lexical import BM25Index, set_cache_dir, tokenize
from knowledge.textutil import char_shingles, overlap
from knowledge.units import UnitBuilder

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
CREATE TABLE IF NOT EXISTS document_parts (
    path TEXT NOT NULL REFERENCES documents(path) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (path, part)
);
"""


class IndexUnavailable(RuntimeError):
    """The vector store cannot be reached; the message (Chinese) says what to check."""


class IndexReadOnly(IndexUnavailable):
    """The data directory cannot be written; searching works, ingesting does not."""


class IndexBusy(IndexUnavailable):
    """Another process kept the index's write lock past the wait limit."""


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
    chunks: Sequence[Any] | SegmentedChunks  # of ingest.chunk.Chunk


@dataclass(frozen=True)
class DocumentInfo:
    """What the catalog knows about a live document."""

    path: str
    source: str
    title: str
    fingerprint: str
    n_chunks: int
    ingested_at: float = 0.0  # seconds since the epoch


class SegmentedChunks(Protocol):
    """Chunks of a document too large to hold at once, produced segment by segment.

    `take_text` returns the cleaned text produced since the last call; the pieces, joined in
    order, are the document text that chunk offsets refer to.
    """

    def __iter__(self) -> Iterator[Any]:
        """The chunks, in order."""
        ...

    def take_text(self) -> list[str]:
        """Cleaned text produced since the last call."""
        ...


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
        # Every unit's vector, row j for units[j], for exact search (loaded on first search).
        self.matrix: np.ndarray | None = None

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
            # A gram the corpus lacks weighs like its rarest one.
            self._char_idf[""] = max(self._char_idf.values(), default=1.0)
        return self._char_idf


class KnowledgeIndex:
    """Catalog + vectors + BM25 for the knowledge base."""

    def __init__(
        self,
        data_dir: Path,
        embedder_factory: Callable[[], Embedder],
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        chroma_timeout: float = 10.0,
    ) -> None:
        self.root = Path(data_dir) / "index"
        # A read-only data directory cannot get one; searching still works (_open_catalog).
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._chroma_host, self._chroma_port = chroma_host, chroma_port
        self._chroma_timeout = chroma_timeout
        self._collection: Any = None
        self._snapshot: _Snapshot | None = None
        self._lock = threading.RLock()
        # Separate locks: the collection needs the embedder, and neither should block reads.
        self._embedder_lock = threading.Lock()
        self._collection_lock = threading.Lock()
        # Guards the write-lock depth; not self._lock, so waiting for another process's ingest
        # never blocks searches in this one.
        self._write_mutex = threading.RLock()
        self._write_depth = 0
        self._chroma_copy: str | None = None
        self.read_only = not self._writable()
        if not self.read_only or os.access(self.root / "jieba.cache", os.R_OK):
            set_cache_dir(self.root)  # jieba's dictionary cache stays with the data
        self._db = self._open_catalog()

    def _writable(self) -> bool:
        catalog = self.root / "catalog.sqlite3"
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            return False
        return not catalog.exists() or os.access(catalog, os.R_OK | os.W_OK)

    def _open_catalog(self) -> sqlite3.Connection:
        """The catalog, read-write; read-only (creating no file) when the directory is."""
        path = self.root / "catalog.sqlite3"
        if not self.read_only:
            # Two processes creating the catalog at once (two ingests on a new data directory)
            # could meet in the switch to WAL, which SQLite refuses as "database is locked"
            # without waiting; the set-up lock Chroma's first start uses serialises it too.
            with self._flock(".setup.lock"):
                db = sqlite3.connect(path, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.executescript(SCHEMA)
                db.commit()
            return db
        if path.exists():
            # mode=ro still needs the WAL index file; immutable reads the file as it is, which is
            # right for a directory nobody can write to.
            for flags in ("mode=ro", "mode=ro&immutable=1"):
                try:
                    db = sqlite3.connect(
                        f"{path.as_uri()}?{flags}", uri=True, check_same_thread=False
                    )
                    db.execute("SELECT count(*) FROM documents").fetchone()
                    return db
                except sqlite3.Error:
                    continue
        db = sqlite3.connect(":memory:", check_same_thread=False)  # no catalog yet: empty
        db.executescript(SCHEMA)
        return db

    # ---------------------------------------------------------------- components
    @property
    def embedder(self) -> Embedder:
        """The embedder, created on first use (model loading is the slow part of start-up)."""
        if self._embedder is None:
            with self._embedder_lock:  # several threads may ask first; load the model once
                if self._embedder is None:
                    self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def collection(self) -> Any:
        """The Chroma collection for this embedder (one per embedder: vector spaces differ)."""
        if self._collection is None:
            with self._collection_lock:
                if self._collection is None:
                    self._collection = self._open_collection()
        return self._collection

    def _open_collection(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        # "-u-": one vector per evidence unit (an index of passage vectors is not reused)
        name = "kaowu-u-" + "".join(
            c if c.isalnum() or c in "-_." else "-" for c in self.embedder.name
        )
        if self._chroma_host:
            client = self._http_client(settings)
            try:
                return _Guarded(_unit_collection(client, name[:60]), self._unreachable)
            except Exception as exc:
                raise self._unreachable() from exc
        if self.read_only:
            return self._read_only_collection(chromadb, settings, name[:60])
        # Chroma's first start on a directory is not safe against a second process doing the
        # same; this short lock (separate from the write lock, so readers never wait for an
        # ingest) serialises it.
        with self._flock(".setup.lock"):
            client = chromadb.PersistentClient(path=str(self.root / "chroma"), settings=settings)
            return _unit_collection(client, name[:60])

    def _unreachable(self) -> IndexUnavailable:
        return IndexUnavailable(
            prompts.render(
                "index_unreachable",
                host=self._chroma_host,
                port=self._chroma_port,
                seconds=f"{self._chroma_timeout:g}",
            )
        )

    def _http_client(self, settings: Any) -> Any:
        """A Chroma HTTP client whose every request gives up after CHROMA_TIMEOUT seconds."""
        import chromadb
        import httpx

        # The client's own first requests have no timeout; a server that accepts connections
        # but never answers would hang here, so ask for a heartbeat with a deadline first.
        url = f"http://{self._chroma_host}:{self._chroma_port}/api/v2/heartbeat"
        try:
            httpx.get(url, timeout=self._chroma_timeout).raise_for_status()
            client = chromadb.HttpClient(
                host=str(self._chroma_host), port=self._chroma_port, settings=settings
            )
        except Exception as exc:  # httpx and the client raise several types
            raise self._unreachable() from exc
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:
            session.timeout = httpx.Timeout(self._chroma_timeout)
        return client

    def _read_only_collection(self, chromadb: Any, settings: Any, name: str) -> Any:
        """Chroma cannot open a directory it cannot write; search a private copy instead."""
        source = self.root / "chroma"
        if not source.is_dir():
            return _EmptyCollection()
        self._chroma_copy = tempfile.mkdtemp(prefix="kaowu-chroma-")
        try:
            # Plain copies: the originals' read-only modes would stop Chroma again.
            shutil.copytree(
                source, self._chroma_copy, dirs_exist_ok=True, copy_function=shutil.copyfile
            )
            for folder, _, _ in os.walk(self._chroma_copy):
                os.chmod(folder, 0o700)
            client = chromadb.PersistentClient(path=self._chroma_copy, settings=settings)
            return _unit_collection(client, name)
        except Exception as exc:
            shutil.rmtree(self._chroma_copy, ignore_errors=True)
            self._chroma_copy = None
            raise IndexReadOnly(
                prompts.render("index_read_only_search", path=self.root, reason=exc)
            ) from exc

    @contextmanager
    def _flock(self, name: str) -> Iterator[None]:
        with open(self.root / name, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def write_lock(
        self, timeout: float = 3600.0, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the index's one-writer lock (across processes); `on_wait` hears if we queue.

        Nested use in one process is allowed (ingest holds it around `writer()`).
        """
        if self.read_only:
            raise IndexReadOnly(prompts.render("index_read_only", path=self.root))
        with self._write_mutex:
            if self._write_depth:
                self._write_depth += 1
                try:
                    yield
                finally:
                    self._write_depth -= 1
                return
            fh = open(self.root / ".write.lock", "a+")  # noqa: SIM115 - held across the yield
            try:
                self._acquire(fh, timeout, on_wait)
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
                self._write_depth = 1
                try:
                    yield
                finally:
                    self._write_depth = 0
                    fcntl.flock(fh, fcntl.LOCK_UN)
            finally:
                fh.close()

    @staticmethod
    def _acquire(fh: Any, timeout: float, on_wait: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not told and on_wait is not None:
                fh.seek(0)
                holder = fh.read().strip() or "?"
                on_wait(prompts.render("ingest_waiting", pid=holder, seconds=f"{timeout:g}"))
                told = True
            if time.monotonic() >= deadline:
                raise IndexBusy(prompts.render("ingest_busy", seconds=f"{timeout:g}"))
            time.sleep(0.2)

    def close(self) -> None:
        """Release the catalog connection (and the private copy of a read-only index)."""
        self._db.close()
        if self._chroma_copy is not None:
            shutil.rmtree(self._chroma_copy, ignore_errors=True)
            self._chroma_copy = None

    # ---------------------------------------------------------------- catalog reads
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def documents(self) -> list[DocumentInfo]:
        """Live documents, by path."""
        rows = self._db.execute(
            "SELECT path, source, title, fingerprint, n_chunks, ingested_at FROM documents "
            "ORDER BY path"
        ).fetchall()
        return [DocumentInfo(*r) for r in rows]

    def document_text(self, path: str) -> str | None:
        """The cleaned text of a live document (offsets in citations refer to it)."""
        row = self._db.execute("SELECT text FROM documents WHERE path=?", (path,)).fetchone()
        if not row:
            return None
        try:  # a large document is stored in parts
            parts = self._db.execute(
                "SELECT text FROM document_parts WHERE path=? ORDER BY part", (path,)
            ).fetchall()
        except sqlite3.OperationalError:  # a catalog from before parts, opened read-only
            parts = []
        return str(row[0]) + "".join(p[0] for p in parts)

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
        """idf of characters and character pairs in the live corpus ("" holds the highest)."""
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
        matrix = self._matrix(snap)
        # On the exact path every unit's similarity is computed once; the chosen passages'
        # units outside the nearest n_units read theirs from it.
        all_sims: np.ndarray | None = None
        if matrix is not None:
            all_sims = _scan(matrix, qvec)
            unit_sim = _exact_nearest(snap, all_sims, n_units)
        else:
            unit_sim = self._approximate_nearest(snap, qvec, n_units)
        scale = sorted(unit_sim.values(), reverse=True)
        dense: dict[int, float] = {}
        for j, sim in unit_sim.items():
            c = snap.units[j].chunk
            dense[c] = max(dense.get(c, -1.0), sim)
        dense_order = sorted(dense, key=lambda i: (-dense[i], i))[:pool]
        lexical = dict(snap.bm25.top(tokenize(query), pool))
        fused: dict[int, float] = {}
        for ranking in (dense_order, list(lexical)):
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (60 + rank)
        order = sorted(fused, key=lambda i: (-fused[i], i))
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
        if missing and all_sims is not None:
            for j in missing:
                sim = float(all_sims[j])
                unit_sim[j] = sim if math.isfinite(sim) else 0.0
        elif missing:
            vecs = self._vectors([snap.units[j].id for j in missing])
            for j in missing:
                v = vecs.get(snap.units[j].id)
                unit_sim[j] = float(np.dot(v, qvec)) if v is not None else 0.0
        unit_rank = {j: r for r, j in enumerate(sorted(unit_sim, key=lambda j: (-unit_sim[j], j)))}
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

    def _approximate_nearest(
        self, snap: _Snapshot, qvec: np.ndarray, n_units: int
    ) -> dict[int, float]:
        """The units nearest to the query by Chroma's HNSW search (a server, or a large index)."""
        unit_sim: dict[int, float] = {}
        # Every unit the catalog lists has its vector stored first, so the catalog's count bounds
        # the request without asking Chroma (a count there took a fifth of an answer's time).
        n = min(n_units * 2, len(snap.units))
        if n:
            res = self.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, include=["distances"]
            )
            # Identical sentences (a law repeats "构成犯罪的，依法追究刑事责任。") tie; ordering
            # ties by id keeps the same units above the cut from one run to the next.
            found = sorted(zip(res["distances"][0], res["ids"][0], strict=True))
            for dist, uid in found:
                j = snap.unit_by_id.get(uid)
                if j is not None and len(unit_sim) < n_units:
                    unit_sim[j] = 1.0 - float(dist)
        return unit_sim

    def _matrix(self, snap: _Snapshot) -> np.ndarray | None:
        """Every unit's vector for exact search, or None where search stays approximate.

        Chroma's local HNSW graph differs from one process to the next, and missed up to one of
        a question's three nearest sentences in some of them (1,321 units, search breadth 200):
        the same question could get different evidence after a restart. On one machine's scale
        an exact scan is a few milliseconds, so the vectors are read once per corpus version.
        A Chroma server (a province's index) and very large indexes keep HNSW.
        """
        if self._chroma_host or not snap.units or len(snap.units) > EXACT_SEARCH_MAX_UNITS:
            return None
        with self._lock:
            if snap.matrix is None:
                # A unit without a vector (left by a crash, or stored for another embedder) is a
                # NaN row: a scan never returns it, as HNSW would not.
                matrix = np.full((len(snap.units), self.embedder.dim), np.nan, dtype=np.float32)
                ids = [u.id for u in snap.units]
                for i in range(0, len(ids), 2000):
                    vecs = self._vectors(ids[i : i + 2000])
                    for j in range(i, min(i + 2000, len(ids))):
                        v = vecs.get(ids[j])
                        if v is not None and v.shape[0] == matrix.shape[1]:
                            matrix[j] = v
                snap.matrix = matrix
            return snap.matrix

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {
            cid: np.asarray(vec, dtype=np.float32)
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
        }

    # ---------------------------------------------------------------- writes
    @contextmanager
    def writer(self) -> Iterator[IndexWriter]:
        """Open a writer under the write lock; vectors orphaned by an earlier crash go first.

        Only the lock holder may collect garbage: another writer's new vectors are not in the
        catalog yet and would look orphaned.
        """
        with self.write_lock(), self._lock:
            self._collect_garbage()
            yield IndexWriter(self)

    def incomplete(self) -> set[str]:
        """Documents whose listed units lack vectors; the next ingest embeds them again."""
        live = self._db.execute("SELECT id, path FROM units").fetchall()
        if not live:
            return set()
        stored = set(self.collection.get(include=[])["ids"])
        return {path for cid, path in live if cid not in stored}

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

    def put(self, doc: PreparedDocument, progress: Callable[[int], None] | None = None) -> int:
        """Add or replace one document (vectors first, then the catalog switch, then cleanup).

        Returns the number of chunks stored. Chunks and their sentence units are embedded and
        written batch by batch, so a document of any size needs only one batch in memory; the
        catalog rows go into one open transaction that switches the document at commit. A
        crash before that leaves the old version and orphan vectors.
        """
        idx = self.index
        db = idx._db
        # Ids differ between versions of a document, so old and new vectors can coexist until
        # the catalog switches over.
        stem = hashlib.sha1(doc.path.encode()).hexdigest()[:10] + ":" + doc.fingerprint[:12]
        old = [r[0] for r in db.execute("SELECT id FROM units WHERE path=?", (doc.path,))]
        take_text = getattr(doc.chunks, "take_text", None)
        builder = UnitBuilder(doc.title)
        count = parts = 0
        with db:  # one transaction: the document switches from old to new at once
            db.execute("DELETE FROM units WHERE path=?", (doc.path,))
            db.execute("DELETE FROM chunks WHERE path=?", (doc.path,))
            db.execute("DELETE FROM documents WHERE path=?", (doc.path,))
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?)",
                (doc.path, doc.source, doc.title, doc.fingerprint, doc.text, 0, time.time()),
            )
            batch: list[Any] = []
            for chunk in doc.chunks:
                batch.append(chunk)
                if len(batch) == 32:
                    count += self._write_batch(doc, stem, batch, builder, progress)
                    batch = []
                if take_text is not None:
                    parts = self._write_parts(doc.path, parts, take_text())
            if batch:
                count += self._write_batch(doc, stem, batch, builder, progress)
            if take_text is not None:
                self._write_parts(doc.path, parts, take_text())
            db.execute("UPDATE documents SET n_chunks=? WHERE path=?", (count, doc.path))
            self._bump()
        stale = [i for i in old if not i.startswith(stem + ":")]
        for b in range(0, len(stale), 500):
            idx.collection.delete(ids=stale[b : b + 500])
        return count

    def _write_batch(
        self,
        doc: PreparedDocument,
        stem: str,
        chunks: list[Any],
        builder: UnitBuilder,
        progress: Callable[[int], None] | None,
    ) -> int:
        """Embed and store one batch: unit vectors, then (uncommitted) catalog rows."""
        idx = self.index
        ids = [f"{stem}:{c.ord}" for c in chunks]
        texts = [embed_text(doc.title, c.context, c.text) for c in chunks]
        units = [(cid, u) for cid, c in zip(ids, chunks, strict=True) for u in builder.add(c)]
        # Unit ids: the chunk's id and the unit's place in it, stable for one document version.
        unit_ids = [f"{cid}:u{u.start}-{u.end}" for cid, u in units]
        if units:
            vecs = idx.embedder.embed_passages([u.embed for _, u in units])
            # The quotes live in the catalog; Chroma keeps only vectors and where they point
            # (its full-text index of documents would cost memory and time for nothing).
            idx.collection.upsert(
                ids=unit_ids,
                embeddings=vecs.tolist(),
                metadatas=[{"path": doc.path, "start": u.start, "end": u.end} for _, u in units],
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
                for cid, c, t in zip(ids, chunks, texts, strict=True)
            ],
        )
        idx._db.executemany(
            "INSERT OR REPLACE INTO units VALUES (?,?,?,?,?,?)",
            [
                (uid, doc.path, cid, u.start, u.end, u.quote)
                for uid, (cid, u) in zip(unit_ids, units, strict=True)
            ],
        )
        if progress:
            progress(len(chunks))
        return len(chunks)

    def _write_parts(self, path: str, first: int, texts: list[str]) -> int:
        self.index._db.executemany(
            "INSERT INTO document_parts VALUES (?,?,?)",
            [(path, first + i, t) for i, t in enumerate(texts)],
        )
        return first + len(texts)

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


# Up to this many units (about 3,000 chunks of speeches or laws) search is an exact scan of
# the vectors held in memory: deterministic, and a few milliseconds; reading them takes about
# 1.3 s at this size, once per corpus version (measured: 6.3 s for 100,000 from local Chroma).
EXACT_SEARCH_MAX_UNITS = 20_000


def _scan(matrix: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """Every unit's similarity to the query; -inf for a unit without a vector."""
    sims = matrix @ qvec.astype(np.float32)
    sims[np.isnan(sims)] = -np.inf
    return sims


def _exact_nearest(snap: _Snapshot, sims: np.ndarray, n_units: int) -> dict[int, float]:
    """The n units most similar to the query, from a full scan's similarities, ties broken by
    unit id."""
    n = min(n_units, int(np.isfinite(sims).sum()))
    if n <= 0:
        return {}
    if n < len(sims):
        cut = np.partition(sims, len(sims) - n)[len(sims) - n]
        near = np.flatnonzero(sims >= cut)
    else:
        near = np.arange(len(sims))
    order = sorted(near.tolist(), key=lambda j: (-float(sims[j]), snap.units[j].id))[:n]
    return {j: float(sims[j]) for j in order}


# HNSW search breadth. Chroma's default (100) is below the 120 neighbours a question asks for,
# and at that breadth the same question against the same index got different evidence from one
# process to the next (6 of 138 evaluation questions). 200 narrowed that to about 3 of 202, at
# no measurable cost (512 added up to a third to the answer p95 at 10,000 chunks); the rest is
# why indexes up to EXACT_SEARCH_MAX_UNITS are scanned exactly instead.
EF_SEARCH = 200


def _unit_collection(client: Any, name: str) -> Any:
    """Open (or create) the unit collection, widening the search breadth of older ones."""
    col = client.get_or_create_collection(
        name,
        metadata={"hnsw:space": "cosine", "hnsw:search_ef": EF_SEARCH},
        embedding_function=None,
    )
    conf = getattr(col, "configuration_json", None) or {}
    if int((conf.get("hnsw") or {}).get("ef_search") or 0) < EF_SEARCH:
        col.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})
    return col


class _Guarded:
    """A Chroma server collection whose network failures become `IndexUnavailable`."""

    def __init__(self, inner: Any, error: Callable[[], IndexUnavailable]) -> None:
        self._inner, self._error = inner, error

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            import httpx

            try:
                return attr(*args, **kwargs)
            except httpx.TransportError as exc:  # timeouts, refused and reset connections
                raise self._error() from exc

        return call


class _EmptyCollection:
    """Stands in for a Chroma directory that was never created (read-only, nothing ingested)."""

    def count(self) -> int:
        """No vectors."""
        return 0

    def get(self, ids: list[str] | None = None, include: list[str] | None = None) -> dict[str, Any]:
        """Nothing stored."""
        return {"ids": [], "embeddings": []}
