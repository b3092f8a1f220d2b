"""keel-no-secrets: tokens and keys in the raw text, PII examples in API schemas, the CLI.

Fake secrets are assembled at run time (prefix + generated body), so this file holds no
literal that a secret scanner, keel's own included, would flag.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli.secrets import secrets
from toolkit.core.errors import UsageError
from toolkit.core.loading import MAX_FILE_BYTES
from toolkit.core.reporters import REPORTERS
from toolkit.core.secret_detectors import DETECTORS
from toolkit.workflows.validation.secrets import ScanResult, scan
from toolkit.workflows.validation.secrets_report import as_json, text

PROJECT = Path(__file__).parents[1]
ALNUM = string.ascii_letters + string.digits
HEADER = "apiVersion: keel/v1\nkind: Runbook\nmetadata:\n  name: search\nspec:\n"  # 5 lines


def fake(length: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    """A random-looking body with both cases and digits, the same on every run."""
    rng = random.Random(seed)
    for _ in range(1000):
        body = "".join(rng.choices(alphabet, k=length))
        if (
            length < 3
            or alphabet != ALNUM
            or (
                any(c.isupper() for c in body)
                and any(c.islower() for c in body)
                and any(c.isdigit() for c in body)
            )
        ):
            return body
    raise AssertionError("no mixed body found")


HF_TOKEN = "hf" + "_" + fake(34)
PEM = "-----BEGIN {}" + "PRIVATE KEY-----"

# detector -> (line written as line 6 of a manifest, the secret in it, expected preview)
POSITIVES: dict[str, tuple[str, str, str]] = {
    "hf-token": (
        f"  command: HF_TOKEN={HF_TOKEN} huggingface-cli download",
        HF_TOKEN,
        f"hf_{HF_TOKEN[3:5]}…{HF_TOKEN[-2:]}",
    ),
    "aws-access-key-id": (
        "  awsAccessKeyId: " + (key := "AKIA" + fake(16, string.ascii_uppercase + "234567")),
        key,
        f"AKIA{key[4:6]}…{key[-2:]}",
    ),
    "aws-secret-access-key": (
        "  aws_secret_access_key: " + (aws := fake(36) + "/+" + fake(2, seed=1)),
        aws,
        f"{aws[:2]}…{aws[-2:]}",
    ),
    "bearer-token": (
        '  header: "Authorization: Bearer ' + (bearer := fake(32, ALNUM + "-._~")) + '"',
        bearer,
        f"Bearer {bearer[:2]}…{bearer[-2:]}",
    ),
    "private-key": (
        "  deployKey: " + PEM.format("OPENSSH "),
        PEM.format("OPENSSH "),
        "BEGIN OPENSSH PRIVATE KEY",
    ),
    "github-token": (
        "  cloneWith: " + (gh := "gh" + "p_" + fake(36)),
        gh,
        f"ghp_{gh[4:6]}…{gh[-2:]}",
    ),
    "openai-key": (
        "  judgeKey: " + (openai := "sk-" + "proj-" + fake(48, ALNUM + "_-")),
        openai,
        f"sk-proj-{openai[8:10]}…{openai[-2:]}",
    ),
    "anthropic-key": (
        "  judgeKey: " + (anthropic := "sk-" + "ant-api03-" + fake(93, ALNUM + "_-")),
        anthropic,
        f"sk-ant-api03-{anthropic[13:15]}…{anthropic[-2:]}",
    ),
    "jwt": (
        "  token: " + (jwt := "eyJ" + fake(20) + ".eyJ" + fake(40) + "." + fake(43, ALNUM + "_-")),
        jwt,
        f"{jwt[:2]}…{jwt[-2:]}",
    ),
}


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def rendered(result: ScanResult) -> str:
    return text(result) + "\n" + as_json(result)


def test_every_detector_has_a_positive_example() -> None:
    # the detectors added since are in test_secrets_values.py, which checks the whole table
    assert set(POSITIVES) <= {d.name for d in DETECTORS}


@pytest.mark.parametrize("detector", sorted(POSITIVES))
def test_each_detector_finds_its_secret_on_its_line_redacted(tmp_path: Path, detector: str) -> None:
    line, secret, preview = POSITIVES[detector]
    path = write(tmp_path / "runbook.yaml", HEADER + line + "\n  owner: search-platform\n")
    result = scan([path])
    assert result.files == 1
    noun = "key" if detector in ("private-key", "openai-key", "anthropic-key") else "token"
    noun = "key" if detector.startswith("aws-") else noun
    assert [(f.line, f.check, f.message) for f in result.findings] == [
        (6, "secrets", f"{detector} found ({preview}); remove it and rotate the {noun}")
    ]
    if detector != "private-key":  # a PEM header is not itself secret
        assert secret not in rendered(result)


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "DSA ", "ENCRYPTED ", "PGP "])
def test_every_private_key_header(tmp_path: Path, kind: str) -> None:
    header = PEM.format(kind) if kind != "PGP " else "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----"
    body = "\n".join(fake(64, ALNUM + "+/", seed=i) for i in range(5))
    path = write(tmp_path / "key.json", json.dumps({"key": f"{header}\n{body}\n"}, indent=1))
    [finding] = scan([path]).findings
    assert finding.line == 2
    assert finding.message.startswith("private-key found (BEGIN ")


def test_message_format_and_redaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "manifests/runbook.yaml", HEADER + POSITIVES["hf-token"][0] + "\n")
    result = scan([Path("manifests")])
    out = text(result)
    assert out.splitlines() == [
        f"manifests/runbook.yaml:6: secrets: hf-token found (hf_{HF_TOKEN[3:5]}…"
        f"{HF_TOKEN[-2:]}); remove it and rotate the token",
        "1 file scanned: 1 problem",
    ]
    assert HF_TOKEN not in out
    assert HF_TOKEN not in as_json(result)
    assert HF_TOKEN[3:] not in out, "not even the token without its prefix"


def test_one_finding_where_detectors_overlap(tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", f"header: 'Authorization: Bearer {HF_TOKEN}'\n")
    assert [f.message.split()[0] for f in scan([path]).findings] == ["hf-token"]


def test_several_secrets_are_all_reported_in_line_order(tmp_path: Path) -> None:
    lines = [POSITIVES[name][0] for name in ("jwt", "hf-token", "aws-access-key-id")]
    path = write(tmp_path / "r.yaml", HEADER + "\n".join(lines) + "\n")
    findings = scan([path]).findings
    assert [(f.line, f.message.split()[0]) for f in findings] == [
        (6, "jwt"),
        (7, "hf-token"),
        (8, "aws-access-key-id"),
    ]


def test_digests_shas_and_placeholders_are_not_secrets(tmp_path: Path) -> None:
    sha256 = fake(64, "0123456789abcdef")
    sha1 = fake(40, "0123456789abcdef", seed=1)
    md5 = fake(32, "0123456789abcdef", seed=2)
    content = f"""\
spec:
  files:
  - path: model.safetensors
    sha256: {sha256}
    md5: {md5}
  weightsDigest: sha256:{sha256}
  secretsRevision: {sha1}
  awsCommit: {sha1.upper()}
  source:
    hub:
      repo: sentence-transformers/all-MiniLM-L6-v2
      revision: {sha1}
  command: python -c "from huggingface_hub import hf_hub_download_with_a_long_name"
  env: HF_TOKEN=${{{{ secrets.HF_TOKEN }}}}
  header: "Authorization: Bearer ${{HF_TOKEN}}"
  also: "Authorization: Bearer <token>"
  note: Clients send a bearer token issued to a service account.
  prose: Bearer authentication/authorization over TLS everywhere
  placeholder: "Authorization: Bearer YOUR_ACCESS_TOKEN_GOES_HERE"
  awsSecretName: search-platform/inference/hf-token-for-prod
  task: task-classification-and-extraction-pipeline
  publicKey: -----BEGIN PUBLIC KEY-----
  id: ASIA-PACIFIC-REGION-0001
"""
    path = write(tmp_path / "clean.yaml", content)
    result = scan([path])
    assert result.findings == ()
    assert result.files == 1


def test_the_projects_own_manifests_and_examples_are_clean() -> None:
    data = PROJECT / "toolkit/data/example"
    paths = [
        PROJECT / "manifests",
        PROJECT / "tests/examples",
        data / "manifests",
        *sorted(data.glob("artifacts/**/*.jsonl")),
    ]
    result = scan(paths)
    assert result.findings == ()
    assert result.skipped == ()
    assert result.files >= 60


def test_this_test_file_holds_no_literal_secret() -> None:
    assert scan([Path(__file__)]).findings == ()


def test_invalid_yaml_is_still_scanned(tmp_path: Path) -> None:
    content = "spec:\n  a: [1, 2\n\tbad: indent\n" + POSITIVES["github-token"][0] + "\n"
    path = write(tmp_path / "broken.yaml", content)
    [finding] = scan([path]).findings
    assert finding.line == 4
    assert finding.message.startswith("github-token found")


def test_allow_comment_exempts_its_line_only(tmp_path: Path) -> None:
    line = POSITIVES["bearer-token"][0]
    content = HEADER + line + "  # keel: allow-secret (documented test fixture)\n" + line + "\n"
    path = write(tmp_path / "r.yaml", content)
    assert [f.line for f in scan([path]).findings] == [7]


def test_non_utf8_text_is_scanned_and_binary_or_huge_files_are_skipped(tmp_path: Path) -> None:
    latin1 = write(
        tmp_path / "latin1.yaml",
        ("owner: José\n" + POSITIVES["hf-token"][0] + "\n").encode("latin-1"),
    )
    binary = write(tmp_path / "weights.json", b"{\x00" + HF_TOKEN.encode())
    huge = write(tmp_path / "huge.yaml", b"a: b\n" * (MAX_FILE_BYTES // 5 + 1))
    result = scan([latin1, binary, huge])
    assert [(f.path, f.line) for f in result.findings] == [(latin1, 2)]
    assert result.files == 1
    assert [(s.path, s.reason) for s in result.skipped] == [
        (binary, "binary file (NUL bytes)"),
        (huge, "larger than 1024 KiB"),
    ]
    assert text(result).splitlines()[-1] == "1 file scanned, 2 not scanned: 1 problem"
    markdown = REPORTERS["markdown"](result).splitlines()  # the scan in the shared reporters
    assert markdown[0].startswith(f"- **error** `{latin1}:2`: hf-token found (hf_")
    assert markdown[1:] == [
        f"- {binary}: not scanned: binary file (NUL bytes)",
        f"- {huge}: not scanned: larger than 1024 KiB",
        "",
        "1 file scanned, 2 not scanned: 1 problem",
    ]


def test_directories_are_walked_for_manifest_files_only(tmp_path: Path) -> None:
    write(tmp_path / "m/a.yaml", POSITIVES["hf-token"][0] + "\n")
    write(tmp_path / "m/sub/b.json", '{"k": "' + HF_TOKEN + '"}\n')
    write(tmp_path / "m/notes.txt", POSITIVES["hf-token"][0] + "\n")
    write(tmp_path / "m/.hidden/c.yaml", POSITIVES["hf-token"][0] + "\n")
    given = write(tmp_path / "notes.txt", POSITIVES["hf-token"][0] + "\n")
    result = scan([tmp_path / "m", given])
    names = sorted(f.path.relative_to(tmp_path).as_posix() for f in result.findings)
    assert names == ["m/a.yaml", "m/sub/b.json", "notes.txt"]


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        scan([tmp_path / "nope.yaml"])


DEPLOYMENT = """\
apiVersion: keel/v1
kind: Deployment
metadata:
  name: search
spec:
  api:
    inputSchema:
      type: object
      properties:
        email:
          type: string
          x-pii: true
          examples:
          - ada@example.com
        query:
          type: string
          examples: [how do I rotate a key]
    outputSchema:
      type: object
      properties:
        users:
          type: array
          items:
            type: object
            pii: true
            properties:
              name:
                type: string
                default: Ada Lovelace
"""


def test_pii_examples_in_api_schemas_are_found_at_their_line(tmp_path: Path) -> None:
    path = write(tmp_path / "deployment.yaml", DEPLOYMENT)
    result = scan([path])
    assert [(f.line, f.ref, f.field, f.message) for f in result.findings] == [
        (
            13,
            "Deployment/search",
            "spec.api.inputSchema.properties.email.examples",
            "pii-example found (examples of a field marked x-pii); remove the example data",
        ),
        (
            29,
            "Deployment/search",
            "spec.api.outputSchema.properties.users.items.properties.name.default",
            "pii-example found (default of a field marked pii); remove the example data",
        ),
    ]
    out = rendered(result)
    assert "ada@example.com" not in out
    assert "Ada Lovelace" not in out
    assert text(result).splitlines()[0] == (
        f"{path}:13: secrets: Deployment/search: spec.api.inputSchema.properties.email.examples: "
        "pii-example found (examples of a field marked x-pii); remove the example data"
    )


def test_pii_in_an_object_example_is_found(tmp_path: Path) -> None:
    content = DEPLOYMENT.split("    outputSchema:")[0].replace(
        "          examples: [how do I rotate a key]\n",
        "      examples:\n      - {query: rotate, email: ada@example.com}\n"
        "      - {query: rotate}\n",
    )
    content = content.replace("          examples:\n          - ada@example.com\n", "")
    path = write(tmp_path / "deployment.yaml", content)
    [finding] = scan([path]).findings
    line = content.splitlines().index("      examples:") + 1
    assert (finding.line, finding.field) == (line, "spec.api.inputSchema.examples")
    assert finding.message == (
        "pii-example found (a value for 'email', which is marked x-pii, in examples); "
        "remove the example data"
    )


def test_pii_fields_without_example_data_are_fine(tmp_path: Path) -> None:
    content = """\
kind: Deployment
spec:
  api:
    inputSchema:
      type: object
      properties:
        email: {type: string, x-pii: true, examples: [], enum: [], default: null}
        name: {type: string, x-pii: false, examples: [Ada]}
        note: {type: string, description: no pii here, examples: [hello]}
      examples:
      - {note: hello}
"""
    path = write(tmp_path / "deployment.yaml", content)
    assert scan([path]).findings == ()
    other = write(
        tmp_path / "model.yaml", content.replace("Deployment", "Model").replace("[]", "[x]")
    )
    assert scan([other]).findings == (), "only a Deployment's API contract is read for PII"


def test_pii_in_a_json_deployment(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "$defs": {"person": {"x-pii": True, "anyOf": [{"type": "string", "const": "Ada"}]}},
    }
    document = {"kind": "Deployment", "spec": {"api": {"inputSchema": schema}}}
    path = write(tmp_path / "deployment.json", json.dumps(document, indent=2))
    [finding] = scan([path]).findings
    assert finding.field == "spec.api.inputSchema.$defs.person.anyOf[0].const"
    assert path.read_text().splitlines()[finding.line - 1].strip() == '"const": "Ada"'


def test_pii_allow_comment_and_unparsable_files(tmp_path: Path) -> None:
    allowed = DEPLOYMENT.replace(
        "          examples:\n", "          examples:  # keel: allow-secret\n"
    )
    path = write(tmp_path / "allowed.yaml", allowed)
    assert [f.line for f in scan([path]).findings] == [29]
    broken = write(tmp_path / "broken.yaml", DEPLOYMENT + "  bad: [\n" + POSITIVES["jwt"][0] + "\n")
    [finding] = scan([broken]).findings
    assert finding.message.startswith("jwt found"), "the token scan runs when parsing fails"


def test_the_hooks_report_secrets_with_the_rendered_line(tmp_path: Path) -> None:
    from toolkit.workflows.validation.hooks import run_checks

    root = tmp_path
    (root / "manifests").mkdir()
    path = write(root / "manifests" / "r.yaml", HEADER + POSITIVES["hf-token"][0] + "\n")
    runs = {run.hook: run for run in run_checks(root, [path])}
    assert not runs["keel-no-secrets"].ok
    assert runs["keel-no-secrets"].lines[0].startswith(f"{path}:6: hf-token found (hf_")


# The command (CliRunner on the command object: it works whether or not it is registered).


def test_cli_clean_default_tree_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(PROJECT / "manifests", tmp_path / "manifests")
    monkeypatch.chdir(tmp_path / "manifests" / "models")
    done = CliRunner().invoke(secrets, [])
    assert done.exit_code == 0, done.output
    assert done.output == "19 files scanned: clean\n"


def test_cli_finding_exits_1_text_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "manifests/runbook.yaml", HEADER + POSITIVES["aws-access-key-id"][0] + "\n")
    write(tmp_path / "manifests/model.yaml", HEADER)
    monkeypatch.chdir(tmp_path)
    key, preview = POSITIVES["aws-access-key-id"][1:]
    done = CliRunner().invoke(secrets, [])
    assert done.exit_code == 1
    assert done.output.splitlines() == [
        f"manifests/runbook.yaml:6: secrets: aws-access-key-id found ({preview}); "
        "remove it and rotate the key",
        "2 files scanned: 1 problem",
    ]
    done = CliRunner().invoke(secrets, ["--format", "json", "manifests/runbook.yaml"])
    assert done.exit_code == 1
    report = json.loads(done.output)
    assert report == {
        "clean": False,
        "files": 1,
        "skipped": [],
        "findings": [
            {
                "path": "manifests/runbook.yaml",
                "line": 6,
                "ref": None,
                "field": None,
                "check": "secrets",
                "severity": "error",
                "message": f"aws-access-key-id found ({preview}); remove it and rotate the key",
            }
        ],
    }
    assert key not in done.output


def test_cli_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(secrets, ["missing.yaml"])
    assert isinstance(done.exception, UsageError)
    done = CliRunner().invoke(secrets, [])
    assert isinstance(done.exception, UsageError)
    assert "manifests: no such directory" in str(done.exception)


def test_cli_imports_no_pydantic(tmp_path: Path) -> None:
    """`keel secrets` starts light: no pydantic, torch, transformers, peft, dvc or git."""
    write(tmp_path / "manifests/deployment.yaml", DEPLOYMENT)
    write(tmp_path / "manifests/runbook.yaml", HEADER + POSITIVES["hf-token"][0] + "\n")
    probe = (
        "import sys\n"
        "from toolkit.cli.secrets import secrets\n"
        "code = secrets.main([], prog_name='keel secrets', standalone_mode=False)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = {'pydantic', 'torch', 'transformers', 'peft', 'dvc', 'git', 'ruamel'}\n"
        "print(f'CODE={code} HEAVY=' + ','.join(sorted(loaded & heavy)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "2 files scanned: 3 problems" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "CODE=1 HEAVY="


def test_500_clean_manifests_are_all_scanned(tmp_path: Path) -> None:
    """The prefilter skips detectors per file, never files: all 500 are read and found clean.
    (Speed is measured in benchmarks/, not asserted here.)"""
    sources = sorted((PROJECT / "manifests").rglob("*.yaml"))
    for index in range(500):
        shutil.copy(sources[index % len(sources)], tmp_path / f"m{index}.yaml")
    result = scan([tmp_path])
    assert result.files == 500
    assert result.ok
