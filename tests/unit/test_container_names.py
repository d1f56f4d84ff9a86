"""Container names: Docker's validation message and generated adjective_surname names."""

from __future__ import annotations

import re

import pytest

from gateway.containers.names import ADJECTIVES, SURNAMES, check_name, generated_name
from services.common.errors import InvalidArgument


@pytest.mark.parametrize("name", ["a", "bad name", "-lead", "x/y", "ü-nicode", "", "/"])
def test_invalid_names_get_dockers_message(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_name(name)
    assert caught.value.message == (
        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    )


@pytest.mark.parametrize(("name", "canonical"), [
    ("web", "/web"), ("/web", "/web"), ("a1", "/a1"), ("my_app.v2-x", "/my_app.v2-x"),
])
def test_valid_names_get_a_leading_slash(name: str, canonical: str) -> None:
    assert check_name(name) == canonical


def test_generated_names_look_like_dockers_and_are_valid() -> None:
    seen = set()
    for attempt in range(200):
        name = generated_name(attempt % 2)
        check_name(name)
        adjective, surname = name[1:].rstrip("0123456789").split("_")
        assert adjective in ADJECTIVES and surname in SURNAMES
        assert (re.search(r"\d$", name) is not None) == (attempt % 2 == 1)
        seen.add(name)
    assert len(seen) > 100  # random, not a fixed sequence
