"""The document cache: unchanged manifests are not read again; any change is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from toolkit.core import doccache
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from toolkit.core.loading import LoadResult


@pytest.fixture
def repo(manifests: dict[str, Any], make_repo: Callable[..., Path]) -> Path:
    root = make_repo(manifests)
    (root / ".gitignore").write_text(
        ".keel/\n"
    )  # as `keel init` writes it: the cache may live here
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files actually read (the real loader runs; calls are only counted)."""
    seen: list[str] = []
    real = doccache.load_file

    def counting(path: Path) -> LoadResult:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(doccache, "load_file", counting)
    return seen


def test_unchanged_manifests_are_not_read_again(repo: Path, reads: list[str]) -> None:
    assert validate(repo).ok
    assert len(reads) == 16
    reads.clear()
    assert validate(repo).ok
    assert reads == []


def test_a_changed_manifest_is_read_again_and_judged_anew(repo: Path, reads: list[str]) -> None:
    validate(repo)
    reads.clear()
    path = repo / "manifests" / "runbook.yaml"
    path.write_text(path.read_text().replace("reviewIntervalDays: 90", "reviewIntervalDays: -1"))
    findings = validate(repo).findings
    assert reads == ["runbook.yaml"]
    assert [f.field for f in findings] == ["spec.reviewIntervalDays"]


def test_no_cache_outside_a_keel_repository(
    manifests: dict[str, Any], make_repo: Callable[..., Path]
) -> None:
    root = make_repo(manifests)
    validate(root)
    assert not (root / ".keel").exists(), "validating a foreign tree writes nothing into it"


def test_a_damaged_cache_is_rebuilt(repo: Path) -> None:
    validate(repo)
    (repo / ".keel" / "documents.sqlite").write_bytes(b"garbage" * 64)
    assert validate(repo).ok


def test_valid_api_schemas_are_remembered_and_invalid_ones_never(
    repo: Path, manifests: dict[str, Any]
) -> None:
    assert validate(repo).ok
    remembered = doccache.valid_schemas(repo)
    assert len(remembered) == 2, "the input and the output schema"
    path = repo / "manifests" / "deployment.yaml"
    path.write_text(path.read_text().replace("type: object", "type: objekt", 1))
    assert any("not a valid JSON Schema" in f.message for f in validate(repo).findings)
    assert doccache.valid_schemas(repo) == remembered
