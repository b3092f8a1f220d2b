"""No secret an audit reads reaches what it writes: the report (every format) and the Audit
manifest it commits quote runbook commands and changes, redacted."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from factories import audited_repo

from toolkit.cli import main

if TYPE_CHECKING:
    from pathlib import Path

TOKEN = "hf_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zQq"  # shaped like a Hugging Face token


def _leak_a_token(data: dict[str, Any]) -> None:
    data["runbook"]["spec"]["steps"]["rollback"].append(
        {"description": "Re-login", "command": f"huggingface-cli login --token {TOKEN}"}
    )


@pytest.mark.parametrize("report_format", ["md", "html", "json"])
def test_an_audit_never_writes_a_token_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], report_format: str
) -> None:
    root = audited_repo(tmp_path, _leak_a_token)
    out = tmp_path / f"report.{report_format}"
    as_of = dt.date(2026, 11, 24).isoformat()

    main(["audit", "--root", str(root), "--as-of", as_of, "-f", report_format, "--out", str(out)])
    printed = capsys.readouterr()

    written = [out.read_text(encoding="utf-8"), printed.out, printed.err]
    written += [
        p.read_text(encoding="utf-8")
        for p in (root / "manifests").rglob("*.yaml")
        if "audits" in p.parts
    ]
    assert any("huggingface-cli login" in text for text in written)  # the step is quoted
    assert not [text for text in written if TOKEN in text]
