"""`python -m daemon console [--port N]`: the admin console (static files in `daemon/console/`)
on this machine, with the project's URL and public anon key filled in.

The page talks to Supabase directly with the signed-in admin's session; this server only hands
out files. It reads SUPABASE_URL, SUPABASE_ANON_KEY and SOURCE_BUCKET and nothing secret: the
service-role key never reaches the browser.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from daemon.app.settings import Settings, read_settings
from daemon.cli import CommandError

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
IMPORT_MAP = re.compile(r'(<script type="importmap">)(.*?)(</script>)', re.DOTALL)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8090, help="port on 127.0.0.1 (default 8090; 0: any free one)"
    )


def config_js(settings: Settings) -> str:
    """The page's settings as an ES module; only public values go in it."""
    values = {
        "SUPABASE_URL": (settings.supabase_url or "").rstrip("/"),
        "SUPABASE_ANON_KEY": settings.supabase_anon_key or "",
        "SOURCE_BUCKET": settings.source_bucket,
    }
    lines = [f"export const {name} = {json.dumps(value)};" for name, value in values.items()]
    return "// Written by `python -m daemon console` from its settings.\n" + "\n".join(lines) + "\n"


def local_modules_installed(root: Path = CONSOLE_DIR) -> bool:
    """Whether `npm ci` has run in the console folder (else the page uses the CDN copies)."""
    return (root / "node_modules" / "@supabase" / "supabase-js" / "package.json").is_file()


def index_html(root: Path = CONSOLE_DIR) -> str:
    """index.html with the import map chosen: node_modules when installed, else the CDN's."""
    html = (root / "index.html").read_text(encoding="utf-8")
    if not local_modules_installed(root):
        return html
    local = (root / "importmap.local.json").read_text(encoding="utf-8").strip()
    return IMPORT_MAP.sub(lambda m: f"{m.group(1)}\n{local}\n{m.group(3)}", html, count=1)


def resolve(root: Path, url_path: str) -> Path | str | None:
    """The file for a URL path; a redirect target (str) where Node-style resolution applies
    (extensionless imports inside node_modules, as the packages' ES builds write them); None
    when there is nothing to serve."""
    parts = PurePosixPath(unquote(url_path)).parts[1:]
    if any(p in ("..", ".") or p.startswith(".") for p in parts):
        return None
    file = root.joinpath(*parts) if parts else root / "index.html"
    if file.is_file():
        return file
    if parts and parts[0] == "node_modules":
        if file.with_name(file.name + ".js").is_file():
            return f"{url_path}.js"
        if (file / "index.js").is_file():
            return f"{url_path.rstrip('/')}/index.js"
    return None


class ConsoleHandler(BaseHTTPRequestHandler):
    """GET and HEAD of the console's files, `/config.js` made from the settings."""

    server_version = "vehicle-photo-console"

    def __init__(self, *args: Any, root: Path, config: str, **kwargs: Any) -> None:
        self.root = root
        self.config = config
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the page's own errors are in the browser

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, index_html(self.root).encode(), TYPES[".html"], head, "no-store")
            return
        if path == "/config.js":
            self._send(200, self.config.encode(), TYPES[".js"], head, "no-store")
            return
        found = resolve(self.root, path)
        if isinstance(found, str):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", found)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if found is None:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8", head, "no-store")
            return
        kind = TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0]
        self._send(200, found.read_bytes(), kind or "application/octet-stream", head, "no-cache")

    def _send(self, status: int, body: bytes, kind: str, head: bool, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)


def make_server(settings: Settings, port: int, root: Path = CONSOLE_DIR) -> ThreadingHTTPServer:
    """The console's HTTP server on 127.0.0.1 (not yet serving)."""
    handler = partial(ConsoleHandler, root=root, config=config_js(settings))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise CommandError(f"Cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}.") from None


def run(args: argparse.Namespace) -> int:
    settings = read_settings()
    if not settings.supabase_url or not settings.supabase_anon_key:
        raise CommandError(
            "Set SUPABASE_URL and SUPABASE_ANON_KEY (the project's public anon key) to serve"
            " the console."
        )
    server = make_server(settings, args.port)
    host, port = server.server_address[:2]
    modules = "node_modules" if local_modules_installed() else "the pinned CDN copies"
    print(f"Console at http://{host!s}:{port}/ (modules from {modules}); Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
