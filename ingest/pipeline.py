"""Ingest: discover files, skip what has not changed, load, clean, chunk and write to the index.

One ingest at a time: the whole run holds the index's write lock, so a second `kaowu ingest`
waits for the first instead of interleaving with it. Documents are prepared and written one
at a time, and plain-text files too large to hold comfortably are read, cleaned, chunked and
embedded segment by segment, so memory does not grow with the size of a file.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import prompts
from ingest.chunk import Chunk, chunk_text
from ingest.clean import clean_text
from ingest.encoding import EncodingError, iter_decoded
from ingest.loaders import LoadError, load, supported, unsupported_reason
from knowledge.index import KnowledgeIndex, PreparedDocument

# Bump when cleaning or chunking changes, so every document is processed again.
PIPELINE_VERSION = "21"
# Plain-text files larger than this are processed in segments of about SEGMENT_CHARS.
STREAM_BYTES = 8 * 1024 * 1024
SEGMENT_CHARS = 1024 * 1024  # cleaning a segment briefly needs ~80 bytes per character


@dataclass
class IngestReport:
    """What an ingest run did, by file name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    # Files whose stored passages had lost their vectors and were embedded again.
    repaired: list[str] = field(default_factory=list)
    # Files and folders that could not be read (permissions, symlink loops, I/O errors); what
    # the index holds for them is kept. Also listed in `skipped`.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0

    @property
    def changed(self) -> bool:
        """Whether the index changed."""
        return bool(self.added or self.updated or self.removed or self.repaired)


# Not documents: hidden files, Office lock files (~$x.docx), editor backups, Python packaging.
_IGNORED = re.compile(
    r"^(\.|~\$|__.*__|.*~$|.*\.(pyc?|tmp|bak|swp)$|Thumbs\.db$|desktop\.ini$)", re.I
)


@dataclass
class _Found:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # directories given (and listed)
    blind: list[Path] = field(default_factory=list)  # places whose content is unknown


def _why(exc: OSError, is_link: bool = False) -> str:
    if exc.errno == errno.ELOOP:
        return prompts.load("skip_symlink_loop")
    if exc.errno == errno.ENOENT and is_link:
        return prompts.load("skip_symlink_dangling")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return prompts.load("skip_no_permission")
    return prompts.render("skip_os_error", reason=exc.strerror or exc)


def _scan(folder: Path, found: _Found, visited: set[tuple[int, int]]) -> None:
    shown = str(folder)
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in visited:
            found.unreadable.append((shown, prompts.load("skip_dir_loop")))
            return
        visited.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        found.unreadable.append((shown, _why(exc)))
        found.blind.append(folder)
        return
    for entry in entries:
        path = folder / entry.name
        if _IGNORED.match(entry.name):  # folders above were checked on the way down
            continue
        try:
            st = os.stat(path)  # follows symlinks, so a loop or a dead link raises here
        except OSError as exc:
            found.unreadable.append((entry.name, _why(exc, entry.is_symlink())))
            continue
        if stat.S_ISDIR(st.st_mode):
            _scan(path.resolve() if entry.is_symlink() else path, found, visited)
        elif not stat.S_ISREG(st.st_mode):
            continue  # sockets, devices, pipes: not documents
        elif supported(path):
            found.files.append(path.resolve())
        else:
            found.skipped.append((entry.name, unsupported_reason(path)))


def _find(paths: Sequence[Path]) -> _Found:
    found = _Found()
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            if p.is_symlink():
                found.unreadable.append((str(p), prompts.load("skip_symlink_dangling")))
            else:
                found.skipped.append((str(p), "路径不存在"))
            continue
        except OSError as exc:
            found.unreadable.append((str(p), _why(exc)))
            found.blind.append(Path(os.path.abspath(p)))
            continue
        if stat.S_ISDIR(st.st_mode):
            root = p.resolve()
            found.roots.append(root)
            _scan(root, found, set())
        elif supported(p):
            found.files.append(p.resolve())
        else:
            found.skipped.append((p.name, unsupported_reason(p)))
    found.files = list(dict.fromkeys(found.files))
    return found


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to ingest under `paths`, and paths skipped with the reason."""
    found = _find(paths)
    return found.files, found.skipped + found.unreadable


def fingerprint(data: bytes, embedder_name: str, max_chars: int) -> str:
    """Content hash plus everything that changes the stored result for the same bytes."""
    h = hashlib.sha256(data)
    h.update(f"|{PIPELINE_VERSION}|{embedder_name}|{max_chars}".encode())
    return h.hexdigest()


def file_fingerprint(path: Path, embedder_name: str, max_chars: int) -> str:
    """`fingerprint` of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    h.update(f"|{PIPELINE_VERSION}|{embedder_name}|{max_chars}".encode())
    return h.hexdigest()


def prepare(path: Path, print_name: str, fp: str, max_chars: int) -> PreparedDocument:
    """Load, clean and chunk one file (a large plain-text file lazily, segment by segment)."""
    try:
        large = path.suffix.lower() == ".txt" and path.stat().st_size > STREAM_BYTES
    except OSError as exc:
        raise LoadError(_why(exc)) from exc
    if large:
        stream = SegmentedText(path, max_chars)
        return PreparedDocument(
            path=str(path),
            source=print_name,
            title=stream.title or path.stem,
            fingerprint=fp,
            text="",
            chunks=stream,
        )
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


def _segments(path: Path, on_read: Callable[[int], None] | None = None) -> Iterator[str]:
    """Raw text in pieces of about SEGMENT_CHARS, each ending at a line break if there is one."""
    buf = ""
    for piece in iter_decoded(path, on_read=on_read):
        buf += piece
        while len(buf) >= SEGMENT_CHARS:
            cut = buf.rfind("\n", 0, SEGMENT_CHARS) + 1 or SEGMENT_CHARS
            yield buf[:cut]
            buf = buf[cut:]
    if buf:
        yield buf


class SegmentedText:
    """The chunks of a large text file, produced one segment at a time (see SegmentedChunks).

    Chunk offsets and order numbers are those of the whole cleaned text; a chunk before the
    first heading of a segment belongs to the section the previous segment ended in. Numbered
    headings (四、…) that continue a sequence begun in an earlier segment are not recognised as
    new sections there; segments are large so that this only affects very large files.
    """

    def __init__(self, path: Path, max_chars: int) -> None:
        self.path, self.max_chars = path, max_chars
        self.size, self.bytes_read = path.stat().st_size, 0
        self._raw = _segments(path, self._count)
        try:
            first = next(self._raw, "")
            self._ahead = next(self._raw, None)
        except EncodingError as exc:
            raise LoadError(str(exc)) from exc
        except OSError as exc:
            raise LoadError(_why(exc)) from exc
        cleaned = clean_text(first, head=True, tail=self._ahead is None)
        if not cleaned.text.strip():
            raise LoadError("清理后没有正文")
        self.title = cleaned.title
        self._first: str | None = cleaned.text
        self._text: list[str] = []

    def _count(self, n: int) -> None:
        self.bytes_read += n

    @property
    def fraction(self) -> float:
        """Share of the file read so far."""
        return self.bytes_read / self.size if self.size else 1.0

    def take_text(self) -> list[str]:
        """Cleaned text produced since the last call."""
        out, self._text = self._text, []
        return out

    def __iter__(self) -> Iterator[Chunk]:
        base, ord_ = 0, 0
        last: Chunk | None = None
        cleaned: str | None = self._first
        self._first = None
        while cleaned is not None:
            if cleaned:
                sep = "\n" if base else ""
                self._text.append(sep + cleaned)
                base += len(sep)
                for c in chunk_text(cleaned, max_chars=self.max_chars):
                    moved = dataclasses.replace(c, ord=ord_, start=c.start + base, end=c.end + base)
                    if not c.section and last is not None:
                        moved = dataclasses.replace(
                            moved, section=last.section, headings=last.headings
                        )
                    yield moved
                    last, ord_ = moved, ord_ + 1
                base += len(cleaned)
            cleaned = self._next_cleaned()

    def _next_cleaned(self) -> str | None:
        raw = self._ahead
        if raw is None:
            return None
        try:
            self._ahead = next(self._raw, None)
        except EncodingError as exc:
            raise LoadError(str(exc)) from exc
        except OSError as exc:  # the file became unreadable midway: the old version stays
            raise LoadError(_why(exc)) from exc
        return clean_text(raw, head=False, tail=self._ahead is None).text


class _Progress:
    """Passages written: a bar on a terminal, otherwise a plain line every few seconds."""

    def __init__(
        self, total_files: int, enabled: bool | None, every: float, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.total_files, self.files, self.passages = total_files, 0, 0
        self.every, self.last = every, time.monotonic()
        self.current: Any = None  # the document being written, if it reports how far it is
        tty = self.stream.isatty()
        self.lines = enabled is not False and not tty and total_files > 0
        self.bar: Any = None
        if enabled is not False and tty and total_files > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total_files, unit="个文件", desc="导入", file=self.stream)

    def passage(self, n: int) -> None:
        """`n` more passages are stored."""
        self.passages += n
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.passages} 段", refresh=False)
            self.bar.refresh()
        elif self.lines and time.monotonic() - self.last >= self.every:
            self._line()

    def file(self) -> None:
        """One more file is done."""
        self.files += 1
        if self.bar is not None:
            self.bar.update(1)

    def _line(self) -> None:
        self.last = time.monotonic()
        fraction = getattr(self.current, "fraction", None)
        current = (
            ""
            if fraction is None
            else prompts.render("ingest_progress_file", percent=int(fraction * 100))
        )
        print(
            prompts.render(
                "ingest_progress",
                passages=self.passages,
                files=self.files,
                total=self.total_files,
                current=current,
            ),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Finish the bar (or print a last line if any line was printed)."""
        if self.bar is not None:
            self.bar.close()
        elif self.lines and self.passages:
            self._line()


def _under(path: str, roots: Iterable[Path]) -> bool:
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)


def _truly_gone(path: str) -> bool:
    """Only a missing file is gone; one we merely cannot see (permissions) is not."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ingest(
    index: KnowledgeIndex,
    paths: Sequence[Path],
    max_chars: int = 260,
    progress: bool | None = None,
    *,
    lock_timeout: float = 3600.0,
    on_wait: Callable[[str], None] | None = _say,
    progress_every: float = 10.0,
) -> IngestReport:
    """Bring the index in line with the files under `paths`.

    New files are added, changed files replaced and files deleted from under a given directory
    removed. Files and folders that cannot be read are reported and keep their stored version;
    documents whose passages lost their vectors are embedded again.
    """
    with index.write_lock(lock_timeout, on_wait):
        return _ingest(index, paths, max_chars, progress, progress_every)


def _ingest(
    index: KnowledgeIndex,
    paths: Sequence[Path],
    max_chars: int,
    progress: bool | None,
    progress_every: float,
) -> IngestReport:
    report = IngestReport()
    found = _find(paths)
    report.skipped = found.skipped + found.unreadable
    report.unreadable = list(found.unreadable)
    known = {d.path: d for d in index.documents()}
    broken = index.incomplete() if known else set()
    todo: list[tuple[Path, str]] = []
    for f in found.files:
        try:
            fp = file_fingerprint(f, index.embedder.name, max_chars)
        except OSError as exc:
            reason = _why(exc)
            report.skipped.append((f.name, reason))
            report.unreadable.append((f.name, reason))
            continue
        old = known.get(str(f))
        if old is not None and old.fingerprint == fp and str(f) not in broken:
            report.unchanged.append(f.name)
            continue
        todo.append((f, fp))
    present = {str(f) for f in found.files}
    gone = [
        path
        for path in known
        if _under(path, found.roots)
        and path not in present
        and not _under(path, found.blind)
        and _truly_gone(path)
    ]

    bar = _Progress(len(todo), progress, progress_every)
    try:
        with index.writer() as writer:
            for f, fp in todo:
                try:
                    doc = prepare(f, f.name, fp, max_chars)
                    bar.current = doc.chunks
                    stored = writer.put(doc, progress=bar.passage)
                except LoadError as exc:
                    report.skipped.append((f.name, str(exc)))
                    continue
                finally:
                    bar.file()
                old = known.get(doc.path)
                if old is None:
                    report.added.append(doc.source)
                elif old.fingerprint == fp:
                    report.repaired.append(doc.source)
                else:
                    report.updated.append(doc.source)
                report.chunks += stored
            for path in gone:
                writer.remove(path)
                report.removed.append(known[path].source)
    finally:
        bar.close()
    return report
