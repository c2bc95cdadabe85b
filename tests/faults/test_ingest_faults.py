"""Faults on the ingest/index side: concurrent ingests, unreadable and vanished files, encodings,
encrypted PDFs, a hanging Chroma server, a read-only data directory, thread-safe loading.

Real processes for the CLI, real Chroma and SQLite. Permission faults need the kernel to refuse
access: as root that means running the child without the capabilities that bypass file modes.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loaders import LoadError, load
from ingest.pipeline import ingest

REPO = Path(__file__).resolve().parents[2]

TOPICS_A = {
    "duty.md": "# 保密室值班规定\n\n## 一、人员\n\n保密室实行双人值守制度，每班两名工作人员在岗，不得擅离职守。\n"
    "\n## 二、交接\n\n交接班时双方共同检查门窗封条和监控录像，并在登记簿上签字。\n",
    "power.txt": "停电应急预案\n考点发生停电时，考点主考立即启用备用电源，并在五分钟内报告县招生办。\n",
    "phone.txt": "手机处置办法\n考生手机在考场内响铃的，监考员当场收缴并记录在考场记录表中。\n",
}
TOPICS_B = {
    "seal.md": "# 试卷交接规定\n\n试卷袋在考场内当众启封，启封前由两名考生代表检查密封情况并签字确认。\n",
    "late.txt": "迟到规定\n开考十五分钟后迟到的考生不得进入考场，监考员应做好解释工作。\n",
    "noise.txt": "听力考试保障\n英语听力考试期间考点周边禁止鸣笛施工，由公安交警部门负责疏导。\n",
}


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def _no_dac_override() -> None:
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH so file modes apply to root."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _permissions_enforceable() -> bool:
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(
        [sys.executable, "-c", "pass"], preexec_fn=_no_dac_override, capture_output=True
    )
    return probe.returncode == 0


needs_permissions = pytest.mark.skipif(
    not _permissions_enforceable(), reason="cannot make file modes apply (root without CAP_SETPCAP)"
)


def _kaowu(
    args: list[str],
    data: Path,
    *,
    restricted: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "KAOWU_DATA_DIR": str(data), "PYTHONPATH": str(REPO), **(env or {})}
    full.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_no_dac_override if restricted and os.geteuid() == 0 else None,
    )


def _popen(args: list[str], data: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "KAOWU_DATA_DIR": str(data), "PYTHONPATH": str(REPO), **(env or {})}
    full.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(index) -> dict:  # type: ignore[no-untyped-def,type-arg]
    live = [r[0] for r in index._db.execute("SELECT id FROM units")]
    stored = set(index.collection.get(include=[])["ids"])
    return {
        "docs": sorted(d.source for d in index.documents()),
        "live": len(live),
        "without_vector": [i for i in live if i not in stored],
    }


# ---------------------------------------------------------------- one writer
@pytest.mark.slow
def test_two_ingests_at_once_on_a_fresh_data_dir_lose_nothing(tmp_path: Path, make_index) -> None:  # type: ignore[no-untyped-def]
    a, b, data = tmp_path / "a", tmp_path / "b", tmp_path / "data"
    _write(a, TOPICS_A)
    _write(b, TOPICS_B)
    first, second = _popen(["ingest", str(a)], data), _popen(["ingest", str(b)], data)
    outs = [p.communicate(timeout=240) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs

    index = make_index(data)
    state = _state(index)
    assert state["docs"] == sorted([*TOPICS_A, *TOPICS_B])
    assert state["live"] > 0 and state["without_vector"] == []
    assert index.search("保密室每班几名工作人员", k=1)[0].chunk.source == "duty.md"
    assert index.search("试卷袋启封前谁检查密封", k=1)[0].chunk.source == "seal.md"


@pytest.mark.slow
def test_second_ingest_waits_for_the_lock_and_says_so(tmp_path: Path, make_index) -> None:  # type: ignore[no-untyped-def]
    docs, data = tmp_path / "docs", tmp_path / "data"
    _write(docs, TOPICS_B)
    holder = make_index(data)
    with holder.write_lock():
        gave_up = _kaowu(["ingest", str(docs)], data, env={"INGEST_LOCK_TIMEOUT": "1"})
        assert gave_up.returncode == 1
        assert "另一个导入" in gave_up.stderr and "等它完成" in gave_up.stderr
        assert "放弃" in gave_up.stderr and "Traceback" not in gave_up.stderr
        assert holder.documents() == []  # nothing half-written

        waiting = _popen(["ingest", str(docs)], data)
        time.sleep(4)
        assert waiting.poll() is None  # still waiting, not interleaving
    out, err = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, err
    assert "等它完成" in err and "新增 3" in out
    assert _state(holder)["without_vector"] == []


@pytest.mark.slow
def test_lost_vectors_are_repaired_by_the_next_ingest(tmp_path: Path, make_index) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    _write(docs, TOPICS_A)
    index = make_index()
    ingest(index, [docs], progress=False)
    # What the old clean-up race did: vectors of listed passages deleted by someone else.
    lost = [r[0] for r in index._db.execute("SELECT id FROM units WHERE path LIKE '%duty.md'")]
    index.collection.delete(ids=lost)
    assert _state(index)["without_vector"]

    report = ingest(index, [docs], progress=False)
    assert report.repaired == ["duty.md"] and "duty.md" not in report.unchanged
    assert _state(index)["without_vector"] == []
    assert index.search("保密室每班几名工作人员", k=1)[0].chunk.source == "duty.md"


# ---------------------------------------------------------------- unreadable and vanished
@pytest.mark.slow
@needs_permissions
def test_unreadable_folders_and_files_keep_their_documents(tmp_path: Path, make_index) -> None:  # type: ignore[no-untyped-def]
    docs, data = tmp_path / "docs", tmp_path / "data"
    _write(docs, {"duty.md": TOPICS_A["duty.md"]})
    _write(docs / "sub", {"late.txt": TOPICS_B["late.txt"]})
    _write(docs / "more", {"seal.md": TOPICS_B["seal.md"]})
    assert _kaowu(["ingest", "-q", str(docs)], data).returncode == 0
    expected = ["duty.md", "late.txt", "seal.md"]

    (docs / "sub").chmod(0)  # a subfolder that cannot be listed
    (docs / "more" / "seal.md").chmod(0)  # a file that cannot be read
    try:
        run = _kaowu(["ingest", "-q", str(docs)], data, restricted=True)
        assert run.returncode == 1
        assert "没有读取权限" in run.stderr and "sub" in run.stderr and "seal.md" in run.stderr
        assert "删除 0" in run.stdout
        docs.chmod(0)  # the folder itself
        run = _kaowu(["ingest", "-q", str(docs)], data, restricted=True)
        assert run.returncode == 1 and "删除 0" in run.stdout and "没有读取权限" in run.stderr
    finally:
        docs.chmod(0o755)
        (docs / "sub").chmod(0o755)
        (docs / "more" / "seal.md").chmod(0o644)
    index = make_index(data)
    assert _state(index) | {"live": 0} == {"docs": expected, "live": 0, "without_vector": []}

    # Only a file that is truly gone is removed.
    (docs / "sub" / "late.txt").unlink()
    report = ingest(index, [docs], progress=False)
    assert report.removed == ["late.txt"] and not report.unreadable
    assert sorted(d.source for d in index.documents()) == ["duty.md", "seal.md"]


def test_symlink_loops_are_reported(tmp_path: Path, make_index) -> None:  # type: ignore[no-untyped-def]
    from ingest.pipeline import discover

    docs = tmp_path / "docs"
    _write(docs, {"duty.md": TOPICS_A["duty.md"]})
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    (docs / "a.txt").symlink_to(docs / "b.txt")
    (docs / "b.txt").symlink_to(docs / "a.txt")
    (docs / "up").symlink_to(docs, target_is_directory=True)
    _write(tmp_path / "elsewhere", {"late.txt": TOPICS_B["late.txt"]})
    (docs / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    files, skipped = discover([docs])
    assert [f.name for f in files] == ["duty.md", "late.txt"]
    reasons = dict(skipped)
    assert {"loop.txt", "a.txt", "b.txt"} <= set(reasons)
    assert all("循环" in reasons[n] for n in ("loop.txt", "a.txt", "b.txt"))
    assert any("循环" in r and "docs" in n for n, r in skipped)  # the directory loop


# ---------------------------------------------------------------- encodings
POLICY = (
    "各考点要严格执行保密室值班制度，值班人员不得擅离职守，发现异常立即报告考点主考。"
    "考生进入考场时须接受身份验证，监考员应核对准考证和身份证，并提醒考生关闭手机。"
)


def _traditional(text: str) -> str:
    import opencc

    return str(opencc.OpenCC("s2t").convert(text))


@pytest.mark.parametrize(
    ("suffix", "encoding", "traditional"),
    [
        (".txt", "gbk", False),
        (".txt", "gb18030", False),
        (".txt", "big5", True),
        (".txt", "cp950", True),
        (".txt", "utf-8", False),
        (".txt", "utf-8-sig", False),
        (".txt", "utf-16", False),
        (".txt", "utf-16", True),
        (".md", "big5", True),
        (".md", "gbk", False),
        (".html", "big5", True),
    ],
)
def test_encoding_is_detected(
    tmp_path: Path, suffix: str, encoding: str, traditional: bool
) -> None:
    body = _traditional(POLICY) if traditional else POLICY
    title = _traditional("考点保密工作要求") if traditional else "考点保密工作要求"
    if suffix == ".html":
        raw = f"<html><body><h1>{title}</h1><p>{body}</p></body></html>"
    elif suffix == ".md":
        raw = f"# {title}\n\n{body}\n"
    else:
        raw = f"{title}\n{body}\n"
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(raw.encode(encoding))
    assert body in load(path).text


def test_short_big5_and_gbk_lines_are_told_apart(tmp_path: Path) -> None:
    for text, enc in (("保密室實行雙人值守", "big5"), ("保密室实行双人值守", "gbk")):
        path = tmp_path / f"{enc}.txt"
        path.write_bytes(text.encode(enc))
        assert load(path).text == text


def test_undecidable_bytes_are_refused_in_chinese(tmp_path: Path) -> None:
    import random

    rng = random.Random(9)
    # Valid as both GB18030 and Big5 byte-wise, but plausible Chinese in neither.
    pairs = [bytes([rng.randrange(0xA4, 0xC6), rng.randrange(0xA1, 0xFE)]) for _ in range(400)]
    path = tmp_path / "noise.txt"
    path.write_bytes(b"".join(pairs))
    with pytest.raises(LoadError, match="UTF-8"):
        load(path)
    bad = tmp_path / "mixed.txt"  # starts as UTF-8, then GBK far into the file
    bad.write_bytes(("考场规则。" * 60000).encode() + POLICY.encode("gbk"))
    with pytest.raises(LoadError, match="无法按 UTF-8 解读"):
        load(bad)


# ---------------------------------------------------------------- encrypted PDF
def _encrypted_pdf(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    from tests.ingest.test_loaders import _pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf(["Seal the papers before 8:00."]))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_owner_password_only_pdf_is_read_and_a_locked_one_refused(tmp_path: Path) -> None:
    open_pdf = tmp_path / "open.pdf"
    open_pdf.write_bytes(_encrypted_pdf(""))
    assert "Seal the papers before 8:00." in load(open_pdf).text
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(_encrypted_pdf("user-secret"))
    with pytest.raises(LoadError, match="打开密码"):
        load(locked)


# ---------------------------------------------------------------- Chroma server that hangs
@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.slow
def test_hanging_chroma_server_gives_a_chinese_message_in_time(
    tmp_path: Path, silent_server: int, embedder
) -> None:  # type: ignore[no-untyped-def]
    from knowledge.index import IndexUnavailable, KnowledgeIndex

    index = KnowledgeIndex(
        tmp_path / "data", lambda: embedder, "127.0.0.1", silent_server, chroma_timeout=1.5
    )
    started = time.monotonic()
    with pytest.raises(IndexUnavailable, match="无法连接 Chroma 服务器"):
        _ = index.collection
    assert time.monotonic() - started < 5
    index.close()

    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(silent_server), "CHROMA_TIMEOUT": "2"}
    started = time.monotonic()
    run = _kaowu(["ask", "保密室每班几人？"], tmp_path / "data", env=env, timeout=60)
    assert time.monotonic() - started < 30  # start-up plus the timeout, not minutes
    assert run.returncode == 1 and "无法连接 Chroma 服务器" in run.stderr
    assert "Traceback" not in run.stderr
    with socket.socket() as s:  # a closed port: refused at once
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    run = _kaowu(
        ["ask", "保密室每班几人？"], tmp_path / "data", env={**env, "CHROMA_PORT": str(closed)}
    )
    assert run.returncode == 1 and "无法连接 Chroma 服务器" in run.stderr


# ---------------------------------------------------------------- read-only data directory
def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.slow
@needs_permissions
def test_ask_works_on_a_read_only_data_dir(tmp_path: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    _write(docs, TOPICS_A)
    assert _kaowu(["ingest", "-q", str(docs)], data).returncode == 0
    before = _listing(data)
    modes = {p: p.stat().st_mode for p in [data, *data.rglob("*")]}
    for p in modes:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        run = _kaowu(["ask", "--json", "保密室每班几名工作人员？"], data, restricted=True)
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        assert answer["answered"] and answer["citations"][0]["source"] == "duty.md"
        refused = _kaowu(["ingest", "-q", str(docs)], data, restricted=True)
        assert refused.returncode == 1 and "只读" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert _listing(data) == before  # nothing was created in it


# ---------------------------------------------------------------- jieba cache, lazy loading
def test_jieba_cache_lives_in_the_data_dir(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    code = (
        "import sys; from pathlib import Path\n"
        "from knowledge.index import KnowledgeIndex\n"
        "from knowledge.lexical import tokenize\n"
        "KnowledgeIndex(Path(sys.argv[1]), lambda: None)\n"
        "print(tokenize('保密室双人值守'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "data" / "index" / "jieba.cache").is_file()
    assert not any("jieba" in p.name for p in tmp.iterdir())


def test_embedder_and_collection_are_created_once_under_concurrent_first_use(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from knowledge.index import KnowledgeIndex

    calls: list[int] = []

    def factory():  # type: ignore[no-untyped-def]
        calls.append(1)
        time.sleep(0.3)  # a slow model load widens the window for a second creation
        return embedder

    index = KnowledgeIndex(tmp_path / "data", factory)
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        seen.append(index.collection)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(c) for c in seen}) == 1
    index.close()


# ---------------------------------------------------------------- large files, progress
@pytest.mark.slow
def test_large_text_is_ingested_in_segments_with_progress_lines(
    tmp_path: Path, make_index, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    import ingest.pipeline as pipeline

    monkeypatch.setattr(pipeline, "STREAM_BYTES", 4096)
    monkeypatch.setattr(pipeline, "SEGMENT_CHARS", 1500)
    sections = [
        f"{n}、第{n}部分\n" + "".join(f"第{n}部分第{i}条：{POLICY}\n" for i in range(4))
        for n in "一二三四五六七八"
    ]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "big.txt").write_text("考点工作手册\n" + "".join(sections), encoding="gb18030")
    index = make_index()
    report = ingest(index, [docs], progress=None, progress_every=0)
    assert report.added == ["big.txt"] and report.chunks > 8
    err = capsys.readouterr().err
    assert "已导入" in err and "当前文件已读" in err  # plain lines: stderr is not a tty here

    doc = index.documents()[0]
    assert doc.title == "考点工作手册" and doc.n_chunks == report.chunks
    text = index.document_text(doc.path)
    records = [index.chunk(r[0]) for r in index._db.execute("SELECT id FROM chunks ORDER BY ord")]
    assert all(text[r.start : r.end] == r.text for r in records if r is not None)
    # A later segment continues the section the previous one ended in.
    assert all(r.section for r in records if r is not None)
    assert _state(index)["without_vector"] == []
