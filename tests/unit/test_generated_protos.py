"""The committed gRPC code is exactly what scripts/genprotos.py makes today,
and every RPC and field in the protos carries the comment the design requires."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "protos"
# Every .proto yields at least these; any *_pb2* file or __init__.py counts as generated.
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def load_generate() -> Callable[[Path], None]:
    # scripts/ is not a package: load the one command CI and `make protos` run.
    spec = importlib.util.spec_from_file_location("genprotos", REPO / "scripts" / "genprotos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generate: Callable[[Path], None] = module.generate
    return generate


def is_generated(path: Path) -> bool:
    return path.name == "__init__.py" or re.search(r"_pb2(_grpc)?\.pyi?$", path.name) is not None


def generated_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and is_generated(p) and "__pycache__" not in p.parts
    }


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("protos")
    load_generate()(out)
    return generated_files(out)


def test_there_are_protos() -> None:
    assert proto_files(), f"no .proto files under {PROTO_ROOT}"


def test_committed_code_matches_a_fresh_generation(fresh: dict[str, bytes]) -> None:
    committed = generated_files(PROTO_ROOT)
    stale = [name for name in sorted(fresh) if committed.get(name) != fresh[name]]
    leftover = sorted(set(committed) - set(fresh))
    assert not stale, f"stale or missing generated files (run `make protos`): {stale}"
    assert not leftover, f"generated files without a .proto (delete them): {leftover}"


@pytest.mark.parametrize("proto", proto_files(), ids=lambda p: p.relative_to(PROTO_ROOT).as_posix())
def test_every_proto_has_generated_code(proto: Path) -> None:
    missing = [
        proto.with_name(proto.stem + suffix).relative_to(REPO).as_posix()
        for suffix in GENERATED_SUFFIXES
        if not proto.with_name(proto.stem + suffix).is_file()
    ]
    assert not missing, f"{proto.name} has no generated code (run `make protos`): {missing}"


# A field: optional label, a type (scalar, message path or map<K, V>), a name, a number.
FIELD = re.compile(
    r"^\s*(?:(?:repeated|optional)\s+)?(?:map\s*<[^>]+>|[A-Za-z_][\w.]*)\s+[A-Za-z_]\w*\s*=\s*\d+"
)
RPC = re.compile(r"^\s*rpc\s+\w+")
NOT_FIELDS = ("option", "reserved", "extensions", "syntax", "package", "import")


def undocumented(text: str) -> list[str]:
    """Lines declaring an rpc or field whose previous non-blank line is not a comment."""
    found: list[str] = []
    previous = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        declares = RPC.match(line) or (
            FIELD.match(line) and not stripped.startswith(NOT_FIELDS)
        )
        if declares and not (previous.startswith("//") or previous.endswith("*/")):
            found.append(f"{number}: {stripped}")
        previous = stripped
    return found


@pytest.mark.parametrize("proto", proto_files(), ids=lambda p: p.relative_to(PROTO_ROOT).as_posix())
def test_every_rpc_and_field_is_documented(proto: Path) -> None:
    missing = undocumented(proto.read_text())
    assert not missing, f"{proto.name}: rpc or field without a comment above it: {missing}"


def test_scanner_flags_undocumented_declarations() -> None:
    text = """
    service S {
      // Get is documented.
      rpc Get(GetRequest) returns (GetResponse);
      rpc Put(PutRequest) returns (PutResponse);
    }
    message M {
      // a is documented.
      string a = 1;
      repeated dockyard.types.v1.KeyValue b = 2;
      map<string, string> c = 3;
      reserved 4;
      oneof which {
        // d is documented.
        int64 d = 5;
      }
    }
    """
    flagged = [entry.split(": ", 1)[1] for entry in undocumented(text)]
    assert flagged == [
        "rpc Put(PutRequest) returns (PutResponse);",
        "repeated dockyard.types.v1.KeyValue b = 2;",
        "map<string, string> c = 3;",
    ]
