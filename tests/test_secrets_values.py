"""keel-no-secrets, second part: assignment forms of cloud keys, secrets hidden by YAML/JSON
escapes, folding and prefixes, and the one redaction function every output goes through.

Fake secrets are assembled at run time, as in test_secrets.py.
"""

from __future__ import annotations

import json
import string
from typing import TYPE_CHECKING

import pytest
from test_secrets import ALNUM, HEADER, HF_TOKEN, fake, write

from toolkit.cli import main
from toolkit.core.secret_detectors import DETECTORS, entropy
from toolkit.core.text import redact
from toolkit.workflows.validation.secrets import scan

if TYPE_CHECKING:
    from pathlib import Path

AWS_SECRET = fake(38, seed=3) + "/+"
AZURE_STORAGE = fake(86, ALNUM + "+/", seed=4) + "=="

# detector -> (line 6 of a manifest, the secret in it, expected preview)
POSITIVES: dict[str, tuple[str, str, str]] = {
    "gitlab-token": (
        "  command: git clone https://oauth2:" + (gl := "glpat" + "-" + fake(20)) + "@gitlab/x",
        gl,
        f"glpat-{gl[6:8]}…{gl[-2:]}",
    ),
    "slack-token": (
        "  notify: " + (slack := "xox" + "b-" + fake(12, string.digits) + "-" + fake(24)),
        slack,
        f"xoxb-{slack[5:7]}…{slack[-2:]}",
    ),
    "slack-webhook": (
        "  notify: https://hooks.slack.com/services/"
        + (hook := "T" + fake(8, string.ascii_uppercase + string.digits) + "/B" + fake(24)),
        hook,
        f"{hook[:2]}…{hook[-2:]}",
    ),
    "gcp-api-key": (
        "  mapsKey: " + (gcp := "AI" + "za" + fake(35, ALNUM + "_-", seed=5)),
        gcp,
        f"AIza{gcp[4:6]}…{gcp[-2:]}",
    ),
    "azure-storage-key": (
        "  connection: DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + AZURE_STORAGE,
        AZURE_STORAGE,
        f"{AZURE_STORAGE[:2]}…{AZURE_STORAGE[-2:]}",
    ),
    "azure-client-secret": (
        "  clientSecret: " + (azure := "abc" + "8Q~" + fake(34, ALNUM + "_~.-", seed=6)),
        azure,
        f"{azure[6:8]}…{azure[-2:]}",
    ),
    "generic-secret": (
        "  command: DB_PASSWORD=" + (generic := fake(24, seed=7)) + " ./migrate",
        generic,
        f"{generic[:2]}…{generic[-2:]}",
    ),
}


def test_every_new_detector_has_a_positive_example() -> None:
    from test_secrets import POSITIVES as FIRST

    assert {*FIRST, *POSITIVES} == {d.name for d in DETECTORS}


@pytest.mark.parametrize("detector", sorted(POSITIVES))
def test_each_detector_finds_its_secret_redacted(tmp_path: Path, detector: str) -> None:
    line, secret, shown = POSITIVES[detector]
    result = scan([write(tmp_path / "runbook.yaml", HEADER + line + "\n")])
    assert [(f.line, f.message.split(" ")[0]) for f in result.findings] == [(6, detector)]
    assert shown in result.findings[0].message
    assert secret not in result.findings[0].message


# The forms the issue measured as missed: each must be found, on this line, never printed.
FORMS = {
    "aws-env-assignment": f"  command: AWS_SECRET_ACCESS_KEY={AWS_SECRET} aws s3 ls",
    "aws-export": f"  command: export AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'",
    "aws-env-mapping": f"  env:\n    AWS_SECRET_ACCESS_KEY: {AWS_SECRET}",
    "aws-env-list": f"  env:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: {AWS_SECRET}",
    "hf-prefix": f"  command: MYTOKEN_{HF_TOKEN}",
    "hf-yaml-hex-escape": '  command: "\\x68' + HF_TOKEN[1:] + '"',
    "hf-yaml-unicode-escape": '  command: "\\u0068' + HF_TOKEN[1:] + '"',
    "hf-yaml-folded": '  command: "' + HF_TOKEN[:12] + "\\\n    " + HF_TOKEN[12:] + '"',
    "hf-shell-continuation": "  command: >-\n    HF_TOKEN="
    + HF_TOKEN[:12]
    + "\\\n    "
    + HF_TOKEN[12:],
    "generic-token-env-list": "  env:\n  - name: SEARCH_API_TOKEN\n    value: " + fake(32, seed=9),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_of_a_secret_is_found(tmp_path: Path, form: str) -> None:
    text = HEADER + FORMS[form] + "\n"
    result = scan([write(tmp_path / "runbook.yaml", text)])
    assert result.findings, form
    assert all(f.line >= 6 for f in result.findings)
    secret = HF_TOKEN if "hf" in form else AWS_SECRET
    assert secret not in json.dumps([f.message for f in result.findings])


def test_a_json_manifest_with_an_escaped_token(tmp_path: Path) -> None:
    escaped = "\\u0068" + HF_TOKEN[1:]
    text = '{"apiVersion": "keel/v1", "kind": "Runbook",\n "spec": {"token": "' + escaped + '"}}'
    result = scan([write(tmp_path / "runbook.json", text)])
    assert [(f.line, f.message.split(" ")[0]) for f in result.findings] == [(2, "hf-token")]


@pytest.mark.parametrize(
    "line",
    [
        "  tokenizer: Tokenizer/all-minilm-l6-v2",
        "  command: export AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY",
        "  token: ${{ secrets.HF_TOKEN }}",
        "  env:\n  - name: HF_TOKEN\n    valueFrom: {secretKeyRef: {name: hf, key: token}}",
        "  password: changeme-changeme-changeme",
        "  secretName: search-platform-credentials",
        "  tensorDigest: sha256:" + "ab12" * 16,
        "  maxTokens: 4096",
    ],
)
def test_look_alikes_are_not_secrets(tmp_path: Path, line: str) -> None:
    result = scan([write(tmp_path / "runbook.yaml", HEADER + line + "\n")])
    assert result.ok, [f.message for f in result.findings]


def test_entropy_separates_random_from_words() -> None:
    assert entropy(fake(32)) > 4.0
    assert entropy("aaaaaaaaaaaaaaaa") == 0
    assert entropy("search-platform-credentials") < 4


def test_redact_keeps_only_a_preview_and_one_line() -> None:
    text = f"got {HF_TOKEN!r} and AWS_SECRET_ACCESS_KEY={AWS_SECRET}\nnext"
    shown = redact(text)
    assert HF_TOKEN not in shown
    assert AWS_SECRET not in shown
    assert f"hf_{HF_TOKEN[3:5]}…{HF_TOKEN[-2:]}" in shown
    assert "\n" not in shown
    assert redact("expected one of Model, Dataset") == "expected one of Model, Dataset"


def test_validate_never_echoes_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token pasted as a kind or an enum value comes back in a finding's message: redacted,
    in the text and the JSON."""
    from toolkit.workflows.authoring.init import init

    root = tmp_path / "repo"
    init(root)
    write(
        root / "manifests/oops.yaml",
        f"apiVersion: keel/v1\nkind: {HF_TOKEN}\nmetadata:\n  name: oops\nspec: {{}}\n",
    )
    monkeypatch.chdir(root)
    for output in ("text", "json", "github"):
        assert main(["validate", "--format", output]) == 1
        out = capsys.readouterr().out
        shown = json.dumps(json.loads(out), ensure_ascii=False) if output == "json" else out
        assert HF_TOKEN not in shown
        assert f"hf_{HF_TOKEN[3:5]}…{HF_TOKEN[-2:]}" in shown


def test_an_audit_check_is_redacted_whole() -> None:
    from toolkit.core.findings import CheckResult, Finding
    from toolkit.workflows.validation.secrets_report import redacted_check

    check = CheckResult(
        "runbook.commands",
        f"HF_TOKEN={HF_TOKEN} keel pull",
        (f"+ command: HF_TOKEN={HF_TOKEN}",),
        (Finding(None, 0, f"step uses {HF_TOKEN}", ref=None, check="runbook"),),
    )
    shown = redacted_check(check)
    assert HF_TOKEN not in repr(shown)
    assert shown.status == check.status
