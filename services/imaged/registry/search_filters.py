"""What ``GET /images/search`` accepts before a registry is asked, as pure functions.

dockerd's rules (registry.Service.Search): filters ``stars``, ``is-official``
and ``is-automated`` only; booleans as filters.GetBoolOrDefault reads them;
``stars`` values are Go integers and the largest one wins; ``is-automated=true``
finds nothing (Docker Hub no longer has automated builds) and every result's
``is_automated`` is reported false. A limit of 0 means 25; otherwise 1..100.
The term names a registry when its first path part looks like a host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import InvalidArgument
from services.common.filter_args import Filters, check_filters, go_bool_or_default
from services.imaged.reference import DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN
from services.imaged.registry.models import SearchResult

SEARCH_FILTERS = frozenset({"is-automated", "is-official", "stars"})
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class SearchFilters:
    automated_only: bool = False
    """``is-automated=true``: nothing can match."""
    official: bool | None = None
    """Keep only (non-)official repositories; None keeps both."""
    min_stars: int | None = None


def _go_atoi(name: str, text: str) -> int:
    """strconv.Atoi, failing with dockerd's words for a filter value."""
    if _GO_INT.fullmatch(text) and abs(int(text)) <= _INT64_MAX:
        return int(text)
    reason = "invalid syntax" if not _GO_INT.fullmatch(text) else "value out of range"
    raise InvalidArgument(
        f"invalid filter '{name}={text}': strconv.Atoi: parsing \"{text}\": {reason}"
    )


def parse_search_filters(filters: Filters) -> SearchFilters:
    check_filters(filters, SEARCH_FILTERS)
    if go_bool_or_default(filters, "is-automated", False):
        return SearchFilters(automated_only=True)
    official = go_bool_or_default(filters, "is-official", False)
    stars = [_go_atoi("stars", text) for text in filters.get("stars", ())]
    return SearchFilters(
        official=official if "is-official" in filters else None,
        # dockerd starts its maximum at 0, so negative values filter nothing out.
        min_stars=max([0, *stars]) if "stars" in filters else None,
    )


def search_limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit {limit} is outside the range of [1, {MAX_LIMIT}]")
    return limit


def keep(results: Iterable[SearchResult], wanted: SearchFilters) -> list[SearchResult]:
    """The results that pass ``wanted``, each with ``is_automated`` forced false."""
    if wanted.automated_only:
        return []
    return [
        SearchResult(r.name, r.description, r.star_count, r.is_official, is_automated=False)
        for r in results
        if (wanted.official is None or r.is_official == wanted.official)
        and (wanted.min_stars is None or r.star_count >= wanted.min_stars)
    ]


def split_search_term(term: str) -> tuple[str, str]:
    """(index, remote name): the first part is a registry only if it looks like a host."""
    if "://" in term:
        raise InvalidArgument(
            f"invalid repository name: repository name ({term}) should not have a scheme"
        )
    index, sep, remote = term.partition("/")
    if not sep or ("." not in index and ":" not in index and index != "localhost"):
        index, remote = DEFAULT_DOMAIN, term
    if index.startswith("-") or index.endswith("-"):
        raise InvalidArgument(f"invalid index name ({index}). Cannot begin or end with a hyphen.")
    if index == LEGACY_DEFAULT_DOMAIN:
        index = DEFAULT_DOMAIN
    if index == DEFAULT_DOMAIN:
        # Official images are searched for without their "library/" namespace.
        remote = remote.removeprefix("library/")
    return index, remote
