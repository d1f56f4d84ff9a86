"""``SizeRw``: bytes a container wrote to its writable layer (``size=1`` on list and inspect)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path


def _directory_size(root: Path) -> int:
    """Sum of the sizes of what lies under ``root``, hard links once, directories not at all."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*filenames, *dirnames]:
            try:
                st = (Path(dirpath) / name).lstat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


async def writable_layer_size(rootfs: str) -> int:
    """Size of the snapshot's upper dir (beside the ``merged`` mount point); 0 without one."""
    if not rootfs:
        return 0
    upper = Path(rootfs).parent / "diff"
    return await asyncio.to_thread(_directory_size, upper)


async def tree_size(path: str) -> int:
    """Size of what lies under ``path`` (a volume's directory); 0 when it is missing."""
    return await asyncio.to_thread(_directory_size, Path(path)) if path else 0
