"""A busybox root filesystem tarball built from Debian's ``busybox-static``.

Tests import it through the API (``docker import``) instead of pulling an image:
no network, and the bytes are the same on every run, so the image ID is too.

Every applet of ``busybox --list-full`` is a hardlink to ``bin/busybox``, as in
Docker Hub's ``busybox`` image, which also gives the archive extractor hardlinks
to handle on every test run.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

# A fixed timestamp (2024-01-01T00:00:00Z): the same inputs give the same bytes.
MTIME = 1704067200

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"

# Directories a container expects to exist even though the runtime mounts over
# some of them; mode matters for /tmp (sticky, world-writable) and /root.
BASE_DIRS: dict[str, int] = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "sbin": 0o755,
    "sys": 0o555,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "var": 0o755,
}


@dataclass(frozen=True)
class RootfsLayout:
    """What goes into the tarball, independent of how it is written."""

    dirs: dict[str, int]
    files: dict[str, tuple[bytes, int]]
    hardlinks: dict[str, str]


def applets(busybox: Path = BUSYBOX) -> list[str]:
    """Paths (relative, e.g. ``usr/bin/env``) of every applet the binary provides."""
    out = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()})


def rootfs_layout(busybox: Path = BUSYBOX) -> RootfsLayout:
    binary = busybox.read_bytes()
    files = {
        "bin/busybox": (binary, 0o755),
        "etc/passwd": (PASSWD.encode(), 0o644),
        "etc/group": (GROUP.encode(), 0o644),
    }
    links = {path: "bin/busybox" for path in applets(busybox) if path not in files}
    dirs = dict(BASE_DIRS)
    for path in [*files, *links]:
        parent = Path(path).parent
        while parent.parts:
            dirs.setdefault(parent.as_posix(), 0o755)
            parent = parent.parent
    return RootfsLayout(dirs=dirs, files=files, hardlinks=links)


def _member(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_rootfs_tar(layout: RootfsLayout, dest: Path) -> None:
    """Write ``layout`` as an uncompressed tar: directories, then files, then links.

    Entries are sorted within each group; links come last because a hardlink
    entry must follow the file it names.
    """
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(layout.dirs):
            tar.addfile(_member(name, tarfile.DIRTYPE, layout.dirs[name]))
        for name in sorted(layout.files):
            data, mode = layout.files[name]
            info = _member(name, tarfile.REGTYPE, mode)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in sorted(layout.hardlinks):
            info = _member(name, tarfile.LNKTYPE, 0o755)
            info.linkname = layout.hardlinks[name]
            tar.addfile(info)


def build_busybox_rootfs_tar(dest: Path, busybox: Path = BUSYBOX) -> Path:
    """Build the rootfs tarball at ``dest`` (a file path) and return it.

    The file appears atomically, so a concurrent reader never sees half a tar.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        write_rootfs_tar(rootfs_layout(busybox), partial)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


def cached_busybox_rootfs_tar(cache_dir: Path, busybox: Path = BUSYBOX) -> Path:
    """The tarball in ``cache_dir``, built on first use.

    The file name carries a digest of the busybox binary, so upgrading
    ``busybox-static`` builds a fresh tarball instead of reusing a stale one.
    """
    digest = hashlib.sha256(busybox.read_bytes()).hexdigest()[:16]
    dest = cache_dir / f"busybox-rootfs-{digest}.tar"
    if dest.exists():
        return dest
    return build_busybox_rootfs_tar(dest, busybox)
