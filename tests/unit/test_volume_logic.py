"""Pure logic of imaged's volumes: names, driver options, mount flags, filters."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.imaged.volumes import filters as flt
from services.imaged.volumes.models import ANONYMOUS_LABEL, Volume
from services.imaged.volumes.names import anonymous_name, check_name
from services.imaged.volumes.options import (
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    check_options,
    has_mount,
    parse_mount,
)


def _volume(name: str, *, labels: dict[str, str] | None = None,
            users: tuple[str, ...] = ()) -> Volume:
    return Volume(name=name, driver="local", mountpoint=f"/v/{name}/_data",
                  created_at="2024-01-01T00:00:00Z", labels=labels, options=None, users=users)


@pytest.mark.parametrize("name", ["ab", "my-vol", "a.b_c-1", "0" * 64, "Data"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


def test_invalid_names_get_dockerds_words() -> None:
    with pytest.raises(InvalidArgument) as short:
        check_name("a")
    assert short.value.message == ("volume name is too short, names should be at least two "
                                   "alphanumeric characters")
    with pytest.raises(InvalidArgument) as bad:
        check_name("bad/name")
    assert bad.value.message == (
        '"bad/name" includes invalid characters for a local volume name, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
        "directory, use absolute path")
    for name in ("-x", ".x", "a b", "/abs"):
        with pytest.raises(InvalidArgument):
            check_name(name)


def test_anonymous_names_are_64_hex_and_differ() -> None:
    first, second = anonymous_name(), anonymous_name()
    assert len(first) == 64 and int(first, 16) >= 0 and first != second


def test_driver_options_are_checked_like_the_local_driver() -> None:
    check_options(None)
    check_options({})
    check_options({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    cases = {
        ("foo",): 'invalid option: "foo"',
        ("o",): 'missing required option: "device"',
        ("type",): 'missing required option: "device"',
        ("device",): 'missing required option: "type"',
    }
    for keys, message in cases.items():
        with pytest.raises(InvalidArgument) as error:
            check_options(dict.fromkeys(keys, "x"))
        assert error.value.message == message
    assert has_mount({"type": "tmpfs", "device": "tmpfs"})
    assert not has_mount({}) and not has_mount(None)


def test_o_splits_into_flags_and_data_as_moby_does() -> None:
    spec = parse_mount({"type": "tmpfs", "device": "tmpfs", "o": "size=10m,nosuid,uid=1000,ro"})
    assert spec.flags == MS_NOSUID | MS_RDONLY and spec.data == "size=10m,uid=1000"
    assert (spec.device, spec.fstype) == ("tmpfs", "tmpfs") and not spec.is_bind
    bind = parse_mount({"type": "none", "device": "/srv/x", "o": "rbind,ro,rw,nodev,rprivate"})
    assert bind.is_bind and bind.flags == MS_BIND | MS_REC | MS_NODEV | MS_PRIVATE
    assert bind.data == ""


def test_list_filters() -> None:
    used = _volume("used1", labels={"a": "b"}, users=("c" * 64,))
    free = _volume("free1", labels={"a": "c"})
    with pytest.raises(InvalidArgument) as error:
        flt.check({"foo": ("bar",)}, flt.LIST_FILTERS)
    assert error.value.message == "Invalid filter 'foo'"

    def names(filters: dict[str, tuple[str, ...]]) -> list[str]:
        return [v.name for v in (used, free) if flt.list_matches(filters, v)]

    assert names({"dangling": ("true",)}) == ["free1"]
    assert names({"dangling": ("0",)}) == ["used1"]
    assert names({"name": ("free",)}) == ["free1"]
    assert names({"name": ("^used1$",)}) == ["used1"]
    assert names({"driver": ("local",)}) == ["used1", "free1"]
    assert names({"driver": ("loc",)}) == []
    assert names({"label": ("a",)}) == ["used1", "free1"]
    assert names({"label": ("a=c",)}) == ["free1"]
    with pytest.raises(InvalidArgument):
        names({"dangling": ("maybe",)})


def test_prune_takes_unused_anonymous_volumes_unless_all() -> None:
    anonymous = _volume("a" * 64, labels={ANONYMOUS_LABEL: ""})
    named = _volume("named", labels={"keep": "no"})
    used = _volume("b" * 64, labels={ANONYMOUS_LABEL: ""}, users=("c" * 64,))
    assert anonymous.anonymous and not named.anonymous

    def pruned(filters: dict[str, tuple[str, ...]]) -> list[str]:
        return [v.name for v in (anonymous, named, used) if flt.prune_matches(filters, v)]

    assert pruned({}) == ["a" * 64]
    assert pruned({"all": ("true",)}) == ["a" * 64, "named"]
    assert pruned({"all": ("1",), "label": ("keep",)}) == ["named"]
    assert pruned({"all": ("1",), "label!": ("keep",)}) == ["a" * 64]
