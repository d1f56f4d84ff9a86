"""Record every HTTP answer a docker-py client gets, to check them against the spec.

A response hook on the client's requests Session sees each answer before docker-py
does. A plain answer's body is read there (requests keeps it for docker-py); a
streamed JSON answer (events, stats, pull progress) cannot be read ahead of the
caller, so its raw reader is wrapped to keep a copy of what the caller reads.
Hijacked and binary streams (attach, exec, logs, tar) are recorded without a body.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import requests

from tests.support.spec_responses import Problem, check_answer, find_operation


@dataclass
class Answer:
    """One answer as the client got it."""

    method: str
    url: str
    status: int
    content_type: str | None
    body: bytearray | None = field(default=None)
    """The bytes read (all of them, or of a stream as much as the caller read)."""


class _TeeReader:
    """A urllib3 response that copies what its reader takes into ``sink``.

    Everything but reading goes to the wrapped response, which docker-py reaches
    into (``_fp.chunked``, ``_fp.chunk_left``, ``closed``)."""

    def __init__(self, raw: Any, sink: bytearray) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self._raw.read(*args, **kwargs)
        self._sink += data
        return data

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for data in self._raw.stream(*args, **kwargs):
            self._sink += data
            yield data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class ResponseRecorder:
    """Answers of every client :meth:`attach`-ed, and their :meth:`problems`."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def attach(self, client: docker.DockerClient | docker.APIClient) -> None:
        api = client.api if isinstance(client, docker.DockerClient) else client
        api.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        content_type = response.headers.get("Content-Type")
        answer = Answer(str(request.method), str(request.url), response.status_code,
                        content_type)
        self.answers.append(answer)
        if request.method == "HEAD" or response.status_code == 101:
            return
        if not kwargs.get("stream"):
            answer.body = bytearray(response.content)
        elif (content_type or "").startswith("application/json"):
            answer.body = bytearray()
            response.raw = _TeeReader(response.raw, answer.body)

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        for answer in self.answers:
            body = bytes(answer.body) if answer.body is not None else None
            found += check_answer(answer.method, answer.url, answer.status,
                                  answer.content_type, body)
        return found

    def operations(self) -> set[str]:
        """``GET /containers/{id}/json -> 200`` for every answer seen (for coverage)."""
        return {f"{find_operation(a.method, a.url)} -> {a.status}" for a in self.answers}
