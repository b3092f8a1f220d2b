"""keel's parse/schema stage and the JSON Schemas in schemas/ agree on every document.

Two verdicts on one document, which must be the same:

- keel's: `parse_document` gives no finding;
- the schema's: the kind's schema, run as check-jsonschema runs it, gives no error.

check-jsonschema (check_jsonschema/schema_loader/main.py and formats/__init__.py) builds the
validator for the schema's `$schema` (Draft 2020-12) with the jsonschema library's format
checker, replaces its `regex` format check, `date-time` and `time` with its own, and replaces
the `pattern` and `patternProperties` keywords with ECMA-262 regexes (the `regress` library,
unicode flag: `--regex-variant default`). `schema_validator` does the same. The difference
matters: with Python's `re.search`, jsonschema's own `pattern`, a `$` also matches before a
trailing newline, so `Model/x\\n` would pass a reference pattern that check-jsonschema and
editors (also ECMA-262) refuse, as keel does.

The documents: (a) generated from each kind's schema by hypothesis-jsonschema, and (b) the
example manifests in manifests/ with one value changed (another type, empty, NaN, infinity, a
trailing newline, a NUL, an absolute path, ...), one key deleted or one unknown key added.
A handful of (b) are also written to disk and run through the real `check-jsonschema` command,
to show that the command and `schema_validator` agree.

Where keel refuses a document the schema accepts, every finding must come from a rule that
JSON Schema cannot say, listed in KEEL_ONLY with its reason (and in docs/manifests.md, "Rules
that only keel checks"). Nothing lets the schema refuse what keel accepts.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import yaml
from check_jsonschema.formats import FormatOptions, make_format_checker
from check_jsonschema.regex_variants import RegexImplementation, RegexVariantName
from factories import audit_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from toolkit.core.loading import Document, load_file
from toolkit.core.parsing import Parsed, parse_document
from toolkit.core.schemas import schema_filename
from toolkit.manifests import KINDS

if TYPE_CHECKING:
    from toolkit.core.findings import Finding
    from toolkit.core.loading import Location

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "manifests"
DOCS = ROOT / "docs" / "manifests.md"

PARITY = settings(
    derandomize=True,  # the same documents on every run
    database=None,  # no example database (hypothesis' caches in .hypothesis/ ignore themselves)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# per kind: hypothesis-jsonschema takes about 0.1 s of CPU for a document of the larger kinds,
# a changed example about 5 ms
GENERATED_EXAMPLES = 20
CHANGED_EXAMPLES = 100


# -- the rules only keel checks -----------------------------------------------------------------


@dataclass(frozen=True)
class KeelOnly:
    """A rule keel checks and the JSON Schemas do not; a finding from it explains why keel
    refuses a document the schema accepts."""

    name: str
    kinds: tuple[str, ...]
    field: str  # the finding's field path, a regex matched in full
    message: str  # the finding's message, a regex matched in full
    reason: str  # why the JSON Schema does not say it


ARTIFACT_KINDS = ("Model", "Tokenizer", "Dataset", "Adapter")
KEEL_ONLY = (
    KeelOnly(
        "placeholders",
        tuple(KINDS),
        r".*",
        r"placeholder not filled in: .*",
        "a `<fill: ...>` value left from `keel new` may stand in any string of any field, "
        "keys included; the template is meant to be incomplete, so editors must not flag it",
    ),
    KeelOnly(
        "files-listed-once",
        ARTIFACT_KINDS,
        r"spec",
        r"file '.*' is listed twice",
        "unique by one property (path) across array items: uniqueItems compares whole items",
    ),
    KeelOnly(
        "metric-recorded-once",
        ("Evaluation",),
        r"spec",
        r"metric recorded twice: .*",
        "unique by one property (name) across array items: uniqueItems compares whole items",
    ),
    KeelOnly(
        "memory-budget-adds-up",
        ("Quantization",),
        r"spec\.memoryBudget",
        r"totalBytes \d+ does not equal parameters × bytesPerParameter × \(1 \+ overhead\) = \d+",
        "arithmetic across fields (a product within 0.1%): JSON Schema compares a value with "
        "constants only",
    ),
)


def explained_by(kind: str, finding: Finding) -> KeelOnly | None:
    for rule in KEEL_ONLY:
        if (
            kind in rule.kinds
            and re.fullmatch(rule.field, finding.field or "")
            and re.fullmatch(rule.message, finding.message)
        ):
            return rule
    return None


# -- the two verdicts ---------------------------------------------------------------------------


def keel_findings(data: Any) -> list[Finding]:
    result = parse_document(Document(Path("document.yaml"), 0, data, {}))
    return [] if isinstance(result, Parsed) else result


@functools.cache
def schema_of(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / schema_filename(kind)).read_text(encoding="utf-8"))


@functools.cache
def schema_validator(kind: str) -> jsonschema.protocols.Validator:
    """The validator check-jsonschema builds for `--schemafile schemas/<kind>.schema.json`."""
    schema = schema_of(kind)
    regex = RegexImplementation(RegexVariantName.default)
    cls = jsonschema.validators.extend(
        jsonschema.validators.validator_for(schema),
        {"pattern": regex.pattern_keyword, "patternProperties": regex.patternProperties_keyword},
    )
    cls.check_schema(schema)
    return cls(schema, format_checker=make_format_checker(FormatOptions(regex_impl=regex)))


def schema_errors(kind: str, data: Any) -> list[str]:
    return [
        f"{error.json_path}: {error.message}" for error in schema_validator(kind).iter_errors(data)
    ]


def assert_agree(kind: str, data: Any, what: str) -> None:
    findings = keel_findings(data)
    errors = schema_errors(kind, data)
    schema = schema_filename(kind)
    if errors and not findings:
        pytest.fail(f"{what}: {schema} refuses what keel accepts: {'; '.join(errors)[:800]}")
    if findings and not errors:
        unexplained = [f.render() for f in findings if explained_by(kind, f) is None]
        assert not unexplained, (
            f"{what}: keel refuses what {schema} accepts, by no rule in KEEL_ONLY: "
            + "; ".join(unexplained)[:800]
        )


# -- (a) documents generated from the schemas ---------------------------------------------------

# The cross-field rules a model adds to its schema (`SCHEMA_RULES`: exactly one model source,
# min or max, epochs or steps, allowPickle for pickle files) are left out of what the documents
# are generated from: hypothesis-jsonschema merges them again on every draw, which made Model's
# 60 documents take 25 s instead of 6. They stay in the schema that judges the documents, so a
# generated document that breaks one is refused by both sides, or the test fails.
_RULE_KEYWORDS = ("anyOf", "oneOf", "if", "then")


def generation_schema(kind: str) -> dict[str, Any]:
    schema = copy.deepcopy(schema_of(kind))
    for definition in schema.get("$defs", {}).values():
        if "properties" in definition:
            for keyword in _RULE_KEYWORDS:
                definition.pop(keyword, None)
    return schema


@functools.cache
def generated(kind: str) -> st.SearchStrategy[Any]:
    return from_schema(generation_schema(kind))


@pytest.mark.parametrize("kind", list(KINDS))
@settings(PARITY, max_examples=GENERATED_EXAMPLES)
@given(data=st.data())
def test_documents_generated_from_the_schema(kind: str, data: st.DataObject) -> None:
    document = data.draw(generated(kind), label="document")
    assert_agree(kind, document, "a generated document")


# -- (b) one change to a real example manifest --------------------------------------------------


@functools.cache
def examples() -> dict[str, list[dict[str, Any]]]:
    """The example manifests as keel reads them, by kind (Audit from the test factories: audits
    are written by `keel audit`, and the example has none yet)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(EXAMPLES.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json"):
            for document in load_file(path).documents:
                found.setdefault(document.data["kind"], []).append(document.data)
    found.setdefault("Audit", []).append(audit_manifest())
    return found


def locations(value: Any, location: Location = ()) -> list[Location]:
    """Every value's location in a document, the document itself first."""
    found = [location]
    if isinstance(value, dict):
        for key, item in value.items():
            found += locations(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += locations(item, (*location, index))
    return found


def value_at(document: Any, location: Location) -> Any:
    for part in location:
        document = document[part]
    return document


# what any value may become: another type, an edge of a range, a non-finite float
REPLACEMENTS: dict[str, Any] = {
    "0": 0,
    "-1": -1,
    "1.0": 1.0,
    "0.5": 0.5,
    "10**400": 10**400,
    "1e308": 1e308,
    ".nan": math.nan,
    ".inf": math.inf,
    "-.inf": -math.inf,
    "true": True,
    "false": False,
    "null": None,
    "''": "",
    "'x'": "x",
    "[]": [],
    "{}": {},
}


def replacements(value: Any) -> dict[str, Any]:
    """REPLACEMENTS, and what this value may become: a string with a trailing newline or a NUL,
    an absolute path, a '..' part, a pickle suffix, a name too long; a number as a string or
    as a float; a boolean as a string."""
    found = dict(REPLACEMENTS)
    if isinstance(value, str):
        found |= {
            "+ newline": value + "\n",
            "+ NUL": value + "\x00",
            "+ space": value + " ",
            "upper case": value.upper(),
            "/ first": "/" + value,
            "../ first": "../" + value,
            "C: first": "C:" + value,
            "+ .PKL": value + ".PKL",
            "+ 63 characters": value + "-" + "a" * 62,
        }
    elif isinstance(value, bool):
        found["as a string"] = str(value).lower()
    elif isinstance(value, int | float):
        found |= {"as a string": str(value), "as a float": float(value), "negated": -value}
    return found


def mutate(document: dict[str, Any], location: Location, change: str) -> dict[str, Any]:
    """A deep copy of `document` with one change at `location`: 'delete' (the key or item),
    'add unknownField' (to the mapping there) or a name from `replacements`."""
    result = copy.deepcopy(document)
    if change == "add unknownField":
        value_at(result, location)["unknownField"] = "x"
        return result
    parent, last = value_at(result, location[:-1]), location[-1]
    if change == "delete":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(replacements(parent[last])[change])
    return result


def changes(document: dict[str, Any], location: Location) -> list[str]:
    value = value_at(document, location)
    found = ["add unknownField"] if isinstance(value, dict) else []
    if location:
        found += ["delete", *replacements(value)]
    return found


@st.composite
def mutations(draw: st.DrawFn, kind: str) -> tuple[str, dict[str, Any]]:
    document = draw(st.sampled_from(examples()[kind]))
    location = draw(st.sampled_from(locations(document)))
    change = draw(st.sampled_from(changes(document, location)))
    return f"{describe(location)}: {change}", mutate(document, location, change)


def describe(location: Location) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return text.lstrip(".") or "(the document)"


@pytest.mark.parametrize("kind", list(KINDS))
@settings(PARITY, max_examples=CHANGED_EXAMPLES)
@given(data=st.data())
def test_one_change_to_an_example_manifest(kind: str, data: st.DataObject) -> None:
    what, document = data.draw(mutations(kind), label="change")
    assert_agree(kind, document, f"{kind} example, {what}")


def test_the_examples_pass_both() -> None:
    assert sorted(examples()) == sorted(KINDS)
    for kind, documents in examples().items():
        for document in documents:
            assert keel_findings(document) == []
            assert schema_errors(kind, document) == []


# -- (b) on disk, through the check-jsonschema command ------------------------------------------

CLI_CHANGES = (
    ".nan",
    ".inf",
    "1.0",
    "10**400",
    "null",
    "''",
    "+ newline",
    "+ NUL",
    "/ first",
    "+ 63 characters",
    "as a string",
    "delete",
    "add unknownField",
)


def cli_cases(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """One change of each CLI_CHANGES name, where it applies, at a location picked by a fixed
    seed."""
    rng = random.Random(f"cli {kind}")
    cases = []
    for change in CLI_CHANGES:
        document = rng.choice(examples()[kind])
        candidates = [loc for loc in locations(document) if change in changes(document, loc)]
        if not candidates:  # an Audit holds no number to write as a string
            continue
        location = rng.choice(candidates)
        cases.append((f"{describe(location)}: {change}", mutate(document, location, change)))
    return cases


def same_data(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and 1 not equal to 1.0 or True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_check_jsonschema_command_agrees(kind: str, tmp_path: Path) -> None:
    files: dict[Path, tuple[str, dict[str, Any]]] = {}
    for number, (what, document) in enumerate(cli_cases(kind)):
        path = tmp_path / f"{number:02d}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
        loaded = load_file(path)
        assert not loaded.problems, loaded.problems
        assert same_data(loaded.documents[0].data, document), f"{what}: YAML changed the data"
        files[path] = (what, document)

    command = [
        str(Path(sys.executable).with_name("check-jsonschema")),
        *("--schemafile", str(SCHEMAS / schema_filename(kind)), "-o", "json", "-v"),
        *map(str, files),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    refused = {Path(error["filename"]) for error in report.get("errors", [])}

    for path, (what, document) in files.items():
        by_library = bool(schema_errors(kind, document))
        assert (path in refused) == by_library, f"{what}: check-jsonschema and the library differ"
        assert_agree(kind, document, f"{kind} example on disk, {what}")


# -- the allow-list is needed, and documented ---------------------------------------------------


def _witnesses() -> dict[str, tuple[str, dict[str, Any]]]:
    """For each KEEL_ONLY rule, an example manifest that breaks it (and nothing else)."""
    evaluation = copy.deepcopy(examples()["Evaluation"][0])
    evaluation["spec"]["metrics"].append(dict(evaluation["spec"]["metrics"][0]))
    dataset = copy.deepcopy(examples()["Dataset"][0])
    dataset["spec"]["files"].append(dict(dataset["spec"]["files"][0]))
    quantization = copy.deepcopy(examples()["Quantization"][0])
    quantization["spec"]["memoryBudget"]["totalBytes"] *= 2
    runbook = copy.deepcopy(examples()["Runbook"][0])
    runbook["spec"]["escalation"]["contact"] = "<fill: who to page>"
    return {
        "placeholders": ("Runbook", runbook),
        "files-listed-once": ("Dataset", dataset),
        "metric-recorded-once": ("Evaluation", evaluation),
        "memory-budget-adds-up": ("Quantization", quantization),
    }


@pytest.mark.parametrize("rule", KEEL_ONLY, ids=lambda rule: rule.name)
def test_each_keel_only_rule_is_one_the_schema_cannot_see(rule: KeelOnly) -> None:
    kind, document = _witnesses()[rule.name]
    findings = keel_findings(document)
    assert findings
    assert all(explained_by(kind, finding) == rule for finding in findings), findings
    assert schema_errors(kind, document) == []


def test_the_docs_list_every_keel_only_rule() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Rules that only keel checks", 1)[1].split("\n## ", 1)[0]
    for rule in KEEL_ONLY:
        assert f"`{rule.name}`" in section, f"docs/manifests.md does not list {rule.name}"
