"""netd's network filters on the shared parser keep dockerd's network wording and quirks."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.netd import filters
from services.netd.models import Network

CREATED = "2024-01-01T00:00:00Z"
UNUSED = Network(id="ef" * 32, name="spare", driver="bridge", created=CREATED,
                 labels={"team": "a"})


def test_dangling_values_ignore_case_and_both_at_once_keep_all() -> None:
    filters.check({"dangling": ("TRUE", "0")}, filters.LIST_FILTERS)
    assert filters.matches(UNUSED, {"dangling": ("TRUE",)})
    assert filters.matches(UNUSED, {"dangling": ("true", "false")})
    assert not filters.matches(UNUSED, {"dangling": ("False",)})


def test_list_labels_and_patterns() -> None:
    assert filters.matches(UNUSED, {"label": ("team=a",), "name": ("^sp",)})
    assert not filters.matches(UNUSED, {"label": ("team",), "name": ("[",)})
    assert filters.matches(UNUSED, {"id": ("ef" * 32,)})


def test_prune_until_keeps_the_network_wording() -> None:
    now = filters.created_timestamp(CREATED) + 60
    assert filters.prune_matches(UNUSED, {"until": ("2024-01-01",)}, now) is False
    assert filters.prune_matches(UNUSED, {"until": ("1704067230",)}, now)
    with pytest.raises(InvalidArgument) as err:
        filters.prune_matches(UNUSED, {"until": ("soon",)}, now)
    assert err.value.message == "failed to parse value 'soon' of filter 'until'"


def test_prune_unknown_filter_is_refused() -> None:
    with pytest.raises(InvalidArgument) as err:
        filters.check({"dangling": ("true",)}, filters.PRUNE_FILTERS)
    assert err.value.message == "invalid filter 'dangling'"
