"""Typed errors ↔ gRPC status codes: one mapping, both directions."""

from __future__ import annotations

import grpc
import pytest

from services.common import errors
from services.common.grpc_errors import error_from_rpc, status_code_for


class _FakeRpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.Conflict, grpc.StatusCode.ALREADY_EXISTS),
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotModified, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Forbidden, grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
        (errors.Internal, grpc.StatusCode.INTERNAL),
    ],
)
def test_each_kind_round_trips(kind: type[errors.DockyardError], code: grpc.StatusCode) -> None:
    assert status_code_for(kind("x")) == code
    back = error_from_rpc(_FakeRpcError(code, "no such image: busybox"))
    assert type(back) is kind
    assert back.message == "no such image: busybox"


def test_subclasses_keep_their_parent_code() -> None:
    class NoSuchContainer(errors.NotFound):
        pass

    assert status_code_for(NoSuchContainer("gone")) == grpc.StatusCode.NOT_FOUND


def test_unexpected_exceptions_are_internal() -> None:
    assert status_code_for(KeyError("k")) == grpc.StatusCode.INTERNAL


def test_unreachable_service_is_unavailable() -> None:
    back = error_from_rpc(_FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, ""))
    assert isinstance(back, errors.Unavailable)
    assert back.message == "deadline_exceeded"


def test_call_the_peer_dropped_is_unavailable() -> None:
    # What a client sees when the service (or etcd) is killed mid-call.
    back = error_from_rpc(_FakeRpcError(grpc.StatusCode.CANCELLED, ""))
    assert isinstance(back, errors.Unavailable)


def test_etcd_dropping_a_call_is_unavailable() -> None:
    import aetcd.exceptions

    from services.common.etcd_store import unavailable_from

    try:
        try:
            raise _FakeRpcError(grpc.StatusCode.CANCELLED, "")
        except grpc.aio.AioRpcError as rpc_error:
            raise aetcd.exceptions.ClientError("") from rpc_error
    except aetcd.exceptions.ClientError as dropped:
        reported = unavailable_from(dropped)
    assert reported is not None
    assert reported.message.startswith("the cluster store (etcd) is unavailable")
    assert unavailable_from(aetcd.exceptions.ClientError("bad key")) is None
