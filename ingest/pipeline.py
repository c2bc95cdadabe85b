"""Ingest: discover files, skip what has not changed, load, clean, chunk and write to the index."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk import chunk_text
from ingest.clean import clean_text
from ingest.loaders import LoadError, load, supported
from knowledge.index import KnowledgeIndex, PreparedDocument

# Bump when cleaning or chunking changes, so every document is processed again.
PIPELINE_VERSION = "3"


@dataclass
class IngestReport:
    """What an ingest run did, by file name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    chunks: int = 0

    @property
    def changed(self) -> bool:
        """Whether the index changed."""
        return bool(self.added or self.updated or self.removed)


# Not documents: hidden files, Office lock files (~$x.docx), editor backups, Python packaging.
_IGNORED = re.compile(
    r"^(\.|~\$|__.*__|.*~$|.*\.(pyc?|tmp|bak|swp)$|Thumbs\.db$|desktop\.ini$)", re.I
)


def _ignored(relative: Path) -> bool:
    return any(_IGNORED.match(part) for part in relative.parts)


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to ingest under `paths`, and paths skipped with the reason."""
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for p in paths:
        if not p.exists():
            skipped.append((str(p), "路径不存在"))
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not _ignored(f.relative_to(p)):
                    if supported(f):
                        files.append(f.resolve())
                    else:
                        skipped.append((f.name, f"不支持的文件类型 {f.suffix or '（无扩展名）'}"))
        elif supported(p):
            files.append(p.resolve())
        else:
            skipped.append((p.name, f"不支持的文件类型 {p.suffix or '（无扩展名）'}"))
    return list(dict.fromkeys(files)), skipped


def fingerprint(data: bytes, embedder_name: str, max_chars: int) -> str:
    """Content hash plus everything that changes the stored result for the same bytes."""
    h = hashlib.sha256(data)
    h.update(f"|{PIPELINE_VERSION}|{embedder_name}|{max_chars}".encode())
    return h.hexdigest()


def prepare(path: Path, print_name: str, fp: str, max_chars: int) -> PreparedDocument:
    """Load, clean and chunk one file."""
    loaded = load(path)
    cleaned = clean_text(loaded.text, title_hint=loaded.title)
    if not cleaned.text.strip():
        raise LoadError("清理后没有正文")
    chunks = chunk_text(cleaned.text, max_chars=max_chars)
    return PreparedDocument(
        path=str(path),
        source=print_name,
        title=cleaned.title or path.stem,
        fingerprint=fp,
        text=cleaned.text,
        chunks=chunks,
    )


def _under(path: str, roots: Iterable[Path]) -> bool:
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)


def ingest(
    index: KnowledgeIndex,
    paths: Sequence[Path],
    max_chars: int = 260,
    progress: bool | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`.

    New files are added, changed files replaced and files deleted from under a given directory
    removed. Files that cannot be read are reported and leave their stored version untouched.
    """
    report = IngestReport()
    files, report.skipped = discover(paths)
    known = {d.path: d for d in index.documents()}
    todo: list[PreparedDocument] = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            report.skipped.append((f.name, f"无法读取文件：{exc.strerror or exc}"))
            continue
        fp = fingerprint(data, index.embedder.name, max_chars)
        old = known.get(str(f))
        if old is not None and old.fingerprint == fp:
            report.unchanged.append(f.name)
            continue
        try:
            todo.append(prepare(f, f.name, fp, max_chars))
        except LoadError as exc:
            report.skipped.append((f.name, str(exc)))
    roots = [p.resolve() for p in paths if p.exists()]
    present = {str(f) for f in files}
    gone = [path for path in known if _under(path, roots) and path not in present]

    total = sum(len(d.chunks) for d in todo)
    from tqdm import tqdm

    with (
        index.writer() as writer,
        tqdm(
            total=total, unit="段", desc="导入", disable=None if progress is None else not progress
        ) as bar,
    ):
        for doc in todo:
            writer.put(doc, progress=bar.update)
            (report.updated if doc.path in known else report.added).append(doc.source)
            report.chunks += len(doc.chunks)
        for path in gone:
            writer.remove(path)
            report.removed.append(known[path].source)
    return report
