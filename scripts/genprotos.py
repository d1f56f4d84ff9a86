"""Regenerate the Python code for every .proto under protos/.

One command, run from anywhere: ``python scripts/genprotos.py``. The generated
``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py`` and ``*_pb2_grpc.pyi`` files are written beside the
``.proto`` files, committed, and never edited by hand. ``--out DIR`` writes the
same tree elsewhere (the staleness test compares the two).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

PROTO_ROOT = Path(__file__).resolve().parent.parent / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def ensure_packages(out: Path) -> None:
    """Every directory holding generated modules is a regular package."""
    for proto in proto_files():
        rel = proto.parent.relative_to(PROTO_ROOT)
        parts = rel.parts
        for depth in range(1, len(parts) + 1):
            init = out.joinpath(*parts[:depth], "__init__.py")
            init.parent.mkdir(parents=True, exist_ok=True)
            if not init.exists():
                init.write_text("")


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    # mypy-protobuf's plugins write typed stubs for messages and service stubs.
    bin_dir = Path(sys.executable).parent
    plugins = []
    for plugin in ("protoc-gen-mypy", "protoc-gen-mypy_grpc"):
        path = bin_dir / plugin if (bin_dir / plugin).exists() else shutil.which(plugin)
        if path is None:
            raise SystemExit(f"{plugin} not found: pip install -e '.[dev]' (mypy-protobuf)")
        plugins.append(f"--plugin={plugin}={path}")
    for proto in proto_files():
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            *plugins,
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            f"--grpc_python_out={out}",
            str(proto.relative_to(PROTO_ROOT)),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")
    ensure_packages(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
