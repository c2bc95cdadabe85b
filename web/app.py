"""The FastAPI application: server-rendered pages over `web.data`, sessions from `web.auth`.

Every page needs a session of a coordinator; without one the sign-in explanation is all there
is. Forms that change anything carry the session's CSRF token. Assets come from `web/static`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import prompts
from bot.qa import InvalidQuestion
from bot.services import Services
from ingest.loaders import LOADERS
from web import auth, data
from web.charts import hour_bars, level_bars
from web.knowledge import Uploads, clean_name

HERE = Path(__file__).resolve().parent
COOKIE = "kaowu_web"
MAX_RANGE_DAYS = 366
NAV = [("/", "今日"), ("/incidents", "事件"), ("/sites", "考点"), ("/stats", "统计与导出"),
       ("/knowledge", "知识库"), ("/questions", "问答记录")]  # fmt: skip


@dataclass(frozen=True)
class Visitor:
    """A signed-in coordinator."""

    user_id: int
    csrf: str
    scope: data.Scope
    token: str


class BadInput(Exception):
    """Input the page refuses; the message (Chinese) says what to fix."""


class Turned(Exception):
    """A request turned away before its route ran: `response` is what the browser gets."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def create_app(services: Services) -> FastAPI:
    """The console over `services` (which must include the report database)."""
    app = FastAPI(title="招生办工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    uploads = Uploads(services)
    app.state.services, app.state.uploads = services, uploads
    web = services.settings.web
    assert services.db is not None, "the web console needs the report database"
    db = services.db

    def visitor(request: Request) -> Visitor | None:
        token = request.cookies.get(COOKIE)
        found = auth.session(db, token, data.now(services))
        if found is None or token is None:
            return None
        scope = data.scope_of(services, found.user_id)
        return None if scope is None else Visitor(found.user_id, found.csrf, scope, token)

    def page(request: Request, name: str, v: Visitor | None, status: int = 200,
             **context: Any) -> HTMLResponse:  # fmt: skip
        return templates.TemplateResponse(
            request,
            name,
            {"v": v, "nav": NAV, "path": request.url.path, **context},
            status_code=status,
        )

    def signin(request: Request, status: int = 401, error: str = "") -> HTMLResponse:
        return page(request, "signin.html", None, status, error=error)

    def refused(request: Request, v: Visitor, message: str, status: int = 400) -> HTMLResponse:
        return page(request, "error.html", v, status, message=message)

    def checked(v: Visitor | None, csrf: str) -> bool:
        return v is not None and bool(csrf) and csrf == v.csrf

    def signed_in(request: Request) -> Visitor:
        """The signed-in coordinator; anyone else gets the sign-in page."""
        v = visitor(request)
        if v is None:
            raise Turned(signin(request))
        return v

    def posting(request: Request, csrf: str) -> Visitor:
        """The coordinator behind a form, whose CSRF token must be the session's."""
        v = signed_in(request)
        if not checked(v, csrf):
            raise Turned(refused(request, v, prompts.load("web_csrf_stale"), 403))
        return v

    @app.exception_handler(Turned)
    async def turned(request: Request, exc: Turned) -> Response:
        return exc.response

    def day_arg(value: str | None, default: date) -> date:
        if not value:
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise BadInput(prompts.render("web_date_bad", value=value[:20])) from exc

    def date_range(start: str | None, end: str | None) -> tuple[date, date]:
        today = data.today(services)
        first = day_arg(start, today - timedelta(days=6))
        last = day_arg(end, today)
        if first > last:
            raise BadInput(prompts.render("web_range_reversed", start=first, end=last))
        if (last - first).days >= MAX_RANGE_DAYS:
            raise BadInput(prompts.render("web_range_too_long", days=MAX_RANGE_DAYS))
        return first, last

    # ------------------------------------------------------------------ sign-in
    @app.get("/login")
    def login(request: Request, t: str = "") -> Response:
        try:
            token, found = auth.redeem(db, t, data.now(services), web.web_session_hours)
        except auth.LinkRefused as exc:
            return signin(request, 400, str(exc))
        if data.scope_of(services, found.user_id) is None:
            return signin(request, 403, prompts.render("web_not_coordinator", user=found.user_id))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, max_age=int(web.web_session_hours * 3600),
                            httponly=True, samesite="lax", secure=web.secure(), path="/")  # fmt: skip
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        v = visitor(request)
        if v is not None and checked(v, csrf):
            auth.end_session(db, v.token, data.now(services))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ 今日
    @app.get("/", response_class=HTMLResponse)
    def today(request: Request, q: str = "", state: str = "", district: str = "",
              done: str = "", n: int = 0, unreachable: str = "") -> HTMLResponse:  # fmt: skip
        v = visitor(request)
        if v is None:
            return signin(request, 200)
        b = data.board(services, v.scope, data.today(services))
        rows = [r for r in b.rows
                if (not q or q in r.site.name or q in r.site.code or q in r.site.district)
                and (not state or r.state == state)
                and (not district or r.site.district == district)]  # fmt: skip
        return page(request, "today.html", v, board=b, rows=rows, q=q, state=state,
                    district=district, states=data.STATES, done=done, n=n,
                    unreachable=unreachable)  # fmt: skip

    @app.post("/remind")
    def remind(request: Request, csrf: str = Form(""), code: str = Form("")) -> Response:
        v = posting(request, csrf)
        queued, nobody = data.remind(services, v.scope, code or None)
        names = "、".join(s.name for s in nobody)
        return RedirectResponse(f"/?done=reminded&n={queued}&unreachable={names}", 303)

    # ------------------------------------------------------------------ 事件
    @app.get("/incidents", response_class=HTMLResponse)
    def incidents(request: Request, start: str = "", end: str = "", done: str = "") -> Response:
        v = signed_in(request)
        try:
            first, last = date_range(start or str(data.today(services)), end)
        except BadInput as exc:
            return refused(request, v, str(exc))
        rows = data.incidents(services, v.scope, first, last)
        return page(request, "incidents.html", v, rows=rows, start=first, end=last, done=done)  # fmt: skip

    @app.post("/incidents/{incident_id}/ack")
    def acknowledge(request: Request, incident_id: int, csrf: str = Form("")) -> Response:
        v = posting(request, csrf)
        if not data.acknowledge(services, v.scope, incident_id, v.user_id, f"招生办{v.user_id}"):
            return refused(request, v, prompts.load("web_not_found"), 404)
        return RedirectResponse("/incidents?done=ack", 303)

    @app.get("/incidents/{incident_id}/photos/{n}")
    def photo(request: Request, incident_id: int, n: int) -> Response:
        v = signed_in(request)
        found = data.photo(services, v.scope, incident_id, n)
        if found is None:
            return refused(request, v, prompts.load("web_not_found"), 404)
        return FileResponse(found)

    # ------------------------------------------------------------------ 考点
    @app.get("/sites", response_class=HTMLResponse)
    def sites(request: Request, done: str = "", code: str = "", join: str = "") -> Response:
        v = signed_in(request)
        return page(request, "sites.html", v, rows=data.sites(services, v.scope), done=done,
                    code=code, join=join)  # fmt: skip

    @app.post("/sites/{code}/unbind")
    def unbind(request: Request, code: str, csrf: str = Form(""), user: int = Form(0)) -> Response:
        v = posting(request, csrf)
        if not data.unbind(services, v.scope, code, user):
            return refused(request, v, prompts.load("web_not_found"), 404)
        return RedirectResponse(f"/sites?done=unbound&code={code}", 303)

    @app.post("/sites/{code}/joincode")
    def joincode(request: Request, code: str, csrf: str = Form("")) -> Response:
        v = posting(request, csrf)
        join = data.new_join_code(services, v.scope, code)
        if join is None:
            return refused(request, v, prompts.load("web_not_found"), 404)
        return RedirectResponse(f"/sites?done=joincode&code={code}&join={join}", 303)

    # ------------------------------------------------------------------ 统计与导出
    @app.get("/stats", response_class=HTMLResponse)
    def stats(request: Request, start: str = "", end: str = "") -> Response:
        v = signed_in(request)
        try:
            first, last = date_range(start, end)
        except BadInput as exc:
            return page(request, "stats.html", v, 400, error=str(exc), start=start, end=end)
        st = data.stats(services, v.scope, first, last)
        return page(request, "stats.html", v, st=st, start=first, end=last,
                    hours=hour_bars(st.by_hour), levels=level_bars(st.by_level_day))  # fmt: skip

    def download(request: Request, kind: str, start: str, end: str) -> Response:
        v = signed_in(request)
        try:
            first, last = date_range(start, end)
        except BadInput as exc:
            return page(request, "stats.html", v, 400, error=str(exc), start=start, end=end)
        span = str(first) if first == last else f"{first}_{last}"
        if kind == "csv":
            body, media = data.export_csv(services, v.scope, first, last), "text/csv"
        else:
            body = data.export_xlsx(services, v.scope, first, last)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(body, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="kaowu-{span}.{kind}"'})  # fmt: skip

    @app.get("/export.csv")
    def export_csv(request: Request, start: str = "", end: str = "") -> Response:
        return download(request, "csv", start, end)

    @app.get("/export.xlsx")
    def export_xlsx(request: Request, start: str = "", end: str = "") -> Response:
        return download(request, "xlsx", start, end)

    # ------------------------------------------------------------------ 知识库
    def knowledge_page(request: Request, v: Visitor, status: int = 200, **extra: Any) -> Response:
        return page(request, "knowledge.html", v, status, docs=uploads.documents(),
                    max_mb=web.web_upload_max_mb, accept=",".join(sorted(LOADERS)),
                    **extra)  # fmt: skip

    @app.get("/knowledge", response_class=HTMLResponse)
    def knowledge(request: Request, job: str = "", done: str = "") -> Response:
        v = signed_in(request)
        return knowledge_page(request, v, job=uploads.job(job), done=done)

    @app.post("/knowledge/upload")
    async def upload(request: Request, csrf: str = Form(""),
                     file: UploadFile | None = None) -> Response:  # fmt: skip
        v = posting(request, csrf)
        name = clean_name(file.filename or "") if file is not None else ""
        body = await file.read(uploads.max_bytes + 1) if file is not None and name else b""
        problem = uploads.problem(name, len(body))
        if problem:
            return knowledge_page(request, v, 400, error=problem)
        job = uploads.start(name, body)
        return RedirectResponse(f"/knowledge?job={job.id}", 303)

    @app.get("/knowledge/jobs/{job_id}")
    def job_state(request: Request, job_id: str) -> Response:
        if visitor(request) is None:
            return JSONResponse({"error": "signin"}, 401)
        job = uploads.job(job_id)
        if job is None:
            return JSONResponse({"error": "unknown"}, 404)
        return JSONResponse(job.to_json())

    @app.post("/knowledge/delete")
    def delete(request: Request, csrf: str = Form(""), path: str = Form("")) -> Response:
        v = posting(request, csrf)
        if not uploads.delete(path):
            return refused(request, v, prompts.load("web_not_found"), 404)
        return RedirectResponse("/knowledge?done=deleted", 303)

    @app.post("/knowledge/ask", response_class=HTMLResponse)
    def ask(request: Request, csrf: str = Form(""), question: str = Form("")) -> Response:
        v = posting(request, csrf)
        try:
            answer = services.qa.ask(question, roles={"all", "coordinator"})
        except InvalidQuestion as exc:
            return knowledge_page(request, v, 400, question=question, ask_error=str(exc))
        return knowledge_page(request, v, question=question, answer=answer)

    # ------------------------------------------------------------------ 问答记录
    @app.get("/questions", response_class=HTMLResponse)
    def questions(request: Request) -> Response:
        v = signed_in(request)
        log = services.answers
        latest = log.latest(200) if log is not None else []
        negative = log.recent(limit=50, only_negative=True) if log is not None else []
        declined = [a for a in latest if not a.answered]
        answered = [a for a in latest if a.answered]
        return page(request, "questions.html", v, declined=declined, answered=answered,
                    negative=negative, when=lambda at: data.local_time(services, at,
                                                                         "%m-%d %H:%M"))  # fmt: skip

    return app
