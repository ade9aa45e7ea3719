"""The dashboard in a browser (``ringemu up --web``): the same Textual app, through textual-serve.

textual-serve runs an aiohttp server whose page holds a terminal (xterm.js); each browser tab
that connects gets its own dashboard process (``ringemu dashboard --run RING`` under Textual's
web driver), attached to the ring like any other dashboard, so closing a tab only detaches it.
This module adds what a ring's controls need that textual-serve leaves open:

- **Who may drive it.** Anyone who can reach the port could inject faults or kill stations, so
  the page wants the run's secret token, given once in the URL (``/?token=...``, printed by
  ``ringemu up --web``); the server answers with an HttpOnly, SameSite=Strict cookie, and the
  websocket that carries key presses is accepted only with that cookie and from the page's own
  origin. Static files (scripts, fonts) need nothing. Like every other socket of a ring it binds
  127.0.0.1 unless told otherwise (``--bind``).
- **Nothing fetched from elsewhere.** textual-serve's page asks Google Fonts for Roboto Mono;
  here the page is served with that link replaced by the copy of the font textual-serve ships,
  so a browser on a machine without network shows it the same (and asks no one else).
- **No process left behind.** Each dashboard process is started with ``exec`` (so its parent is
  this process, not a shell) and asks the kernel to end it if this process dies
  (``dashboard_cmd``); textual-serve itself tells each one to quit when its tab goes.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import secrets
import shlex
import sys
from pathlib import Path
from typing import Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

from ringemu.errors import ConfigError
from ringemu.live.paths import RingInfo

log = logging.getLogger(__name__)

COOKIE = "ringemu_web"
FONT_FACE = """<style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf");
      }
    </style>"""
_REMOTE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.S)


def check_host(host: str) -> str:
    """An address to bind: an IP address literal or ``localhost`` (no name lookups)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ConfigError(f"--bind {host!r}: not an IP address (e.g. 127.0.0.1 or ::1)") from None


class _OfflineTemplates(jinja2.FileSystemLoader):
    """textual-serve's page with its Google Fonts link replaced by the bundled font."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        return _REMOTE_FONT.sub(FONT_FACE, source), filename, uptodate


class WebDashboard(Server):
    """textual-serve's server for one ring's dashboard; see the module docstring."""

    def __init__(self, info: RingInfo, host: str = "127.0.0.1", port: int = 8000,
                 log_file: Path | None = None) -> None:
        command = "exec " + shlex.join([sys.executable, "-m", "ringemu", "dashboard", "--run",
                                        info.runtime_dir])
        url_host = f"[{host}]" if ":" in host else host
        super().__init__(command, host=host, port=port, title=f"ringemu {info.run_id}",
                         public_url=f"http://{url_host}:{port}")
        self.token = secrets.token_urlsafe(24)
        self.log_file = log_file
        self.refused = 0
        """Requests turned away for want of the token or cookie."""

    @property
    def url(self) -> str:
        """The page's address with the token: what to open in a browser."""
        return f"{self.public_url}/?token={self.token}"

    def initialize_logging(self) -> None:
        """Requests are logged to the run folder's ``web.log``, never to the terminal."""
        handler: logging.Handler = (logging.FileHandler(self.log_file, encoding="utf-8")
                                    if self.log_file is not None else logging.NullHandler())
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        for name in ("textual-serve", "aiohttp.access", "aiohttp.server", "aiohttp.web",
                     __name__):
            lg = logging.getLogger(name)
            lg.handlers = [handler]
            lg.setLevel(logging.INFO)
            lg.propagate = False

    async def on_startup(self, app: web.Application) -> None:
        """Nothing on the terminal (textual-serve prints its logo here)."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        aiohttp_jinja2.setup(app, loader=_OfflineTemplates(self.templates_path))
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        path = request.path
        if path.startswith("/static/"):
            return await handler(request)
        if path == "/":
            given = request.query.get("token", "")
            if self._good(given):
                response = await handler(request)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict",
                                    path="/")
                return response
            if self._good(request.cookies.get(COOKIE, "")):
                return await handler(request)
        elif self._good(request.cookies.get(COOKIE, "")) and self._same_origin(request):
            return await handler(request)
        self.refused += 1
        log.warning("refused %s %s from %s", request.method, path, request.remote)
        raise web.HTTPForbidden(text="ringemu: open the address 'ringemu up --web' printed "
                                     "(it carries the ring's token)\n")

    def _good(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or origin == self.public_url

    def run(self, stop_check: Callable[[], str | None], every: float = 0.25,
            ready: Callable[[], None] | None = None) -> str | None:
        """Serve until Ctrl-C or SIGTERM, or until ``stop_check()`` (called in a thread every
        ``every`` seconds; it may block) returns a reason; returns that reason (None after a
        signal). ``ready()`` is called once the port takes connections."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        reason: list[str | None] = [None]

        async def watch() -> None:
            while ready is not None:
                try:
                    _, writer = await asyncio.open_connection(self.host, self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                ready()
                break
            while True:
                await asyncio.sleep(every)
                why = await asyncio.to_thread(stop_check)
                if why is not None:
                    reason[0] = why
                    self.request_exit()

        async def start_watch(app: web.Application) -> None:
            app["ringemu_watch"] = asyncio.create_task(watch())

        original = self._make_app

        async def make_app() -> web.Application:
            app = await original()
            app.on_startup.append(start_watch)
            return app

        self._make_app = make_app  # type: ignore[method-assign]
        try:
            self.serve()
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        return reason[0]
