r"""keel-no-secrets: refuse access tokens, private keys and PII examples in manifests.

Three scans per file:

1. **Tokens and keys**, over the raw text, so a manifest that is not valid YAML is still
   scanned and every finding names its exact line. Each detector has a name (`hf-token`,
   `aws-access-key-id`, ...; see `toolkit.core.secret_detectors`). A finding shows a redacted
   preview (`hf_Ab…yZ`): the secret itself is never printed, nor the line that holds it.
2. **Tokens and keys in the parsed values**, when the file loads: every string after YAML or
   JSON unescaping (`"\x68f_..."`, `"\u0068f_..."`) and line folding (a double-quoted
   string continued with `\`), with shell line continuations (`\` at a line's end) joined;
   every `key: value` pair read as the assignment `key=value`, and `{name: X, value: Y}`
   (a container's `env:` list) as `X=Y`, so `*_SECRET*` / `*_TOKEN` names are seen beside
   their values. A finding here that the raw scan made on the same line is not repeated.
3. **PII examples** in a Deployment's API contract. A JSON Schema in `spec.api.inputSchema`
   or `spec.api.outputSchema`, at any depth (`properties`, `items`, `allOf`, `$defs`, ...),
   is *marked as PII* with the extension keyword `x-pii: true` (`pii: true` is accepted
   too). Everything below a marked schema counts as marked. A marked schema must not carry
   example data: `examples`, `example`, `default`, `const` or `enum` with values. An example
   on an unmarked object or array is refused too when it holds a value for a marked
   property, e.g. `examples: [{email: ...}]` beside `properties: {email: {x-pii: true}}`.
   This scan needs the file to load; when it does not, only the text scan runs (and
   `keel validate` reports why it does not load).

A line containing `keel: allow-secret` (e.g. a YAML comment) is exempt from both scans: the
escape hatch for a false positive, visible in review.

Files: up to `loading.MAX_FILE_BYTES` each. Undecodable bytes are replaced before scanning
(every token format is ASCII, so one Latin-1 byte must not hide a token). A file that is
larger than the cap, binary (NUL bytes), not a regular file or unreadable is *not scanned*:
it is listed in `ScanResult.skipped` and in the report, but it is not a finding, because it
holds no secret we know of and `keel validate` already refuses such a manifest.

Speed: patterns are compiled once; each detector runs only when one of its cheap literal
hints occurs in the lower-cased file, and runs over the whole text in one `finditer` (match
offsets become line numbers), rather than once per line. A file is parsed for the PII scan
only when it mentions both `Deployment` and `pii`.

`ScanResult.report()` (built in `toolkit.workflows.validation.secrets_report`) is what the
reporters of `toolkit.core.reporters` render.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import UsageError
from toolkit.core.findings import Finding, field_path
from toolkit.core.layout import find_root, manifest_files_under
from toolkit.core.loading import MAX_FILE_BYTES, Document, Location, load_file, load_text
from toolkit.core.secret_detectors import DETECTORS, Detector
from toolkit.core.text import preview

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from toolkit.core.reporters import Report

CHECK = "secrets"
ALLOW_MARKER = "keel: allow-secret"
PII_MARKERS = ("x-pii", "pii")
EXAMPLE_KEYWORDS = ("examples", "example", "default", "const", "enum")


@dataclass(frozen=True)
class Skipped:
    """A file that was not scanned, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    files: int
    """How many files were scanned."""
    skipped: tuple[Skipped, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    def report(self) -> Report:
        from toolkit.workflows.validation.secrets_report import report

        return report(self)


def scan(paths: Sequence[Path]) -> ScanResult:
    """Scan files, and the manifest files (.yaml, .yml, .json) below directories."""
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    scanned = 0
    for path in expand(paths):
        text = _read(path)
        if isinstance(text, Skipped):
            skipped.append(text)
            continue
        scanned += 1
        findings.extend(scan_text(text, path))
    return ScanResult(tuple(findings), scanned, tuple(skipped))


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories walked for manifest files (hidden ones and links skipped)."""
    files: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            files.update(dict.fromkeys(manifest_files_under(path)))
        elif path.exists() or path.is_symlink():
            files[path] = None
        else:
            raise UsageError(f"{path}: no such file or directory")
    return list(files)


def _read(path: Path) -> str | Skipped:
    if path.is_symlink() and _leaves_repository(path):
        return Skipped(path, "a symlink out of the repository (not followed)")
    try:
        # Non-blocking, so that a FIFO cannot hang the open; fstat then refuses it.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                return Skipped(path, "not a regular file")
            # read(n) allocates n bytes up front: size the read, then read on if the size lied.
            raw = handle.read(min(status.st_size, MAX_FILE_BYTES) + 1)
            if len(raw) <= MAX_FILE_BYTES and len(raw) > status.st_size:
                raw += handle.read(MAX_FILE_BYTES + 1 - len(raw))
    except OSError as error:
        return Skipped(path, f"cannot read: {error.strerror or error}")
    if len(raw) > MAX_FILE_BYTES:
        return Skipped(path, f"larger than {MAX_FILE_BYTES // 1024} KiB")
    if b"\x00" in raw:
        return Skipped(path, "binary file (NUL bytes)")
    return raw.decode("utf-8-sig", errors="replace")


def _leaves_repository(link: Path) -> bool:
    root = find_root(link.parent)
    try:
        link.resolve().relative_to(root)
    except (ValueError, RuntimeError):  # outside it, or a symlink loop
        return True
    return False


def scan_text(text: str, path: Path) -> list[Finding]:
    """The findings in one file's text, in line order; `path` only locates them."""
    allowed = _allowed_lines(text)
    findings = [f for f in _token_findings(text, path) if f.line not in allowed]
    seen = {(f.line, f.message.partition(" ")[0]) for f in findings}
    findings.extend(
        f
        for f in _value_findings(text, path)
        if f.line not in allowed and (f.line, f.message.partition(" ")[0]) not in seen
    )
    if "pii" in text and "Deployment" in text:
        findings.extend(f for f in _pii_findings(path) if f.line not in allowed)
    return sorted(findings, key=lambda f: f.line)


def _allowed_lines(text: str) -> set[int]:
    lines = set()
    start = text.find(ALLOW_MARKER)
    while start != -1:
        lines.add(text.count("\n", 0, start) + 1)
        start = text.find(ALLOW_MARKER, start + 1)
    return lines


def _token_findings(text: str, path: Path) -> Iterator[Finding]:
    for start, detector, shown in _matches(text):
        yield _token_finding(path, text.count("\n", 0, start) + 1, detector, shown)


def _token_finding(
    path: Path, line: int, detector: Detector, shown: str, ref: str | None = None
) -> Finding:
    return Finding(
        path,
        line,
        f"{detector.name} found ({shown}); remove it and rotate the {detector.noun}",
        ref,
        check=CHECK,
    )


def _matches(text: str) -> Iterator[tuple[int, Detector, str]]:
    """(offset, detector, preview) of every secret in `text`; overlaps go to the first."""
    lowered = text.lower()
    claimed: list[tuple[int, int]] = []
    for detector in DETECTORS:
        if not any(hint in lowered for hint in detector.hints):
            continue
        for match in detector.pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in claimed):
                continue
            body = match["body"] if "body" in detector.pattern.groupindex else None
            if detector.accept and not detector.accept(body or match[0], _line_at(text, start)):
                continue
            claimed.append((start, end))
            yield start, detector, preview(match)


_CONTINUATION = re.compile(r"\\[ \t]*\n?[ \t]*")


def _value_findings(text: str, path: Path) -> Iterator[Finding]:
    """Secrets in the parsed values (unescaped, folded), each on its value's line."""
    try:
        loaded = load_text(text, path)
    except RecursionError:  # nesting deep enough for this is refused by `keel validate`
        return
    for document in loaded.documents:
        for location, candidate in _candidates(document.data, ()):
            variants = [candidate]
            if "\\" in candidate:
                variants.append(_CONTINUATION.sub("", candidate))
            for variant in variants:
                for _, detector, shown in _matches(variant):
                    yield _token_finding(path, document.line_of(location), detector, shown)


def _candidates(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    """Every string in `value`, and every `key: value` pair (and `{name: X, value: Y}`) as
    the assignment `key=value`, with where it is."""
    if isinstance(value, dict):
        name, item = value.get("name"), value.get("value")
        if isinstance(name, str) and isinstance(item, str):
            yield (*location, "value"), f"{name}={item}"
        for key, member in value.items():
            here = (*location, key)
            if isinstance(key, str):
                yield here, key
                if isinstance(member, str):
                    yield here, f"{key}={member}"
                    continue
            yield from _candidates(member, here)
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from _candidates(member, (*location, index))
    elif isinstance(value, str):
        yield location, value


def _line_at(text: str, offset: int) -> str:
    end = text.find("\n", offset)
    return text[text.rfind("\n", 0, offset) + 1 : end if end != -1 else len(text)]


def _pii_findings(path: Path) -> Iterator[Finding]:
    for document in load_file(path).documents:
        data = document.data
        if not isinstance(data, dict) or data.get("kind") != "Deployment":
            continue
        spec = data.get("spec")
        api = spec.get("api") if isinstance(spec, dict) else None
        if not isinstance(api, dict):
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        ref = f"Deployment/{name}" if isinstance(name, str) else None
        for key in ("inputSchema", "outputSchema"):
            for location, message in _schema_problems(api.get(key), ("spec", "api", key), None):
                yield _pii_finding(document, location, message, ref)


def _pii_finding(document: Document, location: Location, message: str, ref: str | None) -> Finding:
    return Finding(
        document.path,
        document.line_of(location),
        f"pii-example found ({message}); remove the example data",
        ref,
        field_path(location),
        CHECK,
    )


# Where JSON Schema (2020-12, and the older drafts' spellings) nests further schemas.
_ONE_SCHEMA = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _marker(schema: dict[str, Any]) -> str | None:
    return next((m for m in PII_MARKERS if schema.get(m) is True), None)


def _schema_problems(
    schema: Any, location: Location, inherited: str | None
) -> Iterator[tuple[Location, str]]:
    if not isinstance(schema, dict):
        return
    marker = inherited or _marker(schema)
    for keyword in EXAMPLE_KEYWORDS:
        if keyword not in schema:
            continue
        values = _example_values(keyword, schema[keyword])
        if marker and any(_has_data(v) for v in values):
            yield (*location, keyword), f"{keyword} of a field marked {marker}"
        elif not marker:
            leaked = next((p for v in values if (p := _marked_value(v, schema))), None)
            if leaked:
                yield (*location, keyword), f"a value for {leaked}, in {keyword}"
    for keyword in _ONE_SCHEMA:
        yield from _schema_problems(schema.get(keyword), (*location, keyword), marker)
    for keyword in _SCHEMA_LISTS:
        items = schema.get(keyword)
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield from _schema_problems(item, (*location, keyword, index), marker)
    for keyword in _SCHEMA_MAPS:
        members = schema.get(keyword)
        if isinstance(members, dict):
            for name, member in members.items():
                yield from _schema_problems(member, (*location, keyword, name), marker)


def _example_values(keyword: str, value: Any) -> list[Any]:
    if keyword in ("examples", "enum"):
        return value if isinstance(value, list) else [value]
    return [value]


def _has_data(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _marked_value(value: Any, schema: dict[str, Any]) -> str | None:
    """'email, which is marked x-pii' when `value` (valid for `schema`) holds marked data."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return None
        for name, item in value.items():
            child = properties.get(name)
            if not isinstance(child, dict):
                continue
            marker = _marker(child)
            if marker and _has_data(item):
                return f"'{name}', which is marked {marker}"
            found = _marked_value(item, child)
            if found:
                return found
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            found = _marked_value(item, schema["items"])
            if found:
                return found
    return None
