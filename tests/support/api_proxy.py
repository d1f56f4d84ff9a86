"""A unix-socket proxy that records the HTTP answers the docker CLI gets.

The CLI is pointed at the proxy's socket; every byte is passed on unchanged in both
directions, while a parser on each side follows the HTTP/1.1 messages: requests give
the method and URL, answers their status, Content-Type and (for JSON) body. Once a
connection is upgraded or hijacked (attach, exec) the rest is raw and not parsed.
Answers are :class:`tests.support.api_capture.Answer`, checked by the same code.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from tests.support.api_capture import Answer
from tests.support.spec_responses import Problem, check_answer, find_operation

_MAX_BODY = 16 * 1024 * 1024
_RAW_TYPES = ("application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream")


class _Body:
    """Incremental HTTP/1.1 body framing: Content-Length, chunked, or to the close."""

    def __init__(self, length: int | None, chunked: bool) -> None:
        self.left = length
        self.chunked = chunked
        self.done = length == 0 and not chunked
        self._chunk_left = 0
        self._pending = b""

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """(body bytes of this message, bytes after its end)."""
        if not self.chunked:
            if self.left is None:
                return data, b""
            taken, rest = data[:self.left], data[self.left:]
            self.left -= len(taken)
            self.done = self.left == 0
            return taken, rest
        out = bytearray()
        data = self._pending + data
        self._pending = b""
        while data and not self.done:
            if self._chunk_left > 0:
                taken, data = data[:self._chunk_left], data[self._chunk_left:]
                out += taken
                self._chunk_left -= len(taken)
                if self._chunk_left == 0:
                    self._chunk_left = -2  # the CRLF after the chunk
                continue
            if self._chunk_left < 0:
                skip = min(-self._chunk_left, len(data))
                data, self._chunk_left = data[skip:], self._chunk_left + skip
                continue
            line_end = data.find(b"\r\n")
            if line_end < 0:
                self._pending = data
                return bytes(out), b""
            size = int(data[:line_end].split(b";", 1)[0], 16)
            data = data[line_end + 2:]
            if size == 0:
                end = data.find(b"\r\n")  # no trailers from dockerd or the CLI
                if end < 0:
                    self._pending = b"0\r\n" + data
                    return bytes(out), b""
                self.done = True
                return bytes(out), data[end + 2:]
            self._chunk_left = size
        return bytes(out), data


def _head(data: bytes) -> tuple[str, dict[str, str], bytes] | None:
    """(first line, headers with lower-case names, rest) once the head is complete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, data[end + 4:]


def _framing(headers: dict[str, str]) -> _Body:
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    length = headers.get("content-length")
    return _Body(int(length) if length is not None and not chunked else None, chunked)


class _Connection:
    """One client connection: the requests it sent, the answers it got."""

    def __init__(self, answers: list[Answer], lock: threading.Lock) -> None:
        self.requests: deque[tuple[str, str]] = deque()
        self.raw = False  # upgraded or hijacked: no more HTTP on this connection
        self._answers, self._lock = answers, lock
        self._request_buffer = b""
        self._request_body: _Body | None = None
        self._response_buffer = b""
        self._response_body: _Body | None = None
        self._answer: Answer | None = None

    def observe(self, parse: Callable[[bytes], None], data: bytes) -> None:
        """Parse ``data`` with ``parse``; anything unparsable ends parsing, not the stream."""
        if self.raw:
            return
        try:
            parse(data)
        except (ValueError, IndexError):
            self.raw = True

    def from_client(self, data: bytes) -> None:
        self._request_buffer += data
        while self._request_buffer and not self.raw:
            if self._request_body is not None:
                _, self._request_buffer = self._request_body.feed(self._request_buffer)
                if not self._request_body.done:
                    return
                self._request_body = None
                continue
            head = _head(self._request_buffer)
            if head is None:
                return
            line, headers, self._request_buffer = head
            method, url = line.split(" ")[:2]
            self.requests.append((method, url))
            if "upgrade" in headers.get("connection", "").lower():
                self._request_buffer = b""
                return  # what follows the upgrade request is the raw stream
            self._request_body = _framing(headers)
            if self._request_body.left is None and not self._request_body.chunked:
                self._request_body = None  # a request without a body

    def from_server(self, data: bytes) -> None:
        self._response_buffer += data
        while self._response_buffer and not self.raw:
            if self._response_body is not None and self._answer is not None:
                body, self._response_buffer = self._response_body.feed(self._response_buffer)
                if self._answer.body is not None and len(self._answer.body) < _MAX_BODY:
                    self._answer.body += body
                if not self._response_body.done:
                    return
                self._response_body = self._answer = None
                continue
            head = _head(self._response_buffer)
            if head is None:
                return
            line, headers, self._response_buffer = head
            status = int(line.split(" ")[1])
            method, url = self.requests.popleft() if self.requests else ("?", "?")
            content_type = headers.get("content-type")
            answer = Answer(method, url, status, content_type)
            with self._lock:
                self._answers.append(answer)
            framing = _framing(headers)
            hijacked = (content_type or "").startswith(_RAW_TYPES) and framing.left is None \
                and not framing.chunked
            if status == 101 or hijacked:
                self.raw = True
                return
            if method == "HEAD" or status in (204, 304):
                continue
            if (content_type or "").startswith("application/json"):
                answer.body = bytearray()
            self._answer, self._response_body = answer, framing

    def server_closed(self) -> None:
        """An answer cut before any of its body came (the client left early, as the CLI
        does with a wait it no longer needs) has no body to check."""
        if self._answer is not None and self._answer.body is not None \
                and not self._answer.body:
            self._answer.body = None


class RecordingProxy:
    """Listen on ``listen`` and pass everything to the engine's socket ``upstream``."""

    def __init__(self, upstream: Path, listen: Path) -> None:
        self.upstream, self.listen = upstream, listen
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    @property
    def docker_host(self) -> str:
        return f"unix://{self.listen}"

    def __enter__(self) -> RecordingProxy:
        self._server.bind(str(self.listen))
        self._server.listen(64)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self._server.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in self._sockets:
            sock.close()
        self.listen.unlink(missing_ok=True)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                engine.connect(str(self.upstream))
            except OSError:
                client.close()
                continue
            self._sockets += [client, engine]
            connection = _Connection(self.answers, self._lock)
            self._spawn(self._pump, client, engine, connection, connection.from_client)
            self._spawn(self._pump, engine, client, connection, connection.from_server,
                        connection.server_closed)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, connection: _Connection,
              parse: Callable[[bytes], None], closed: Callable[[], None] = lambda: None,
              ) -> None:
        try:
            while data := source.recv(65536):
                connection.observe(parse, data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            closed()
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def problems(self) -> list[Problem]:
        with self._lock:
            answers = list(self.answers)
        found: list[Problem] = []
        for answer in answers:
            body = bytes(answer.body) if answer.body is not None else None
            found += check_answer(answer.method, answer.url, answer.status,
                                  answer.content_type, body)
        return found

    def operations(self) -> set[str]:
        with self._lock:
            return {f"{find_operation(a.method, a.url)} -> {a.status}" for a in self.answers}
