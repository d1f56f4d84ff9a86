"""``docker search``'s rules before any registry is asked: filters, limit, term, result
shape (pure), and the gateway route against a fake imaged."""

from __future__ import annotations

import base64
import json

import pytest

from services.common.errors import InvalidArgument
from services.common.filter_args import Filters, go_bool_or_default, pattern_match
from services.imaged.registry.models import RegistryAuth, SearchResult
from services.imaged.registry.search import parse_results
from services.imaged.registry.search_filters import (
    SearchFilters,
    keep,
    parse_search_filters,
    search_limit,
    split_search_term,
)
from tests.unit.gateway_fakes import FakeDistribution, fake_backends, make_app, serving

RESULTS = [
    SearchResult("library/busybox", "Busybox base image.", 3400, True, is_automated=True),
    SearchResult("someone/busybox", "a copy", 3),
    SearchResult("other/busybox-tools", "", 0),
]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ({}, SearchFilters()),
        ({"stars": ("3",)}, SearchFilters(min_stars=3)),
        ({"stars": ("3", "10", "+4")}, SearchFilters(min_stars=10)),  # the largest wins
        ({"stars": ("-5",)}, SearchFilters(min_stars=0)),
        ({"is-official": ("true",)}, SearchFilters(official=True)),
        ({"is-official": ("0",)}, SearchFilters(official=False)),
        ({"is-official": ("1", "maybe")}, SearchFilters(official=True)),
        ({"is-automated": ("false",)}, SearchFilters()),
        ({"is-automated": ("true",), "stars": ("x",)}, SearchFilters(automated_only=True)),
    ],
)
def test_search_filters_as_dockerd_reads_them(wanted: Filters, expected: SearchFilters) -> None:
    assert parse_search_filters(wanted) == expected


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ({"bogus": ("x",)}, "invalid filter 'bogus'"),
        ({"stars": ("many",)},
         "invalid filter 'stars=many': strconv.Atoi: parsing \"many\": invalid syntax"),
        ({"stars": (" 3",)},
         "invalid filter 'stars= 3': strconv.Atoi: parsing \" 3\": invalid syntax"),
        ({"stars": ("99999999999999999999",)},
         "invalid filter 'stars=99999999999999999999': strconv.Atoi: parsing "
         "\"99999999999999999999\": value out of range"),
        ({"is-official": ("TRUE",)}, "invalid filter 'is-official=TRUE'"),
        ({"is-official": ("true", "false")}, "invalid filter 'is-official=true,false'"),
        ({"is-official": ()}, "invalid filter 'is-official'"),
        ({"is-automated": ("yes",)}, "invalid filter 'is-automated=yes'"),
    ],
)
def test_bad_search_filters_are_refused_in_dockerd_words(wanted: Filters, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_search_filters(wanted)
    assert err.value.message == message


def test_go_bool_or_default_and_pattern_match() -> None:
    assert go_bool_or_default({}, "x", True) is True
    assert go_bool_or_default({"x": ("0",)}, "x", True) is False
    assert pattern_match("web", "my-web-net") and pattern_match("a(", "a(")
    assert not pattern_match("^net", "web-net") and not pattern_match("a(", "b")


def test_limits() -> None:
    assert search_limit(0) == 25
    assert search_limit(1) == 1 and search_limit(100) == 100
    for bad in (-1, 101):
        with pytest.raises(InvalidArgument) as err:
            search_limit(bad)
        assert err.value.message == f"limit {bad} is outside the range of [1, 100]"


@pytest.mark.parametrize(
    ("term", "index", "remote"),
    [
        ("busybox", "docker.io", "busybox"),
        ("library/busybox", "docker.io", "busybox"),
        ("someone/busybox", "docker.io", "someone/busybox"),
        ("docker.io/library/busybox", "docker.io", "busybox"),
        ("index.docker.io/someone/app", "docker.io", "someone/app"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000", "busybox"),
        ("localhost/a/b", "localhost", "a/b"),
        ("registry.example/x", "registry.example", "x"),
    ],
)
def test_the_term_names_the_index(term: str, index: str, remote: str) -> None:
    assert split_search_term(term) == (index, remote)


def test_terms_dockerd_refuses() -> None:
    with pytest.raises(InvalidArgument, match=r"repository name \(http://r/x\) should not"):
        split_search_term("http://r/x")
    with pytest.raises(InvalidArgument, match=r"invalid index name \(-r.io\)"):
        split_search_term("-r.io/x")


def test_keep_applies_filters_and_never_reports_automated() -> None:
    assert [r.name for r in keep(RESULTS, SearchFilters(min_stars=3))] == [
        "library/busybox", "someone/busybox"]
    official = keep(RESULTS, SearchFilters(official=True))
    assert [r.name for r in official] == ["library/busybox"]
    assert not official[0].is_automated
    assert [r.name for r in keep(RESULTS, SearchFilters(official=False, min_stars=1))] == [
        "someone/busybox"]
    assert keep(RESULTS, SearchFilters(automated_only=True)) == []


def test_registry_answers_are_decoded_or_refused() -> None:
    body = json.dumps({"num_results": 1, "query": "b", "results": [
        {"name": "a/b", "description": "d", "star_count": 4, "is_official": False,
         "is_automated": True, "extra": 1}]}).encode()
    assert parse_results(body) == [SearchResult("a/b", "d", 4, False)]
    assert parse_results(b'{"results": null}') == []
    for bad in (b"<html>", b"[]", b'{"results": [{"star_count": "4"}]}'):
        with pytest.raises(Exception, match="error decoding registry search results"):
            parse_results(bad)


async def test_search_route_shape_limit_filters_and_auth() -> None:
    backends = fake_backends()
    fake = backends.distribution
    assert isinstance(fake, FakeDistribution)
    fake.search_results = [SearchResult("someone/busybox", "a copy", 3)]
    auth = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode())
    async with serving(make_app(backends)) as client:
        response = await client.get(
            "/v1.47/images/search",
            params={"term": "127.0.0.1:5000/bus", "limit": "5",
                    "filters": json.dumps({"stars": ["3"]})},
            headers={"X-Registry-Auth": auth.decode()})
        assert response.status == 200
        # moby's registry.SearchResult field order.
        assert await response.text() == (
            '[{"star_count":3,"is_official":false,"name":"someone/busybox",'
            '"is_automated":false,"description":"a copy"}]\n')
        assert fake.calls[-1] == ("search", ("127.0.0.1:5000/bus", 5, {"stars": ("3",)},
                                             RegistryAuth("u", "p")))
        for limit, message in (
            ("x", 'invalid limit specified: strconv.Atoi: parsing "x": invalid syntax'),
            ("101", "limit 101 is outside the range of [1, 100]"),
            ("-1", "limit -1 is outside the range of [1, 100]"),
        ):
            response = await client.get("/v1.47/images/search",
                                        params={"term": "busybox", "limit": limit})
            assert response.status == 400
            assert (await response.json())["message"] == message
        calls = len(fake.calls)
        response = await client.get("/v1.47/images/search",
                                    params={"term": "x", "filters": "{bad"})
        assert response.status == 400 and len(fake.calls) == calls
