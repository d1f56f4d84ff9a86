"""The recording proxy's HTTP/1.1 parsing: keep-alive, chunked bodies, upgrades, cut answers."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from tests.support.api_capture import Answer
from tests.support.api_proxy import RecordingProxy, _Connection

JSON_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def feed_in_pieces(connection: _Connection, client: bytes, server: bytes, size: int) -> None:
    for start in range(0, len(client), size):
        connection.observe(connection.from_client, client[start:start + size])
    for start in range(0, len(server), size):
        connection.observe(connection.from_server, server[start:start + size])


def parsed(client: bytes, server: bytes, size: int = 1000) -> list[Answer]:
    answers: list[Answer] = []
    connection = _Connection(answers, threading.Lock())
    feed_in_pieces(connection, client, server, size)
    connection.server_closed()
    return answers


def summary(answers: list[Answer]) -> list[tuple[str, str, int, bytes | None]]:
    return [(a.method, a.url, a.status, None if a.body is None else bytes(a.body))
            for a in answers]


REQUESTS = (b"GET /v1.47/info HTTP/1.1\r\nHost: api\r\n\r\n"
            b"PUT /v1.47/containers/c/archive?path=/ HTTP/1.1\r\nHost: api\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
            b"GET /v1.47/events HTTP/1.1\r\nHost: api\r\n\r\n")
ANSWERS = (f"{JSON_HEAD}Content-Length: 9\r\n\r\n".encode() + b'{"ID":1}\n'
           + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
           + f"{JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n".encode()
           + b'8\r\n{"a":1}\n\r\n' + b'8\r\n{"a":2}\n\r\n' + b"0\r\n\r\n")


def test_keep_alive_requests_chunked_bodies_and_streams_in_any_pieces() -> None:
    expected = [("GET", "/v1.47/info", 200, b'{"ID":1}\n'),
                ("PUT", "/v1.47/containers/c/archive?path=/", 200, None),
                ("GET", "/v1.47/events", 200, b'{"a":1}\n{"a":2}\n')]
    for size in (1, 2, 3, 7, 64, 10_000):
        assert summary(parsed(REQUESTS, ANSWERS, size)) == expected, size


def test_an_upgraded_connection_is_raw_after_its_101() -> None:
    client = (b"POST /v1.47/containers/c/attach?stream=1 HTTP/1.1\r\nHost: api\r\n"
              b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nGET /not-a-request HTTP/1.1\r\n\r\n")
    server = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
              b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nHTTP/1.1 500 raw output\r\n\r\n")
    assert summary(parsed(client, server)) == [
        ("POST", "/v1.47/containers/c/attach?stream=1", 101, None)]


def test_head_and_no_content_answers_have_no_body_and_a_cut_answer_none() -> None:
    client = (b"HEAD /_ping HTTP/1.1\r\n\r\nPOST /v1.47/containers/c/start HTTP/1.1\r\n"
              b"Content-Length: 2\r\n\r\n{}POST /v1.47/containers/c/wait HTTP/1.1\r\n\r\n")
    server = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"
              b"HTTP/1.1 204 No Content\r\n\r\n"
              + f"{JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
    assert summary(parsed(client, server)) == [
        ("HEAD", "/_ping", 200, None), ("POST", "/v1.47/containers/c/start", 204, None),
        ("POST", "/v1.47/containers/c/wait", 200, None)]


def test_garbage_ends_parsing_without_raising() -> None:
    answers = parsed(b"GET /info HTTP/1.1\r\n\r\n", f"{JSON_HEAD}Transfer-Encoding: chunked"
                     "\r\n\r\nzz\r\n".encode())
    assert summary(answers) == [("GET", "/info", 200, None)]


def test_the_proxy_passes_bytes_unchanged_and_records_the_answer(tmp_path: Path) -> None:
    engine_path = tmp_path / "engine.sock"
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    engine.bind(str(engine_path))
    engine.listen(1)
    answer = f"{JSON_HEAD}Content-Length: 18\r\n\r\n".encode() + b'{"message":"gone"}'

    def serve() -> None:
        conn, _ = engine.accept()
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                received += conn.recv(1024)
            conn.sendall(answer)

    server = threading.Thread(target=serve)
    server.start()
    try:
        with (RecordingProxy(engine_path, tmp_path / "proxy.sock") as proxy,
              socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client):
            client.connect(str(tmp_path / "proxy.sock"))
            client.sendall(b"GET /v1.47/containers/x/json HTTP/1.1\r\nHost: a\r\n\r\n")
            got = b""
            while len(got) < len(answer):
                got += client.recv(1024)
        assert got == answer
        assert proxy.operations() == {"GET /containers/{id}/json -> 200"}
        assert [str(p) for p in proxy.problems()] == [
            "GET /containers/{id}/json -> 200: $: unknown property 'message'"]
    finally:
        server.join(timeout=5)
        engine.close()
