"""知识库 uploads: validated, saved under the data dir and ingested in a background thread.

A file is first written to a private folder, loaded and chunked there (so an unreadable file
never reaches the index), then moved into `<data_dir>/uploads/` and written to the index in one
crash-safe step. If writing fails, the previous file of that name (if any) is put back, so
nothing is left half-written.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import prompts
from bot.services import Services
from ingest.loaders import LoadError, convert_advice, supported
from ingest.pipeline import file_fingerprint, prepare


@dataclass
class Job:
    """One upload being ingested; the page polls it."""

    id: str
    name: str
    state: str = "waiting"  # waiting | running | done | failed
    passages: int = 0
    total: int = 0
    message: str = ""
    started: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, object]:
        """What the progress poll returns."""
        percent = 100 if self.state == "done" else (
            int(self.passages * 100 / self.total) if self.total else 0
        )  # fmt: skip
        return {"id": self.id, "name": self.name, "state": self.state,
                "passages": self.passages, "percent": percent, "message": self.message}  # fmt: skip


@dataclass(frozen=True)
class DocumentRow:
    """A document in the index as the 知识库 page lists it."""

    path: str
    title: str
    file: str
    passages: int
    imported_at: str
    uploaded: bool


def clean_name(filename: str) -> str:
    """The file's own name without folders or characters a file system may not take."""
    name = Path(filename.replace("\\", "/")).name.strip()
    return re.sub(r"[\x00-\x1f/:*?\"<>|]", "_", name)[:120]


class Uploads:
    """Upload checks, background ingest jobs, the document list and deletion."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.root = services.settings.data_dir / "uploads"
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        """The size limit of one upload."""
        return self.services.settings.web.web_upload_max_mb * 1024 * 1024

    def problem(self, name: str, size: int) -> str | None:
        """Why this upload is refused (Chinese), or None."""
        if not name:
            return prompts.load("web_upload_no_file")
        if not supported(Path(name)):
            return prompts.render("web_upload_type", file=name, suffix=Path(name).suffix or "无",
                                  advice=convert_advice(Path(name)))  # fmt: skip
        if size == 0:
            return prompts.render("web_upload_empty", file=name)
        if size > self.max_bytes:
            return prompts.render("web_upload_too_big", file=name,
                                  mb=self.services.settings.web.web_upload_max_mb)  # fmt: skip
        return None

    def start(self, name: str, data: bytes) -> Job:
        """Save the upload privately and ingest it in a background thread."""
        job = Job(uuid.uuid4().hex[:12], name)
        incoming = self.root / ".incoming" / job.id
        incoming.mkdir(parents=True, exist_ok=True)
        (incoming / name).write_bytes(data)
        with self._lock:
            self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, incoming / name), daemon=True,
                         name=f"upload-{job.id}").start()  # fmt: skip
        return job

    def job(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self.jobs.get(job_id)

    def _run(self, job: Job, tmp: Path) -> None:
        index = self.services.index
        cfg = self.services.settings.index
        try:
            with index.write_lock(cfg.ingest_lock_timeout, None):
                job.state = "running"
                fp = file_fingerprint(tmp, index.embedder.name, cfg.chunk_max_chars)
                prepare(tmp, job.name, fp, cfg.chunk_max_chars)  # refuse before touching anything
                final = self.root / job.name
                backup = None
                if final.exists():
                    backup = final.with_name(f".{job.name}.{job.id}.bak")
                    os.replace(final, backup)
                os.replace(tmp, final)
                try:
                    doc = prepare(final, job.name, fp, cfg.chunk_max_chars)
                    job.total = len(doc.chunks) if isinstance(doc.chunks, list) else 0

                    def step(n: int) -> None:
                        job.passages += n

                    with index.writer() as writer:
                        writer.put(doc, progress=step)
                except BaseException:
                    if backup is not None:
                        os.replace(backup, final)
                    else:
                        final.unlink(missing_ok=True)
                    raise
                if backup is not None:
                    backup.unlink(missing_ok=True)
            job.state = "done"
        except LoadError as exc:
            job.state, job.message = (
                "failed",
                prompts.render("web_upload_unreadable", file=job.name, reason=exc),
            )
        except Exception as exc:  # shown on the page; the index keeps what it had
            job.state, job.message = (
                "failed",
                prompts.render("web_upload_failed", file=job.name, reason=type(exc).__name__),
            )
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)

    def documents(self) -> list[DocumentRow]:
        """Every live document, newest import first."""
        root = str(self.root.resolve())
        rows = []
        for d in self.services.index.documents():
            at = datetime.fromtimestamp(d.ingested_at) if d.ingested_at else None
            rows.append(DocumentRow(d.path, d.title, d.source, d.n_chunks,
                                    at.strftime("%Y-%m-%d %H:%M") if at else "",
                                    d.path.startswith(root + os.sep)))  # fmt: skip
        return sorted(rows, key=lambda r: r.imported_at, reverse=True)

    def delete(self, path: str) -> bool:
        """Remove a document from the index (and its uploaded file); whether it was there."""
        index = self.services.index
        if path not in {d.path for d in index.documents()}:
            return False
        with index.writer() as writer:
            writer.remove(path)
        if path.startswith(str(self.root.resolve()) + os.sep):
            Path(path).unlink(missing_ok=True)
        return True
