"""keel-no-secrets: refuse access tokens, private keys and PII examples in manifests.

Two scans per file:

1. **Tokens and keys**, over the raw text, so a manifest that is not valid YAML is still
   scanned and every finding names its exact line. Each detector has a name (`hf-token`,
   `aws-access-key-id`, ...; see `DETECTORS`). A finding shows a redacted preview
   (`hf_Ab…yZ`): the secret itself is never printed, nor the line that holds it.
2. **PII examples** in a Deployment's API contract. A JSON Schema in `spec.api.inputSchema`
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
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import UsageError
from toolkit.findings import Finding, field_path
from toolkit.fsutil import display
from toolkit.layout import MANIFEST_SUFFIXES
from toolkit.loading import MAX_FILE_BYTES, Document, Location, load_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

CHECK = "secrets"
ALLOW_MARKER = "keel: allow-secret"
PII_MARKERS = ("x-pii", "pii")
EXAMPLE_KEYWORDS = ("examples", "example", "default", "const", "enum")


@dataclass(frozen=True)
class Detector:
    """One kind of secret. `body` (a named group) is the random part the preview abbreviates."""

    name: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    """Lower-case literals, one of which the file must contain for the pattern to run."""
    noun: str = "token"
    accept: Callable[[str, str], bool] | None = None
    """(body, line) -> whether a match is really this secret; None accepts every match."""


def _looks_random(body: str, line: str) -> bool:
    """A digit, or both cases: true of real tokens, false of prose and PLACEHOLDER_NAMES."""
    has_lower = any(c.islower() for c in body)
    has_upper = any(c.isupper() for c in body)
    return any(c.isdigit() for c in body) or (has_lower and has_upper)


_AWS_CONTEXT = re.compile(r"aws|secret", re.IGNORECASE)


def _aws_secret(body: str, line: str) -> bool:
    # 40 base64 characters on a line that says aws or secret. Real keys have both cases and
    # almost surely a digit, / or +; a 40-hex commit sha (one case, no / or +) never passes.
    return (
        _AWS_CONTEXT.search(line) is not None
        and any(c.islower() for c in body)
        and any(c.isupper() for c in body)
        and any(c.isdigit() or c in "/+" for c in body)
    )


# Most specific first: where two matches overlap (`Bearer hf_...`), the first one listed wins.
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private-key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        ("private key",),
        noun="key",
    ),
    # Hugging Face user access tokens: hf_ and 34 letters and digits (30 allows older ones).
    Detector(
        "hf-token",
        re.compile(r"(?<![A-Za-z0-9_])hf_(?P<body>[A-Za-z0-9]{30,})"),
        ("hf_",),
    ),
    # Classic (ghp_, gho_, ghu_, ghs_, ghr_ + 36) and fine-grained (github_pat_ + 82) tokens.
    Detector(
        "github-token",
        re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]|github_pat)_(?P<body>[A-Za-z0-9_]{36,})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    # Not the bare `sk-[A-Za-z0-9]{20,}`: `sk-` also starts slugs and ids, and every key
    # OpenAI issues has a sure sign: a project, service-account or admin prefix, or, for
    # legacy user keys, "T3BlbkFJ" (base64 of "OpenAI") after 20 characters.
    Detector(
        "openai-key",
        re.compile(
            r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-|(?=[A-Za-z0-9]{20}T3BlbkFJ))"
            r"(?P<body>[A-Za-z0-9_-]{20,})"
        ),
        ("sk-",),
        noun="key",
    ),
    Detector(
        "anthropic-key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-ant-(?:api|admin)\d\d-(?P<body>[A-Za-z0-9_-]{20,})"),
        ("sk-ant-",),
        noun="key",
    ),
    # Access key ids of long-term (AKIA) and temporary (ASIA) credentials.
    Detector(
        "aws-access-key-id",
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)(?P<body>[0-9A-Z]{16})(?![A-Za-z0-9])"),
        ("akia", "asia"),
        noun="key",
    ),
    Detector(
        "aws-secret-access-key",
        re.compile(r"(?<![A-Za-z0-9/+=_-])(?P<body>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_-])"),
        ("aws", "secret"),
        noun="key",
        accept=_aws_secret,
    ),
    Detector(
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])"
            r"(?P<body>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
        ),
        ("eyj",),
    ),
    # RFC 6750 b64token after "Bearer" on the same line (hence [ \t], not \s).
    Detector(
        "bearer-token",
        re.compile(r"(?i:\bbearer)[ \t]+(?P<body>[A-Za-z0-9._~+/-]{20,}=*)"),
        ("bearer",),
        accept=_looks_random,
    ),
)


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
            files.update(dict.fromkeys(_walk(path)))
        elif path.exists() or path.is_symlink():
            files[path] = None
        else:
            raise UsageError(f"{path}: no such file or directory")
    return list(files)


def _walk(directory: Path) -> Iterator[Path]:
    for current, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                yield Path(current, name)


def _read(path: Path) -> str | Skipped:
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


def scan_text(text: str, path: Path) -> list[Finding]:
    """The findings in one file's text, in line order; `path` only locates them."""
    allowed = _allowed_lines(text)
    findings = [f for f in _token_findings(text, path) if f.line not in allowed]
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
            yield Finding(
                path,
                text.count("\n", 0, start) + 1,
                f"{detector.name} found ({_preview(match, body)}); "
                f"remove it and rotate the {detector.noun}",
                check=CHECK,
            )


def _line_at(text: str, offset: int) -> str:
    end = text.find("\n", offset)
    return text[text.rfind("\n", 0, offset) + 1 : end if end != -1 else len(text)]


def _preview(match: re.Match[str], body: str | None) -> str:
    """`hf_Ab…yZ`: the fixed prefix, then two characters from each end of the random part."""
    if body is None:
        return match[0].strip("-")
    prefix = match[0][: match.start("body") - match.start()]
    return f"{prefix}{body[:2]}…{body[-2:]}"


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


# Reporters. Lines read `path:line: secrets: [ref: field: ]message`, paths relative to the
# working directory when below it.


def render(finding: Finding) -> str:
    parts = (finding.check, finding.ref, finding.field, finding.message)
    return ": ".join((f"{display(finding.path)}:{finding.line}", *(p for p in parts if p)))


def text(result: ScanResult) -> str:
    lines = [render(f) for f in result.findings]
    lines.extend(f"{display(s.path)}: not scanned: {s.reason}" for s in result.skipped)
    summary = f"{_count(result.files, 'file')} scanned"
    if result.skipped:
        summary += f", {len(result.skipped)} not scanned"
    problems = len(result.findings)
    lines.append(f"{summary}: {_count(problems, 'problem')}" if problems else f"{summary}: clean")
    return "\n".join(lines)


def as_json(result: ScanResult) -> str:
    return json.dumps(
        {
            "clean": result.ok,
            "files": result.files,
            "skipped": [{"path": display(s.path), "reason": s.reason} for s in result.skipped],
            "findings": [replace(f, path=Path(display(f.path))).as_dict() for f in result.findings],
        },
        indent=2,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


REPORTERS: dict[str, Callable[[ScanResult], str]] = {"text": text, "json": as_json}
