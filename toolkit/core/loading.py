"""Read manifest files (YAML or JSON) into plain data with line numbers, safely.

Plain scalars are read by the YAML 1.2 core schema, as editors (yaml-language-server) and
check-jsonschema read them (libyaml resolves them by YAML 1.1; they are resolved again here).
Manifests come from many hands, so reading is defensive: a size cap, UTF-8 only, no tags beyond
YAML's core schema (nothing is ever constructed from a tag), duplicate keys rejected, a cap on
alias uses and nodes (alias bombs), and a cap on nesting depth. libyaml's C parser does the
parsing; the small walker below builds the Python values and records where each one stood.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# What a plain scalar means; part of the document cache's key, so cached documents read by
# another dialect are read again.
DIALECT = "yaml-1.2-core"
MAX_FILE_BYTES = 1024 * 1024
NOT_REGULAR = "not a regular file (a FIFO, socket or device?): a manifest is a file"
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_ALIAS_USES = 100
# libyaml's composer recurses on the C stack and crashes past about 50,000 nested flow
# collections; below this many brackets in a file that cannot happen, above it we measure.
_BRACKET_SCAN_THRESHOLD = 10_000

Location = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_RESOLVER_1_1 = yaml.resolver.Resolver()
# The YAML 1.2 core schema's tag resolution (yaml.org/spec/1.2.2, 10.3.2)
_NULL_12 = re.compile(r"null|Null|NULL|~|")
_BOOL_12 = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT_12 = re.compile(r"[-+]?[0-9]+")
_OCT_12 = re.compile(r"0o[0-7]+")
_HEX_12 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_12 = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF_12 = re.compile(r"[-+]?(\.inf|\.Inf|\.INF)")
_NAN_12 = re.compile(r"\.nan|\.NaN|\.NAN")


@dataclass(frozen=True)
class Problem:
    """A file (or one document in it) that could not be read as data."""

    path: Path
    line: int
    message: str


@dataclass(frozen=True)
class Document:
    """One YAML/JSON document of a manifest file, as plain data, with source lines."""

    path: Path
    index: int
    data: Any
    positions: Mapping[Location, int] = field(repr=False)

    @property
    def line(self) -> int:
        return self.positions.get((), 1)

    def line_of(self, location: Location) -> int:
        """The line of the deepest part of `location` that exists in the file."""
        loc = tuple(location)
        while loc:
            line = self.positions.get(loc)
            if line is not None:
                return line
            loc = loc[:-1]
        return self.line


@dataclass(frozen=True)
class LoadResult:
    documents: tuple[Document, ...]
    problems: tuple[Problem, ...]


class _Reject(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_file(path: Path) -> LoadResult:
    """Read every document in `path`. Never raises for bad content: problems are returned."""
    try:
        raw = _read_bounded(path)
        text = _decode(raw)
        if path.suffix.lower() == ".json":
            _check_json(text)
        _guard_flow_depth(text)
    except _Reject as reject:
        return LoadResult((), (Problem(path, reject.line, reject.message),))
    except OSError as error:
        return LoadResult((), (Problem(path, 1, f"cannot read file: {error.strerror or error}"),))
    return load_text(text, path)


def load_text(text: str, path: Path) -> LoadResult:
    documents: list[Document] = []
    problems: list[Problem] = []
    try:
        for index, node in enumerate(_compose_all(text)):
            if node is None or _is_empty(node):
                continue
            try:
                documents.append(_build_document(path, index, node))
            except _Reject as reject:
                problems.append(Problem(path, reject.line, reject.message))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(path, line, f"not valid YAML: {error.problem or error}"))
    except yaml.YAMLError as error:
        problems.append(Problem(path, 1, f"not valid YAML: {error}"))
    if not documents and not problems:
        problems.append(Problem(path, 1, "empty file: expected a manifest"))
    return LoadResult(tuple(documents), tuple(problems))


def _is_empty(node: yaml.Node) -> bool:
    return node.tag == _TAG + "null" and node.value in ("", "~", "null")


def _compose_all(text: str) -> Iterator[yaml.Node | None]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def _read_bounded(path: Path) -> bytes:
    # a FIFO would block the read forever, a device could stream without end
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise _Reject(1, NOT_REGULAR)
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise _Reject(
            1, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; manifests must be small"
        )
    return raw


def _decode(raw: bytes) -> str:
    if b"\x00" in raw:
        raise _Reject(1, "binary file (NUL bytes): expected a YAML or JSON manifest")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise _Reject(line, f"not UTF-8 text (byte 0x{raw[error.start]:02x})") from None


def _check_json(text: str) -> None:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key '{key}'")
            seen[key] = value
        return seen

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON (write a finite number)")

    try:
        json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except json.JSONDecodeError as error:
        raise _Reject(error.lineno, f"not valid JSON: {error.msg}") from None
    except ValueError as error:
        raise _Reject(1, f"not valid JSON: {error}") from None
    except RecursionError:
        raise _Reject(1, f"nesting deeper than {MAX_DEPTH} levels") from None


def _guard_flow_depth(text: str) -> None:
    if text.count("[") + text.count("{") < _BRACKET_SCAN_THRESHOLD:
        return
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise _Reject(line, f"nesting deeper than {MAX_DEPTH} levels")


@dataclass
class _Walk:
    positions: dict[Location, int] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    nodes: int = 0
    alias_uses: int = 0


def _build_document(path: Path, index: int, node: yaml.Node) -> Document:
    walk = _Walk()
    data = _construct(node, (), 0, walk)
    return Document(path, index, data, walk.positions)


def _construct(node: yaml.Node, loc: Location, depth: int, walk: _Walk) -> Any:
    line = node.start_mark.line + 1
    walk.nodes += 1
    if walk.nodes > MAX_NODES:
        raise _Reject(line, f"more than {MAX_NODES} values in one document")
    if depth > MAX_DEPTH:
        raise _Reject(line, f"nesting deeper than {MAX_DEPTH} levels")
    if id(node) in walk.seen:
        walk.alias_uses += 1
        if walk.alias_uses > MAX_ALIAS_USES:
            raise _Reject(line, f"more than {MAX_ALIAS_USES} alias uses (a YAML alias bomb?)")
    walk.seen.add(id(node))
    walk.positions.setdefault(loc, line)

    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, loc, depth, walk)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise _Reject(line, f"unsupported YAML tag {_short(node.tag)}")
        return [_construct(item, (*loc, i), depth + 1, walk) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _construct_scalar(node, line)


def _construct_mapping(node: yaml.MappingNode, loc: Location, depth: int, walk: _Walk) -> dict:
    if node.tag != _TAG + "map":
        raise _Reject(node.start_mark.line + 1, f"unsupported YAML tag {_short(node.tag)}")
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if key_node.tag == _TAG + "merge":
            raise _Reject(key_line, "merge keys (<<) are not supported in manifests")
        if not isinstance(key_node, yaml.ScalarNode):
            raise _Reject(key_line, "mapping keys must be plain strings")
        key = _construct_scalar(key_node, key_line)
        if isinstance(key, bool | float) or key is None:
            key = key_node.value
        if key in result:
            raise _Reject(key_line, f"duplicate key '{key}'")
        child = (*loc, key)
        walk.positions[child] = key_line
        result[key] = _construct(value_node, child, depth + 1, walk)
        walk.positions[child] = key_line
    return result


def _construct_scalar(node: yaml.ScalarNode, line: int) -> Any:
    tag = node.tag
    if tag not in _SCALAR_TAGS:
        raise _Reject(line, f"unsupported YAML tag {_short(tag)}: manifests hold plain data only")
    if _is_implicit(node):
        return _core_schema_value(node.value)
    if tag == _TAG + "str" or tag == _TAG + "timestamp":
        return node.value
    value = _core_schema_value(node.value)  # an explicit !!int, !!float, !!bool or !!null
    expected = {"int": int, "float": float | int, "bool": bool, "null": type(None)}
    kind = tag.removeprefix(_TAG)
    if isinstance(value, bool) and kind != "bool" or not isinstance(value, expected[kind]):
        raise _Reject(line, f"cannot read {kind} value {node.value!r}")
    return float(value) if kind == "float" and isinstance(value, int | float) else value


def _is_implicit(node: yaml.ScalarNode) -> bool:
    """A plain scalar (libyaml says style "", PyYAML None) whose tag was resolved by YAML 1.1
    rules, not one written with an
    explicit tag: those are read again by YAML 1.2's rules."""
    return not node.style and node.tag == _RESOLVER_1_1.resolve(
        yaml.ScalarNode, node.value, (True, False)
    )


def _core_schema_value(text: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema, as editors (yaml-language-server) and
    check-jsonschema read it: `no`/`yes`/`on` stay strings, `010` is 10, `2.10` is 2.1 only as
    a number (a version must be quoted), `4e1` is 40.0, a date stays a string."""
    if _NULL_12.fullmatch(text):
        return None
    if _BOOL_12.fullmatch(text):
        return text.lower() == "true"
    if _INT_12.fullmatch(text):
        return int(text, 10)
    if _OCT_12.fullmatch(text):
        return int(text[2:], 8)
    if _HEX_12.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT_12.fullmatch(text):
        return float(text)
    if _INF_12.fullmatch(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN_12.fullmatch(text):
        return float("nan")
    return text


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
