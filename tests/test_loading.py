"""Hostile input: every bad file gets one-line findings, nothing is executed, nothing hangs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.core import loading
from toolkit.core.loading import load_file
from toolkit.workflows.validation.validate import validate

ALIAS_BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""

HOSTILE: list[tuple[str, bytes, str]] = [
    ("alias-bomb.yaml", ALIAS_BOMB.encode(), "alias uses (a YAML alias bomb?)"),
    ("deep-flow.yaml", b"[" * 200_000 + b"]" * 200_000, "nesting deeper than 64 levels"),
    (
        "deep-block.yaml",
        "".join(" " * i + "a:\n" for i in range(200)).encode(),
        "nesting deeper than 64 levels",
    ),
    (
        "python-tag.yaml",
        b"spec: !!python/object/apply:os.system ['touch /tmp/keel-pwned']\n",
        "unsupported YAML tag !!python/object/apply:os.system",
    ),
    ("custom-tag.yaml", b"spec: !Ref Model/x\n", "unsupported YAML tag !Ref"),
    (
        "huge.yaml",
        b"a: " + b"x" * (loading.MAX_FILE_BYTES + 10) + b"\n",
        "file is larger than 1024 KiB",
    ),
    ("binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file (NUL bytes)"),
    ("latin1.yaml", "name: café\n".encode("latin-1"), "not UTF-8 text (byte 0xe9)"),
    (
        "scalar.yaml",
        b"just a string\n",
        "expected a mapping with apiVersion, kind, metadata and spec, found str",
    ),
    ("list.yaml", b"- kind: Model\n", "found list"),
    (
        "duplicate.yaml",
        b"apiVersion: keel/v1\nkind: Model\nkind: Dataset\n",
        "duplicate key 'kind'",
    ),
    ("merge.yaml", b"base: &b {a: 1}\nother:\n  <<: *b\n", "merge keys (<<) are not supported"),
    ("broken.yaml", b"a: [1, 2\nb: 3\n", "not valid YAML"),
    ("broken.json", b'{"a": 1,}', "not valid JSON"),
    ("duplicate.json", b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nesting deeper than 64 levels"),
]


@pytest.mark.parametrize(("name", "content", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_file_gives_one_line_finding(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = load_file(path)
    messages = [p.message for p in result.problems]
    if not messages:  # documents that load but are not manifests are reported by parsing
        result_messages = [f.message for f in validate(tmp_path, [path]).findings]
        messages = result_messages
    assert any(expected in m for m in messages), messages
    assert all("\n" not in m for m in messages)
    assert not Path("/tmp/keel-pwned").exists()


def test_one_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "bomb.yaml").write_text(ALIAS_BOMB)
    (manifests / "bad.yaml").write_bytes(b"\xff\xfe")
    (manifests / "ok.yaml").write_text(
        "apiVersion: keel/v1\nkind: Model\nmetadata: {name: x}\nspec: {}\n"
    )
    result = validate(tmp_path)
    paths = {f.path.name for f in result.findings}
    assert paths == {"bomb.yaml", "bad.yaml", "ok.yaml"}


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: keel/v1\n")
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    os.symlink(outside, repo / "manifests" / "link.yaml")
    findings = validate(repo).findings
    assert [f.message for f in findings] == [
        "symlink leads outside the repository; manifests must live inside it"
    ]


def test_lines_point_at_the_offending_field(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "apiVersion: keel/v1\nkind: Dataset\nmetadata:\n  name: d\nspec:\n  rows: many\n"
    )
    document = load_file(path).documents[0]
    assert document.line_of(("spec", "rows")) == 6
    assert document.line_of(("spec", "rows", "missing", 3)) == 6
    assert document.line_of(("metadata",)) == 3


def test_several_documents_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n---\nb: 2\n---\n")
    documents = load_file(path).documents
    assert [d.data for d in documents] == [{"a": 1}, {"b": 2}]
    assert documents[1].line == 3


def test_scalars_keep_their_yaml_types_and_dates_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("i: 3\nf: 0.5\nb: true\nn: null\nd: 2026-11-24\ns: '3'\n")
    assert load_file(path).documents[0].data == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "n": None,
        "d": "2026-11-24",
        "s": "3",
    }


def test_json_manifests_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{\n  "a": {\n    "b": [1, 2]\n  }\n}\n')
    document = load_file(path).documents[0]
    assert document.data == {"a": {"b": [1, 2]}}
    assert document.line_of(("a", "b")) == 3


def test_empty_file_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("# only a comment\n")
    assert [p.message for p in load_file(path).problems] == ["empty file: expected a manifest"]
