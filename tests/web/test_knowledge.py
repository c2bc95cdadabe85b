"""知识库 through the console: uploads are checked, ingested in the background with progress,
answerable at once and deletable; a refused or unreadable upload leaves the index as it was."""

from __future__ import annotations

import re
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.web.conftest import TOP, Console, make_console

RULE = "# 无人机管控细则\n\n## 第三条\n\n考点应在首科开考前45分钟开启无人机反制设备，并安排两名专人值守至末科结束。\n"


def _upload(c: Console, client: TestClient, name: str, body: bytes) -> object:
    return client.post("/knowledge/upload", data={"csrf": c.csrf(client, "/knowledge")},
                       files={"file": (name, body, "application/octet-stream")},
                       follow_redirects=False)  # fmt: skip


def _wait(client: TestClient, job: str, timeout: float = 120.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        state = client.get(f"/knowledge/jobs/{job}").json()
        seen.append(state)
        if state["state"] in ("done", "failed"):
            return {**state, "seen": seen}
        time.sleep(0.1)
    raise AssertionError(f"upload {job} did not finish: {seen[-1]}")


def test_upload_ingests_in_the_background_then_answers_citing_it(console: Console) -> None:
    client = console.sign_in(TOP)
    before = len(console.services.index.documents())
    r = _upload(console, client, "无人机管控细则.md", RULE.encode())
    assert r.status_code == 303  # type: ignore[attr-defined]
    job = r.headers["location"].split("job=")[1]  # type: ignore[attr-defined]
    assert 'id="job"' in client.get(f"/knowledge?job={job}").text
    state = _wait(client, job)
    assert state["state"] == "done" and state["percent"] == 100 and state["passages"]
    docs = client.get("/knowledge").text
    assert "无人机管控细则.md" in docs and len(console.services.index.documents()) == before + 1
    csrf = console.csrf(client, "/knowledge")
    page = client.post("/knowledge/ask", data={"csrf": csrf,
                                               "question": "无人机反制设备什么时候开启？"}).text  # fmt: skip
    assert "45分钟" in page and "无人机管控细则" in page.split("出处")[1]
    # delete it again: gone from the index and from the answers
    path = next(d.path for d in console.services.index.documents() if d.source.startswith("无人机"))
    r = client.post("/knowledge/delete", data={"csrf": csrf, "path": path})
    assert r.status_code == 200 and "已从知识库删除" in r.text  # type: ignore[attr-defined]
    assert len(console.services.index.documents()) == before and not Path(path).exists()


def test_refused_uploads_say_why_and_store_nothing(tmp_path: Path) -> None:
    c = make_console(tmp_path, web_upload_max_mb=1)
    try:
        client = c.sign_in(TOP)
        for name, body, why in (
            ("名单.xlsx", b"PK\x03\x04 not a document", "不能导入"),
            ("附件1.doc", b"\xd0\xcf\x11\xe0 an old Word file", "另存为” .docx"),
            ("空文件.txt", b"", "空文件"),
            ("大文件.txt", "考".encode() * (1024 * 1024 // 3 + 1), "超过 1 MB"),
        ):
            r = _upload(c, client, name, body)
            assert r.status_code == 400, name  # type: ignore[attr-defined]
            assert why in r.text and name in r.text  # type: ignore[attr-defined]
        r = client.post("/knowledge/upload", data={"csrf": c.csrf(client, "/knowledge")})
        assert r.status_code == 400 and "请先选择" in r.text
        r = client.post("/knowledge/upload", data={"csrf": "stale"},
                        files={"file": ("a.txt", b"x", "text/plain")})  # fmt: skip
        assert r.status_code == 403 and "页面已过期" in r.text
        assert c.services.index.documents() == []
        assert not any((c.services.settings.data_dir / "uploads").glob("*.*"))
    finally:
        c.services.close()


def test_an_unreadable_document_fails_its_job_and_keeps_the_old_version(console: Console) -> None:
    client = console.sign_in(TOP)
    job = _upload(console, client, "细则.md", RULE.encode()).headers["location"].split("job=")[1]  # type: ignore[attr-defined]
    assert _wait(client, job)["state"] == "done"
    before = [(d.path, d.fingerprint) for d in console.services.index.documents()]
    # a .docx that is no Word file, and a replacement of 细则.md that is only blank lines
    for name, body in (("坏文件.docx", b"this is not a zip"), ("细则.md", b"\n\n  \n")):
        r = _upload(console, client, name, body)
        state = _wait(client, r.headers["location"].split("job=")[1])  # type: ignore[attr-defined]
        assert state["state"] == "failed" and "没有导入" in str(state["message"]), name
    assert [(d.path, d.fingerprint) for d in console.services.index.documents()] == before
    uploads = console.services.settings.data_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir() if not p.name.startswith(".")) == ["细则.md"]
    assert (uploads / "细则.md").read_text(encoding="utf-8") == RULE
    assert not any((uploads / ".incoming").iterdir())


def test_the_page_lists_documents_with_title_file_passages_and_time(console: Console) -> None:
    page = console.sign_in(TOP).get("/knowledge").text
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"file\">([^<]+)</td><td data-label=\"段数\">(\d+)</td>"
                      r"<td data-label=\"导入\">(\d{4}-\d\d-\d\d \d\d:\d\d)</td>", page)  # fmt: skip
    assert len(rows) == len(console.services.index.documents()) > 0
