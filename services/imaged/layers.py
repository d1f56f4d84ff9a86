"""Unpacked layers on disk, laid out as Docker's overlay2 driver does.

Under ``<data-root>/overlay/``::

    <chain hex>/diff     a layer's files, unpacked once per chain ID
    <chain hex>/link     the layer's short name (26 characters)
    <chain hex>/lower    the short names of the layers below, ``l/A:l/B``
    l/<short>            symlink → ``../<chain hex>/diff``
    <container id>/…     a container's snapshot (:mod:`services.imaged.snapshots`)
    tmp/                 layers being unpacked; emptied at start-up

The short ``l/`` names keep the overlay mount options of deep images under the
kernel's one-page limit.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from pathlib import Path

from services.imaged.records import LayerRecord, hex_of

LINK_DIR = "l"
TMP_DIR = "tmp"


def chain_id(parent_chain: str, diff_id: str) -> str:
    """The OCI ChainID: the DiffID of a base layer, else sha256("<parent> <diff>")."""
    if not parent_chain:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent_chain} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else "", diff_id))
    return out


def short_link(chain: str) -> str:
    """A stable 26-character name for a layer (overlay2 uses random ones of this length)."""
    digest = hashlib.sha256(("link:" + chain).encode()).digest()
    return base64.b32encode(digest).decode()[:26]


class LayerStore:
    """The directories of unpacked layers under ``root`` (``<data-root>/overlay``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.links = root / LINK_DIR
        self.tmp = root / TMP_DIR

    def setup(self) -> None:
        """Create the layout; drop layers a crash left half unpacked."""
        self.links.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def staging(self) -> Path:
        """A fresh directory to unpack into; its ``diff`` is the extraction target."""
        staging = self.tmp / uuid.uuid4().hex
        (staging / "diff").mkdir(parents=True)
        (staging / "diff").chmod(0o755)
        return staging

    def layer_dir(self, chain: str) -> Path:
        return self.root / hex_of(chain)

    def diff_dir(self, chain: str) -> Path:
        return self.layer_dir(chain) / "diff"

    def link_path(self, link: str) -> Path:
        return self.links / link

    def exists(self, chain: str) -> bool:
        return self.diff_dir(chain).is_dir()

    def commit(self, staging: Path, record: LayerRecord, lower_links: list[str]) -> None:
        """Move an unpacked ``staging`` dir into place as ``record``'s layer.

        ``lower_links`` are the short names of the layers below, top first.
        """
        (staging / "link").write_text(record.link)
        if lower_links:
            (staging / "lower").write_text(":".join(f"{LINK_DIR}/{x}" for x in lower_links))
        target = self.layer_dir(record.chain_id)
        staging.rename(target)
        link = self.link_path(record.link)
        link.unlink(missing_ok=True)
        link.symlink_to(f"../{hex_of(record.chain_id)}/diff")

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def remove(self, record: LayerRecord) -> None:
        self.link_path(record.link).unlink(missing_ok=True)
        shutil.rmtree(self.layer_dir(record.chain_id), ignore_errors=True)

    def graph_driver_data(self, chains: list[str]) -> dict[str, str]:
        """``GraphDriver.Data`` of an image whose layers are ``chains`` (bottom first)."""
        if not chains:
            return {}
        top = self.layer_dir(chains[-1])
        data = {
            "MergedDir": str(top / "merged"),
            "UpperDir": str(top / "diff"),
            "WorkDir": str(top / "work"),
        }
        if len(chains) > 1:
            data["LowerDir"] = ":".join(str(self.diff_dir(c)) for c in reversed(chains[:-1]))
        return dict(sorted(data.items()))
