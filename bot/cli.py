"""The `kaowu` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prompts

if TYPE_CHECKING:
    from bot.services import Services


def _services(reports: bool = False) -> Services:
    from bot.services import build_services

    return build_services(reports=reports)


def _print_ingest(report: Any, stream: Any = None) -> None:
    parts = [
        f"新增 {len(report.added)}",
        f"更新 {len(report.updated)}",
        f"删除 {len(report.removed)}",
        f"未变 {len(report.unchanged)}",
        f"跳过 {len(report.skipped)}",
    ]
    if report.repaired:
        parts.append(f"修复 {len(report.repaired)}")
    print(f"导入完成：{'，'.join(parts)}；写入 {report.chunks} 段。", file=stream or sys.stdout)
    # A folder of old .doc files would repeat the same advice once per file: say it once.
    by_reason: dict[str, list[str]] = {}
    for name, reason in report.skipped:
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        shown = "、".join(names[:3]) + (f" 等 {len(names)} 个文件" if len(names) > 3 else "")
        print(f"  跳过 {shown}：{reason}", file=sys.stderr)
    if report.unreadable:
        print(prompts.render("ingest_unreadable", n=len(report.unreadable)), file=sys.stderr)


def _ensure(services: Services) -> None:
    from bot.services import ensure_knowledge, index_warning, knowledge_dir

    if services.index.documents():
        warning = index_warning(services)
        if warning:
            print(warning, file=sys.stderr)
        return
    print(prompts.render("first_run", path=knowledge_dir(services.settings)), file=sys.stderr)
    report = ensure_knowledge(services)
    if report is not None:
        _print_ingest(report, stream=sys.stderr)  # stdout stays clean for --json


# ---------------------------------------------------------------------------- commands
def cmd_ingest(args: argparse.Namespace) -> int:
    """kaowu ingest [PATH ...]"""
    from bot.services import knowledge_dir
    from ingest.pipeline import ingest

    services = _services()
    try:
        paths = [Path(p) for p in args.paths] or [knowledge_dir(services.settings)]
        report = ingest(
            services.index,
            paths,
            max_chars=services.settings.index.chunk_max_chars,
            progress=False if args.quiet else None,
            lock_timeout=services.settings.index.ingest_lock_timeout,
        )
        _print_ingest(report)
        missing = any(reason == "路径不存在" for _, reason in report.skipped)
        return 1 if missing or report.unreadable else 0
    finally:
        services.close()


def _ask_json(services: Services, question: str) -> dict[str, Any]:
    from bot.qa import InvalidQuestion

    try:
        return services.qa.ask(question).to_json()
    except InvalidQuestion as exc:
        return {
            "question": question,
            "answered": False,
            "answer": str(exc),
            "citations": [],
            "error": str(exc),
        }


def cmd_ask(args: argparse.Namespace) -> int:
    """kaowu ask [--json] [--batch FILE] "问题" """
    from bot.qa import InvalidQuestion
    from bot.render import answer_plain

    if not args.batch and args.question is None:
        print(prompts.load("ask_cli_usage"), file=sys.stderr)
        return 2
    question = _readable(args.question) if args.question is not None else ""
    services = _services()
    try:
        _ensure(services)
        if args.batch:
            return _ask_batch(services, Path(args.batch), args.json)
        if args.json:
            print(json.dumps(_ask_json(services, question), ensure_ascii=False))
            return 0
        try:
            answer = services.qa.ask(question)
        except InvalidQuestion as exc:
            print(str(exc), file=sys.stderr)
            return 2
        passages = None
        if args.full:
            passages = {}
            for c in answer.citations:
                chunk = services.index.chunk(c.chunk_id)
                if chunk is not None:
                    doc = services.index.document_text(chunk.path) or chunk.text
                    passages[c.n] = doc[min(c.start, chunk.start) : chunk.end].strip()
        print(answer_plain(answer, passages))
        return 0
    finally:
        services.close()


def _readable(text: str) -> str:
    """Text from argv or a file with undecodable bytes (not UTF-8) shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _batch_row(n: int, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One batch line as {id, question}, or the Chinese reason it cannot be asked."""
    try:
        line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError:
        return None, prompts.render("batch_not_utf8", n=n)
    try:
        row = json.loads(line)
    except ValueError:
        return None, prompts.render("batch_bad_json", n=n)
    if not isinstance(row, dict):
        return None, prompts.render("batch_bad_json", n=n)
    if row.get("id") in (None, ""):
        return None, prompts.render("batch_no_id", n=n)
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        return None, prompts.render("batch_no_question", n=n)
    return row, None


def _ask_batch(services: Services, path: Path, as_json: bool) -> int:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        print(f"无法读取 {path}：{exc.strerror or exc}", file=sys.stderr)
        return 1
    from bot.qa import InvalidQuestion
    from bot.render import answer_plain
    from knowledge.index import IndexUnavailable

    errors = 0
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        row, err = _batch_row(n, raw)
        if row is None:
            errors += 1
            if as_json:
                print(json.dumps({"id": None, "line": n, "error": err}, ensure_ascii=False))
            else:
                print(f"# 第 {n} 行：{err}\n", flush=True)
            continue
        question = row["question"]
        try:
            answer = services.qa.ask(question)
        except (InvalidQuestion, IndexUnavailable) as exc:
            result = {"question": question, "answered": False, "answer": str(exc),
                      "citations": [], "error": str(exc)}  # fmt: skip
            text = str(exc)
        else:
            result, text = answer.to_json(), answer_plain(answer)
        if as_json:
            print(json.dumps({"id": row["id"], "line": n, **result}, ensure_ascii=False),
                  flush=True)  # fmt: skip
        else:
            print(f"# {row['id']} {question}\n{text}\n", flush=True)
    if errors:
        print(prompts.render("batch_errors", n=errors), file=sys.stderr)
    return 1 if errors else 0


def cmd_chat(args: argparse.Namespace) -> int:
    """kaowu chat [--user ID] [--chat ID] [--name NAME]"""
    from bot.console import run_console
    from bot.core import Core

    services = _services(reports=True)
    try:
        _ensure(services)
        chat = args.chat if args.chat is not None else args.user
        return run_console(Core(services), args.user, chat, args.name or "")
    finally:
        services.close()


def cmd_eval(args: argparse.Namespace) -> int:
    """kaowu eval FILE [FILE ...] [--json]: one column per question set (and per answer mode)."""
    from bot.evaluate import EvalReport, evaluate, read_questions

    sets: dict[str, list[dict[str, Any]]] = {}
    for file in args.files:
        try:
            sets[Path(file).stem] = read_questions(Path(file))
        except (OSError, ValueError) as exc:
            print(f"无法读取题集 {file}：{exc}", file=sys.stderr)
            return 1
    services = _services()
    reports: dict[str, EvalReport] = {}
    try:
        if not services.index.documents():
            print(prompts.load("index_empty"), file=sys.stderr)
            return 1
        _ensure(services)  # prints the warning if the index was built with another embedder
        qa = services.qa
        llm = qa.generator is not None and args.mode != "extractive"
        for name, questions in sets.items():
            suffix = "" if not llm else "（摘录）"
            reports[name + suffix] = evaluate(lambda q: qa.ask(q, mode="extractive"), questions)
            if llm:
                reports[name + "（大模型）"] = evaluate(qa.ask, questions)
    finally:
        services.close()
    if args.json:
        print(json.dumps({
            "sets": {name: r.metrics() for name, r in reports.items()},
            "results": {name: [x.__dict__ for x in r.results] for name, r in reports.items()},
        }, ensure_ascii=False))  # fmt: skip
        return 0
    labels = {
        "questions": "题目数", "answerable": "可回答题数", "hit@1": "hit@1", "hit@3": "hit@3",
        "hit@5": "hit@5", "refusal_rate": "不可回答题的拒答率",
        "false_refusal_rate": "可回答题的误拒率", "median_quote_chars": "引文长度中位数（字）",
        "generated_answers": "大模型生成并通过核验的回答数",
    }  # fmt: skip
    width = max(14, *(len(n) * 2 + 2 for n in reports))
    print(f"{'':<24}" + "".join(f"{name:>{width}}" for name in reports))
    for key, label in labels.items():
        values = "".join(f"{r.metrics()[key]!s:>{width}}" for r in reports.values())
        print(f"{label:<24}{values}")
    for name, report in reports.items():
        misses = [r for r in report.results if (r.answerable and r.hit_rank != 1) or
                  (not r.answerable and r.answered)]  # fmt: skip
        if misses:
            print(f"\n{name}：未命中第一位或应拒未拒")
            for r in misses:
                status = "拒答" if not r.answered else f"命中位次 {r.hit_rank or '无'}"
                print(f"  {r.id} {r.question}（{status}）")
    return 0


def _reports(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(database, report service, notifier) without the knowledge index, which these commands
    do not need (and which a read-only data directory may not open)."""
    from bot.services import build_reports
    from bot.settings import load_settings

    settings = load_settings()
    db, service, notifier, _commands, _answers = build_reports(settings)
    return db, service, notifier


def cmd_sites(args: argparse.Namespace) -> int:
    """kaowu sites import FILE.csv | kaowu sites list | kaowu sites unbind CODE [--user ID]"""
    from bot.reports.service import ReportError, SiteImportError

    db, service, _notifier = _reports(args)
    try:
        if args.action == "import":
            try:
                result = service.import_sites_file(Path(args.file))
            except SiteImportError as exc:
                print("导入失败，文件中的内容一条都没有写入：", file=sys.stderr)
                for problem in exc.problems:
                    print(f"  {problem}", file=sys.stderr)
                return 1
            print(f"考点导入完成：新增 {result.added}，更新 {result.updated}。")
            if result.generated:
                print(prompts.render("join_codes_generated", n=len(result.generated)))
                for code, join in sorted(result.generated.items()):
                    print(f"{code}\t{join}")
            return 0
        if args.action == "unbind":
            try:
                gone = service.unbind(args.code, args.user)
            except ReportError as exc:
                print(str(exc), file=sys.stderr)
                return 2
            who = "、".join(f"{c.name or c.user_id}（id {c.user_id}）" for c in gone)
            print(f"已解除考点 {args.code} 的绑定：{who}。")
            return 0
        sites = service.sites()
        bindings = service.bindings()
        if args.json:
            print(json.dumps([{**s.__dict__, "chiefs": [
                {"user_id": c.user_id, "name": c.name, "bound_at": c.bound_at.isoformat()}
                for c in bindings.get(s.code, [])]} for s in sites], ensure_ascii=False))  # fmt: skip
        else:
            for site in sites:
                chiefs = bindings.get(site.code, [])
                who = "、".join(f"{c.name or '无名'}（id {c.user_id}）" for c in chiefs) or "未绑定"
                print(f"{site.code}\t{site.name}\t{site.district}\t{who}")
            bound = sum(1 for s in sites if bindings.get(s.code))
            print(f"共 {len(sites)} 个考点，已绑定 {bound} 个。", file=sys.stderr)
        return 0
    finally:
        db.close()


def cmd_reports(args: argparse.Namespace) -> int:
    """kaowu reports status|export|tick"""
    from bot.reports import export
    from bot.reports.dates import parse_day, parse_range
    from bot.reports.service import ReportError

    db, service, notifier = _reports(args)
    try:
        today = service.today()
        scope = _cli_scope(args)
        if args.action == "status":
            day = parse_day(args.date or "", today)
            keys = service.schedule.session_keys(day)
            if args.session and args.session not in keys:
                raise ReportError(f"{day}没有“{args.session}”这一场。可选：{'、'.join(keys)}")
            views = [service.status(day, k, scope) for k in keys if not args.session or
                     k == args.session]  # fmt: skip
            if args.json:
                data = [v.to_json() for v in views]
                print(json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False))
            else:
                from bot.reports.pages import status_replies

                for v in views:
                    for reply in status_replies(v):
                        print(reply.text)
            return 0
        if args.action == "stats":
            from bot.reports.pages import stats_replies

            if args.start or args.end:
                start, end = parse_range(
                    f"{args.start or args.end} 至 {args.end or args.start}", today
                )
            else:
                start, end = today - timedelta(days=6), today
            stats = service.stats(start, end, scope)
            if args.json:
                print(json.dumps({
                    "start": start.isoformat(), "end": end.isoformat(), "scope": stats.scope,
                    "sites": [{"code": x.site.code, "name": x.site.name,
                               "district": x.site.district, "due": x.due, "on_time": x.on_time,
                               "late": x.late, "missing": x.missing,
                               "late_rate": round(x.late_rate, 4), "incidents": x.incidents}
                              for x in stats.sites],
                    "incidents_by_level": dict(stats.by_level),
                    "incidents_by_day": {d.isoformat(): dict(c) for d, c in stats.by_day.items()},
                }, ensure_ascii=False))  # fmt: skip
            else:
                for reply in stats_replies(stats, top=10_000):
                    print(reply.text)
            return 0
        if args.action == "export":
            if args.date and (args.start or args.end):
                raise ReportError("--date 与 --from/--to 只能用一种")
            if args.start or args.end:
                start, end = parse_range(
                    f"{args.start or args.end} 至 {args.end or args.start}", today
                )
            else:
                start, end = parse_range(args.date or "", today)
            writer = export.to_csv if args.format == "csv" else export.to_xlsx
            out = Path(
                args.output
                or f"kaowu-{start}{'' if start == end else '_' + str(end)}.{args.format}"
            )
            problem = _output_problem(out)
            if problem:
                raise ReportError(problem)
            blob = writer(service, start, end, scope)
            try:
                out.write_bytes(blob)
            except OSError as exc:
                raise ReportError(
                    prompts.render("export_write_failed", path=out, reason=exc.strerror or exc)
                ) from exc
            from bot.reports.views import cn_day

            span = cn_day(start) + ("" if start == end else "至" + cn_day(end))
            print(f"已导出 {span} 的报表：{out}")
            return 0
        return _tick(service, notifier)
    except ReportError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        db.close()


def _cli_scope(args: argparse.Namespace) -> Any:
    """The scope of `--district` (repeatable), or every site."""
    from bot.reports.scope import ALL, Scope

    districts = getattr(args, "district", None)
    return Scope(frozenset(districts)) if districts else ALL


def _output_problem(out: Path) -> str | None:
    """Why a report cannot be written to `out` (in Chinese), or None."""
    if out.is_dir():
        return prompts.render("export_is_dir", path=out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return prompts.render("export_no_parent", path=out, parent=parent)
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        return prompts.render("export_write_failed", path=out, reason="没有写权限")
    return None


def _tick(service: Any, notifier: Any) -> int:
    """Queue the reminders and digests that are due and send every due notice.

    For cron when the bot is not running; sends through the Bot API when a token is set.
    """
    import asyncio

    from bot.settings import TelegramSettings

    queued = notifier.tick(service.now())
    tg = TelegramSettings()
    if not tg.telegram_bot_token:
        pending = service.outbox.due_ids()
        print(prompts.render("tick_no_token", queued=len(queued), pending=len(pending)),
              file=sys.stderr)  # fmt: skip
        return 1 if pending else 0

    from bot.tg_send import TelegramSender, standalone_bot

    async def send() -> Any:
        async with standalone_bot(tg) as bot:
            return await service.outbox.deliver(TelegramSender(bot))

    from telegram.error import TelegramError

    try:
        report = asyncio.run(send())
    except TelegramError as exc:
        print(prompts.render("tick_unreachable", error=exc,
                             pending=len(service.outbox.due_ids())), file=sys.stderr)  # fmt: skip
        return 1
    left = len(service.outbox.notices(status="pending"))
    print(prompts.render("tick_done", queued=len(queued), sent=report.sent,
                         retried=report.retried, failed=report.failed, pending=left))  # fmt: skip
    return 0 if not report.failed and not report.retried else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    """kaowu feedback [--negative] [--json]: answers that received 👍/👎, for review."""
    services = _services(reports=True)
    assert services.answers is not None
    try:
        rows = services.answers.recent(limit=args.limit, only_negative=args.negative)
    finally:
        services.close()
    if args.json:
        print(json.dumps([{**r.__dict__, "created_at": r.created_at.isoformat()} for r in rows],
                         ensure_ascii=False))  # fmt: skip
        return 0
    if not rows:
        print("还没有收到反馈。")
    for r in rows:
        print(
            f"#{r.id} 👍{r.up} 👎{r.down}  {r.created_at:%Y-%m-%d %H:%M}  [{r.mode}] 问：{r.question}"
        )
        print(f"    答：{r.answer[:200]}")
        for c in r.citations:
            print(f"    [{c['n']}] {c['title']} · {c['section']}：{c['quote'][:80]}")
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """kaowu web [--host H] [--port P] | kaowu web link --user ID | kaowu web logout-all"""
    from bot.services import build_services
    from bot.settings import load_settings
    from web import auth

    settings = load_settings()
    if args.action is None:
        host = args.host or settings.web.web_host
        port = args.port or settings.web.web_port or 8080
        overrides = {"web_host": host, "web_port": port}
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=overrides)})
    services = build_services(settings, reports=True)
    assert services.db is not None and services.reports is not None
    try:
        if args.action == "link":
            if args.user not in settings.reports.coordinator_ids:
                print(prompts.render("web_not_coordinator", user=args.user), file=sys.stderr)
                return 2
            url = auth.issue_link(services.db, args.user, services.reports.now(),
                                  settings.web.base_url())  # fmt: skip
            print(url)
            return 0
        if args.action == "logout-all":
            print(prompts.render("web_logout_all", n=auth.logout_all(services.db)))
            return 0
        from web.server import serve

        print(prompts.render("web_serving", url=settings.web.base_url()), file=sys.stderr)
        serve(services, settings.web.web_host, settings.web.web_port or 8080)
        return 0
    finally:
        services.close()


def cmd_run(args: argparse.Namespace) -> int:
    """kaowu run [--webhook] [--platform dingtalk]: the Telegram (or DingTalk) bot."""
    from bot.services import build_services, ensure_knowledge, index_warning
    from bot.settings import load_settings

    settings = load_settings()
    if (getattr(args, "platform", None) or settings.frontend.platform) == "dingtalk":
        return _run_dingtalk(args, settings)
    tg = settings.telegram
    if not tg.telegram_bot_token:
        print(prompts.load("no_token"), file=sys.stderr)
        return 1
    webhook = None
    if args.webhook:
        if not tg.webhook_url:
            print(prompts.load("no_webhook_url"), file=sys.stderr)
            return 1
        webhook = {
            "listen": tg.webhook_listen,
            "port": tg.webhook_port,
            "url_path": "telegram",
            "webhook_url": tg.webhook_url,
            "secret_token": tg.webhook_secret,
        }
    from bot.telegram_app import run

    def factory() -> Services:
        services = build_services(settings, reports=True)
        warning = index_warning(services)
        if warning:
            print(warning, file=sys.stderr)
        if not services.index.documents():
            print(prompts.render("first_run", path=settings.index.knowledge_dir or "knowledge"),
                  file=sys.stderr)  # fmt: skip
            ensure_knowledge(services, progress=False)
        return services

    from telegram.error import InvalidToken

    if settings.web.web_port:
        # The console gets its own services (connections) over the same data.
        from web.server import start_background

        web_services = build_services(settings, reports=True)
        start_background(web_services, settings.web.web_host, settings.web.web_port)
        print(prompts.render("web_serving", url=settings.web.base_url()), file=sys.stderr)
    try:
        run(factory, tg, webhook)
    except InvalidToken:
        print(prompts.load("bad_token"), file=sys.stderr)
        return 1
    return 0


def _run_dingtalk(args: argparse.Namespace, settings: Any) -> int:
    """The DingTalk bot in Stream mode; one Chinese line when DingTalk cannot be used."""
    from bot.services import build_services, ensure_knowledge

    dt = settings.dingtalk
    if not dt.dingtalk_client_id or not dt.dingtalk_client_secret:
        print(prompts.load("dingtalk_no_credentials"), file=sys.stderr)
        return 1
    args.redactor.add([dt.dingtalk_client_secret])
    from bot.dingtalk_app import DingTalkUnreachable, run

    def factory() -> Services:
        services = build_services(settings, reports=True)
        if not services.index.documents():
            ensure_knowledge(services, progress=False)
        return services

    try:
        run(factory, dt)
    except DingTalkUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = argparse.ArgumentParser(
        prog="kaowu", description="考务助手：考务规定问答（附出处）与日报。"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("ingest", help="导入文档到知识库（默认 knowledge/handbook/）")
    s.add_argument("paths", nargs="*", help="文件或目录")
    s.add_argument("-q", "--quiet", action="store_true", help="不显示进度条")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="提一个问题")
    s.add_argument("question", nargs="?", help="问题")
    s.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
    s.add_argument("--batch", metavar="FILE", help="从 JSONL 文件（id、question）批量提问")
    s.add_argument("--full", action="store_true", help="在出处下显示整段原文")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", help="交互式控制台")
    s.add_argument("--user", type=int, default=0, help="以该用户 id 身份发言")
    s.add_argument("--chat", type=int, default=None, help="会话 id（默认与用户相同，即私聊）")
    s.add_argument("--name", default="", help="显示名")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("sites", help="考点管理")
    site_sub = s.add_subparsers(dest="action", required=True)
    imp = site_sub.add_parser(
        "import", help="从 CSV 导入考点（表头 考点代码,考点名称,区县,加入码 或英文，加入码可留空）"
    )
    imp.add_argument("file")
    lst = site_sub.add_parser("list", help="列出考点和绑定的主考")
    lst.add_argument("--json", action="store_true")
    unb = site_sub.add_parser("unbind", help="解除考点的绑定（全部或 --user 指定的人）")
    unb.add_argument("code", help="考点代码")
    unb.add_argument("--user", type=int, help="只解除这个用户 id 的绑定")
    s.set_defaults(func=cmd_sites)

    s = sub.add_parser("reports", help="日报")
    rep_sub = s.add_subparsers(dest="action", required=True)
    st = rep_sub.add_parser("status", help="已报、迟报、未报考点")
    st.add_argument("--date", help="日期，默认今天")
    st.add_argument("--session", help="场次（日程分场时），默认全部场次")
    st.add_argument("--district", action="append", help="只看这个区县（可重复）")
    st.add_argument("--json", action="store_true")
    sts = rep_sub.add_parser("stats", help="多日统计：各考点迟报率、事件按级别和日期")
    sts.add_argument("--from", dest="start", help="起始日期，默认 7 天前")
    sts.add_argument("--to", dest="end", help="结束日期，默认今天")
    sts.add_argument("--district", action="append", help="只看这个区县（可重复）")
    sts.add_argument("--json", action="store_true")
    ex = rep_sub.add_parser("export", help="导出报表")
    ex.add_argument("--date", help="某一天，默认今天")
    ex.add_argument("--from", dest="start", help="起始日期")
    ex.add_argument("--to", dest="end", help="结束日期")
    ex.add_argument("--format", choices=("csv", "xlsx"), default="xlsx")
    ex.add_argument("-o", "--output", help="输出文件")
    ex.add_argument("--district", action="append", help="只导出这个区县（可重复）")
    rep_sub.add_parser("tick", help="发送到点的提醒和截止汇总（不运行机器人时可由 cron 调用）")
    s.set_defaults(func=cmd_reports)

    s = sub.add_parser("feedback", help="查看收到 👍/👎 的回答（供复核）")
    s.add_argument("--negative", action="store_true", help="只看收到 👎 的")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("run", help="启动 Telegram 机器人（默认长轮询）或钉钉机器人")
    s.add_argument("--webhook", action="store_true", help="以 webhook 方式运行")
    s.add_argument("--platform", choices=["telegram", "dingtalk"],
                   help="聊天平台（默认取 PLATFORM，即 telegram）")  # fmt: skip
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("web", help="招生办工作台（网页）：启动、生成登录链接、退出全部登录")
    s.add_argument("--host", help="监听地址（默认 WEB_HOST 或 127.0.0.1）")
    s.add_argument("--port", type=int, help="端口（默认 WEB_PORT 或 8080）")
    web_sub = s.add_subparsers(dest="action")
    link = web_sub.add_parser("link", help="为招生办人员生成一次性登录链接（10 分钟内有效）")
    link.add_argument("--user", type=int, required=True, help="用户 id（须在 COORDINATOR_IDS 中）")
    web_sub.add_parser("logout-all", help="结束所有浏览器的登录")
    s.set_defaults(func=cmd_web)

    s = sub.add_parser("eval", help="用题集评测检索与拒答")
    s.add_argument(
        "files", nargs="+", metavar="FILE", help="题集 JSONL（可以多个，结果并列成一张表）"
    )
    s.add_argument("--json", action="store_true", help="输出 JSON")
    s.add_argument("--mode", choices=("auto", "extractive"), default="auto",
                   help="auto：配置了大模型时两种方式都评测")  # fmt: skip
    s.set_defaults(func=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kaowu` script."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    # Everything kaowu creates (database, index, exports) is private to the user running it.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args.redactor = _install_redaction()
    try:
        if args.command is None:
            # The bot when a token is configured, otherwise the console.
            from bot.settings import TelegramSettings

            token = TelegramSettings().telegram_bot_token
            redactor = args.redactor
            args = parser.parse_args(["run"] if token else ["chat"])
            args.redactor = redactor
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kaowu eval … | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except Exception as exc:  # last resort: a readable line instead of a traceback
        message = _explain(exc)
        if message is None:
            raise
        logging.getLogger(__name__).info("error details", exc_info=exc)  # redacted, with -v
        print(args.redactor(message), file=sys.stderr)
        return 1


def _install_redaction() -> Any:
    """Hide the bot token, API keys and join codes in every log line from here on."""
    from bot.logsafe import Redactor, install_redaction

    secrets = [os.environ.get(name) for name in ("TELEGRAM_BOT_TOKEN", "LLM_API_KEY")]
    try:
        from bot.settings import LLMSettings, TelegramSettings

        secrets += [TelegramSettings().telegram_bot_token, LLMSettings().llm_api_key]
    except Exception:  # a malformed setting is reported later, with its own message
        pass
    redactor = Redactor(secrets)
    install_redaction(redactor)
    return redactor


def _explain(exc: Exception) -> str | None:
    """A Chinese explanation of an error the user can fix (configuration, services), if any."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

    from bot.llm import LLMUnavailable
    from bot.reports.schedule import ScheduleError
    from bot.reports.scope import ScopeError
    from bot.reports.template import TemplateError
    from bot.rerank import RerankerUnavailable
    from bot.store.db import DatabaseUnavailable
    from knowledge.embeddings import EmbedderUnavailable
    from knowledge.index import IndexUnavailable

    if isinstance(exc, ValidationError):
        lines = ["配置有误（.env 或环境变量），请参照 .env.example 修改："]
        for err in exc.errors():
            name = ".".join(str(x) for x in err["loc"]).upper()
            lines.append(f"  {name}={err.get('input')!r}：{err['msg']}")
        return "\n".join(lines)
    known = (
        EmbedderUnavailable,
        ScheduleError,
        TemplateError,
        ScopeError,
        LLMUnavailable,
        RerankerUnavailable,
        IndexUnavailable,
        DatabaseUnavailable,
    )
    if isinstance(exc, known):
        return str(exc)
    if isinstance(exc, ArgumentError):
        return prompts.load("database_url_bad")
    if isinstance(exc, OperationalError) and _is_connect_error(exc):
        # The driver's own first line (host, port, reason) without SQL or parameters.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return prompts.render("database_unreachable", reason=reason)
    if isinstance(exc, DBAPIError):
        # Never the raw error: it carries the statement and its parameters (join codes).
        return prompts.render("database_error", kind=type(exc.orig or exc).__name__)
    return None


def _is_connect_error(exc: Exception) -> bool:
    """Whether a database error happened while connecting (not in a statement)."""
    return (
        getattr(exc, "statement", None) in (None, "")
        or "connect" in str(getattr(exc, "orig", "")).lower()
    )


if __name__ == "__main__":
    sys.exit(main())
