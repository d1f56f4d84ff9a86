"""execd's runtime record: what it keeps for an execd that comes back (issue 6, kill durability)."""

from __future__ import annotations

from services.common.records import dump_record
from services.execd.models import RUNNING, RuntimeState, decode_state, encode_state

CID = "c" * 64


def test_the_next_exit_mark_survives_a_round_trip() -> None:
    state = RuntimeState(container_id=CID, status=RUNNING, pid=7, stopped_by_user=True,
                         next_exit_not_restarted=False)
    assert decode_state(encode_state(state)) == state
    marked = RuntimeState(container_id=CID, status=RUNNING, next_exit_not_restarted=True)
    assert decode_state(encode_state(marked)).next_exit_not_restarted


def test_a_record_written_before_the_mark_is_judged_by_stopped_by_user() -> None:
    old = {"container_id": CID, "status": RUNNING, "pid": 7, "stopped_by_user": True}
    assert decode_state(dump_record(old)).next_exit_not_restarted
    old_running = {**old, "stopped_by_user": False}
    assert not decode_state(dump_record(old_running)).next_exit_not_restarted
