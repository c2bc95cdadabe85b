"""Serving the console: in the foreground (`kaowu web`) or beside the bot (`kaowu run`)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from bot.services import Services


def server(services: Services, host: str, port: int) -> Any:
    """A uvicorn server for the console over `services`."""
    import uvicorn

    from web.app import create_app

    config = uvicorn.Config(create_app(services), host=host, port=port, log_level="warning",
                            access_log=False)  # fmt: skip
    settle()
    return uvicorn.Server(config)


def settle() -> None:
    """Keep what start-up created out of the collector's full passes.

    Models, indexes and modules live as long as the process; a full collection walking them
    during a request costs 100-200 ms on a busy board.
    """
    gc.collect()
    gc.freeze()


def serve(services: Services, host: str, port: int) -> None:
    """Serve until interrupted."""
    server(services, host, port).run()


def start_background(services: Services, host: str, port: int) -> Any:
    """Serve from a daemon thread (uvicorn leaves signal handling to the main thread there)."""
    srv = server(services, host, port)
    threading.Thread(target=srv.run, name="kaowu-web", daemon=True).start()
    return srv
