"""``docker create`` makes and holds a container's volumes; a failure gives back what it made."""

from __future__ import annotations

import pytest

from gateway.containers.create_volumes import hold_volumes
from gateway.containers.start_mounts import anonymous_volume_name
from services.common.errors import Unavailable
from services.imaged.volumes.models import VolumeSpec
from tests.unit.gateway_fakes import FakeVolumes

CONTAINER = "c" * 64
CONFIG: dict[str, dict[str, dict[str, str]]] = {"Volumes": {"/image-volume": {}}}
HOST_CONFIG = {"Binds": ["named:/named", "/host:/bind"], "Mounts": []}


class FailingVolumes(FakeVolumes):
    """Refuses to hold one volume, as imaged would when etcd goes away mid-create."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def reference_volume(self, name: str, container_id: str) -> None:
        if name == self.refused:
            raise Unavailable("the cluster store (etcd) is unavailable")
        await super().reference_volume(name, container_id)


async def test_named_and_anonymous_volumes_are_made_and_held() -> None:
    volumes = FakeVolumes()
    await volumes.create_volume(VolumeSpec(name="named"))
    points = await hold_volumes(CONTAINER, CONFIG, HOST_CONFIG, volumes, "/data")
    anonymous = anonymous_volume_name(CONTAINER, "/image-volume")
    assert [(p["Name"], p["Destination"], p["Source"]) for p in points] == [
        (anonymous, "/image-volume", f"/data/volumes/{anonymous}/_data")]
    assert volumes.volumes["named"].users == (CONTAINER,)
    assert volumes.volumes[anonymous].users == (CONTAINER,)
    assert volumes.volumes[anonymous].labels == {"com.docker.volume.anonymous": ""}
    assert "/host" not in volumes.volumes  # a bind is no volume


async def test_a_failed_hold_gives_back_what_it_made() -> None:
    volumes = FailingVolumes(refused="named")
    await volumes.create_volume(VolumeSpec(name="other"))
    with pytest.raises(Unavailable):
        await hold_volumes(CONTAINER, CONFIG, HOST_CONFIG, volumes, "/data")
    # The image's anonymous volume (held first: shallower paths sort first) is
    # released and removed; "named", made by this call, is removed too.
    assert set(volumes.volumes) == {"other"}
