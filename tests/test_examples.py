"""Negative example manifests, each with its expected one-line findings beside it.

Each example replaces one manifest of the complete test deployment, so references resolve and
only the example's own mistake is reported. Regenerate the .expected files after a deliberate
message change with `pytest tests/test_examples.py --update-golden`, then read the diff.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable

INVALID = Path(__file__).parent / "examples" / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def _stem(example: Path) -> str:
    first = example.read_text().splitlines()[0]
    return first.split("manifest '")[1].split("'")[0]


@pytest.mark.parametrize("example", CASES, ids=[c.stem for c in CASES])
def test_invalid_example_gives_expected_findings(
    example: Path,
    manifests: dict[str, Any],
    make_repo: Callable[..., Path],
    request: pytest.FixtureRequest,
) -> None:
    stem = _stem(example)
    del manifests[stem]
    root = make_repo(manifests)
    target = root / "manifests" / f"{stem}.yaml"
    shutil.copy(example, target)
    result = validate(root)
    lines = [replace(f, path=Path(example.name)).render() for f in result.findings]
    expected_file = example.with_suffix(".expected")
    if request.config.getoption("--update-golden"):
        expected_file.write_text("\n".join(lines) + "\n")
    assert not result.ok
    assert lines == expected_file.read_text().splitlines()
    assert lines[0].startswith(f"{example.name}:"), "the example's own mistake comes first"


def test_every_kind_has_negative_examples() -> None:
    from toolkit.manifests import KINDS

    kinds = {c.stem.split("-")[0] for c in CASES}
    exempt = {"dataset", "architecturedecision", "trainingrun", "audit"}  # audit: test_audit.py
    assert {k.lower() for k in KINDS} <= kinds | exempt
    names = {c.stem for c in CASES}
    assert any(n.startswith("dataset") for n in names) or any(n.startswith("canary") for n in names)
