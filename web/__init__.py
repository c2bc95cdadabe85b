"""招生办工作台: the coordinators' web console (FastAPI, server-rendered Jinja2 pages).

`web.auth` (sign-in links and sessions) needs no web framework, so the chat command and the CLI
can issue links without importing FastAPI; `web.app` builds the application.
"""
