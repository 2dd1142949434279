"""A stand-in for API4.ai's cars background-removal endpoint, over real HTTP on 127.0.0.1.

It speaks the API as the provider's public examples describe it: a multipart POST
with the photo in the `image` field, `X-API-KEY`, `?mode=` (fg-mask, fg-image, fg-image-shadow, each
optionally with `-hideclp`), and HTTP 200 with `results[0].status` and the base64 PNG in
`results[0].entities[0].image`. The answer is computed, not canned: the backdrop colour is estimated
from the image border, every pixel that differs from it is the vehicle, and the mask (or the RGBA
cutout) says so.

Assumed, not confirmed by any public source: the bodies of 401/403 (`{"error": ...}`), the failure
messages' wording, and 400 for an unknown mode.

In-process::

    with Api4aiDouble(api_key="k") as double:
        double.enqueue(Canned.rate_limited(retry_after="2"), Canned.server_error(500))
        ... API4AI_URL=double.url ...
        assert double.calls == 3

As a command (for the throughput benchmark)::

    python -m tests.doubles.api4ai --port 8099 --latency 1.5 --jitter 0.3

Control endpoints for a double in another process: `GET /_double/stats` and
`POST /_double/script` with a JSON list of canned answers (`{"kind": "rate_limited", ...}`).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import signal
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image, ImageChops, ImageFilter

RESULTS_PATH = "/img-bg-removal/v1/cars/results"
MODES = frozenset(
    base + suffix
    for base in ("fg-mask", "fg-image", "fg-image-shadow")
    for suffix in ("", "-hideclp")
)
# Channel difference from the backdrop above which a pixel is taken for the vehicle.
THRESHOLD = 40


@dataclass(frozen=True)
class Canned:
    """One scripted answer, used instead of the computed one for the next request.

    kind: "status" (any status code with a body), "failure" (HTTP 200 with status.code failure),
    "hang" (say nothing for `seconds`, then drop the connection), "malformed" (HTTP 200, not JSON).
    """

    kind: str = "status"
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    message: str = ""

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Canned:
        """429 with Retry-After (seconds or an HTTP date; None leaves it out)."""
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        body = json.dumps({"error": "Too many requests."}).encode()
        return cls(status=429, body=body, headers=headers)

    @classmethod
    def server_error(cls, status: int = 500) -> Canned:
        return cls(status=status, body=json.dumps({"error": "Internal server error."}).encode())

    @classmethod
    def html(cls, status: int = 502) -> Canned:
        """An HTML error page, as a proxy in front of the API sends it."""
        page = f"<html><head><title>{status} Bad Gateway</title></head><body>nginx</body></html>"
        return cls(status=status, body=page.encode(), content_type="text/html")

    @classmethod
    def failure(cls, message: str = "Failed to process the image.") -> Canned:
        return cls(kind="failure", message=message)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Canned:
        return cls(kind="hang", seconds=seconds)

    @classmethod
    def malformed(cls) -> Canned:
        return cls(kind="malformed")

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Canned:
        """A canned answer from its JSON form (the control endpoint's)."""
        kind = spec.get("kind", "status")
        if kind == "rate_limited":
            return cls.rate_limited(spec.get("retry_after", "1"))
        if kind == "server_error":
            return cls.server_error(int(spec.get("status", 500)))
        if kind == "html":
            return cls.html(int(spec.get("status", 502)))
        if kind == "failure":
            return cls.failure(spec.get("message", "Failed to process the image."))
        if kind == "hang":
            return cls.hang(float(spec.get("seconds", 30.0)))
        if kind == "malformed":
            return cls.malformed()
        return cls(status=int(spec.get("status", 200)), body=str(spec.get("body", "")).encode())


@dataclass
class _State:
    api_key: str | None
    latency: float
    jitter: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    script: deque[Canned] = field(default_factory=deque)
    calls: int = 0
    last_headers: dict[str, str] = field(default_factory=dict)
    last_mode: str | None = None
    modes: list[str] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)


class Api4aiDouble:
    """The API4.ai double: a real HTTP server on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        latency: float = 0.0,
        jitter: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._state = _State(api_key=api_key, latency=latency, jitter=jitter)
        self._server = _Server((host, port), _Handler)
        self._server.state = self._state
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The cars results endpoint (what API4AI_URL points at)."""
        return self.base_url + RESULTS_PATH

    @property
    def calls(self) -> int:
        """POSTs received on the results endpoint, whatever was answered."""
        with self._state.lock:
            return self._state.calls

    @property
    def last_headers(self) -> dict[str, str]:
        """The last request's headers, names in lower case."""
        with self._state.lock:
            return dict(self._state.last_headers)

    @property
    def last_mode(self) -> str | None:
        with self._state.lock:
            return self._state.last_mode

    @property
    def modes(self) -> list[str]:
        with self._state.lock:
            return list(self._state.modes)

    def enqueue(self, *answers: Canned) -> None:
        """Answer the next requests with these, in order; then compute answers again."""
        with self._state.lock:
            self._state.script.extend(answers)

    def set_latency(self, latency: float, jitter: float = 0.0) -> None:
        with self._state.lock:
            self._state.latency, self._state.jitter = latency, jitter

    def start(self) -> Api4aiDouble:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; requests that hang are released at once."""
        self._state.closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Api4aiDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: tests read the counters instead

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_double/stats":
            state = self.server.state
            with state.lock:
                stats = {"calls": state.calls, "last_mode": state.last_mode, "modes": state.modes}
            self._send(200, json.dumps(stats).encode())
        else:
            self._send(404, b'{"error": "Not found."}')

    def do_POST(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path == "/_double/script":
            answers = [Canned.from_json(spec) for spec in json.loads(body or b"[]")]
            with state.lock:
                state.script.extend(answers)
            self._send(204, b"")
            return
        if parts.path != RESULTS_PATH:
            self._send(404, b'{"error": "Not found."}')
            return
        mode = parse_qs(parts.query).get("mode", ["fg-image"])[0]
        key = self.headers.get("X-API-KEY")
        authorised = state.api_key is None or key == state.api_key
        with state.lock:
            state.calls += 1
            state.last_headers = {name.lower(): value for name, value in self.headers.items()}
            state.last_mode = mode
            state.modes.append(mode)
            # A refused key does not use up the script.
            canned = state.script.popleft() if state.script and authorised else None
            delay = state.latency + (random.uniform(0, state.jitter) if state.jitter else 0.0)
        if not key and not authorised:
            self._send(401, b'{"error": "API key is missing."}')
            return
        if not authorised:
            self._send(403, b'{"error": "API key is invalid."}')
            return
        if delay and state.closing.wait(delay):
            return
        if canned is not None:
            self._send_canned(canned)
            return
        if mode not in MODES:
            self._send(400, json.dumps({"error": f"Unknown mode '{mode}'."}).encode())
            return
        fields = parse_multipart(self.headers.get("Content-Type", ""), body)
        self._send(200, json.dumps(answer(fields.get("image"), mode)).encode())

    def _send_canned(self, canned: Canned) -> None:
        if canned.kind == "hang":
            self.server.state.closing.wait(canned.seconds)
            self.close_connection = True
            return
        if canned.kind == "failure":
            self._send(200, json.dumps(_failure(canned.message)).encode())
            return
        if canned.kind == "malformed":
            self._send(200, b'{"results": [{"status": ', content_type="application/json")
            return
        self._send(canned.status, canned.body, canned.content_type, canned.headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if status != 204:
            self.wfile.write(body)


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name (files and plain fields alike)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


def answer(upload: bytes | None, mode: str) -> dict[str, Any]:
    """The API's JSON for this upload and mode: a mask or a cutout of what is not backdrop."""
    if not upload:
        return _failure("Image is not provided.")
    try:
        with Image.open(io.BytesIO(upload)) as opened:
            rgb = opened.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return _failure("Failed to decode the image.")
    mask = estimate_mask(rgb)
    if mode.startswith("fg-mask"):
        result = mask
    else:
        result = rgb.convert("RGBA")
        result.putalpha(mask)
    out = io.BytesIO()
    result.save(out, format="PNG")
    width, height = rgb.size
    return {
        "results": [
            {
                "status": {"code": "ok", "message": "Success."},
                "name": "image",
                "width": width,
                "height": height,
                "entities": [
                    {
                        "kind": "image",
                        "name": "image",
                        "image": base64.b64encode(out.getvalue()).decode("ascii"),
                        "format": "PNG",
                    },
                    {"kind": "objects", "name": "objects", "objects": _objects(mask)},
                ],
            }
        ]
    }


def estimate_mask(rgb: Image.Image) -> Image.Image:
    """White where a pixel differs from the backdrop colour (the median of the border)."""
    width, height = rgb.size
    edges = (
        (0, 0, width, 1),
        (0, height - 1, width, height),
        (0, 0, 1, height),
        (width - 1, 0, width, height),
    )
    border = np.concatenate([np.asarray(rgb.crop(box)).reshape(-1, 3) for box in edges])
    backdrop = tuple(int(v) for v in np.median(border, axis=0).round())
    # PIL's C loops, not numpy temporaries: a 12 MP photo takes a fraction of a second.
    red, green, blue = ImageChops.difference(rgb, Image.new("RGB", rgb.size, backdrop)).split()
    difference = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    mask = difference.point(lambda v: 255 if v > THRESHOLD else 0)
    # Speckles of sensor noise are not a vehicle: keep what most of each 3x3 block agrees on.
    return mask.filter(ImageFilter.BoxBlur(1)).point(lambda v: 255 if v >= 128 else 0)


def _objects(mask: Image.Image) -> list[dict[str, Any]]:
    box = mask.getbbox()
    if box is None:
        return []
    width, height = mask.size
    left, top, right, bottom = box
    normalised = [left / width, top / height, (right - left) / width, (bottom - top) / height]
    return [
        {
            "box": normalised,
            "entities": [
                {"kind": "classes", "name": "classes", "classes": {"opaque-content": 1.0}}
            ],
        }
    ]


def _failure(message: str) -> dict[str, Any]:
    return {
        "results": [
            {
                "status": {"code": "failure", "message": message},
                "name": "image",
                "entities": [],
            }
        ]
    }


def main(argv: list[str] | None = None) -> int:
    """Run the double until SIGINT or SIGTERM; prints its URL on the first line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.api4ai", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this many seconds more")
    parser.add_argument(
        "--api-key", default=None, help="require this X-API-KEY (default: accept any)"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    double = Api4aiDouble(
        api_key=args.api_key,
        latency=args.latency,
        jitter=args.jitter,
        host=args.host,
        port=args.port,
    )
    with double:
        print(double.url, flush=True)
        while not stop.wait(0.2):
            pass
    print(f"served {double.calls} calls", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
