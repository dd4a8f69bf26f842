"""``raise serve --http-port``: the store's published dashboards over plain HTTP.

Serves ``<home>/dashboards/`` read-only (GET and HEAD of published pages; no directory
listings), bound to the server's ``--host`` (loopback by default), and tells the engine its
base URL so that ``PUBLISH DASHBOARD`` answers ``http://host:port/<org>/<domain>/<project>/
<name>.html``. A published page carries the data its publisher could read and is served
without authentication: bind it to an address only its audience reaches.
"""
from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from raise_.analytics.dashboards import FOLDER

__all__ = ["DashboardServer"]


class _PagesOnly(SimpleHTTPRequestHandler):
    """Published pages only: a folder is not listed, and nothing is logged to stderr per request."""

    def list_directory(self, path):
        self.send_error(404, "no listing of published dashboards")
        return None

    def log_message(self, format: str, *args) -> None:
        return


class DashboardServer:
    """An HTTP server of ``engine.home/dashboards`` in a daemon thread until ``shutdown()``."""

    def __init__(self, engine, host: str, port: int) -> None:
        folder = Path(engine.home) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer((host, port), partial(_PagesOnly, directory=str(folder)))
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self._server.server_address[1]}/"
        engine.dashboard_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="raise-dashboards", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
