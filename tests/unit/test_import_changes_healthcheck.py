"""HEALTHCHECK and ONBUILD in ``docker import --change``, as dockerd parses them."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.imaged.changes import apply_changes
from services.imaged.healthcheck import go_duration_ns


def test_healthcheck_forms() -> None:
    config = apply_changes(['HEALTHCHECK --interval=5s --timeout=2s --start-period=1s '
                            '--retries=4 CMD ["curl","-f","x"]'])
    assert config["Healthcheck"] == {"Test": ["CMD", "curl", "-f", "x"], "Interval": 5_000_000_000,
                                     "Timeout": 2_000_000_000, "StartPeriod": 1_000_000_000,
                                     "Retries": 4}
    assert apply_changes(["HEALTHCHECK CMD true"])["Healthcheck"] == {"Test": ["CMD-SHELL", "true"]}
    assert apply_changes(["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}
    assert apply_changes(["HEALTHCHECK --interval=1m30s CMD true"])["Healthcheck"][
        "Interval"] == 90_000_000_000


@pytest.mark.parametrize(("change", "message"), [
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK CMD-SHELL echo hi", 'Unknown type "CMD-SHELL" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --bogus=1 CMD true", "Unknown flag: bogus"),
    ("HEALTHCHECK --interval=10us CMD true", 'Interval "--interval" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("ONBUILD ONBUILD x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("SHELL [\"/bin/sh\"]", "shell is not a valid change command"),
])
def test_bad_changes_are_refused_with_dockerds_words(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        apply_changes([change])
    assert error.value.message == message


def test_go_durations() -> None:
    assert go_duration_ns("1.5s") == 1_500_000_000
    assert go_duration_ns("2h3m") == 7_380_000_000_000
    assert go_duration_ns("0") == 0
    with pytest.raises(InvalidArgument):
        go_duration_ns("5 seconds")
