"""Docker's image filters for ``docker images`` and ``docker image prune``, as pure functions.

The filters.Args primitives (names, booleans, labels, timestamps) are
:mod:`services.common.filter_args`'s, used under their names here too.
"""

from __future__ import annotations

import fnmatch

from services.common.filter_args import bool_filter, check_filters, labels_match, parse_timestamp
from services.imaged.reference import Reference

__all__ = [
    "LIST_FILTERS", "PRUNE_FILTERS", "bool_filter", "check_filters", "labels_match",
    "parse_timestamp", "reference_matches",
]

LIST_FILTERS = frozenset({"before", "since", "dangling", "label", "label!", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def reference_matches(pattern: str, reference: Reference) -> bool:
    """reference.FamiliarMatch: the pattern against ``name:tag``, then against ``name``."""
    return _path_match(pattern, reference.familiar) or _path_match(
        pattern, reference.familiar_name
    )


def _path_match(pattern: str, name: str) -> bool:
    # Go's path.Match: "*" does not cross "/"; fnmatch's does, so match per segment.
    pattern_parts, name_parts = pattern.split("/"), name.split("/")
    if len(pattern_parts) != len(name_parts):
        return False
    return all(
        fnmatch.fnmatchcase(n, p) for p, n in zip(pattern_parts, name_parts, strict=True)
    )
