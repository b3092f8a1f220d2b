"""keel's secret scan against the public test fixtures of detect-secrets and gitleaks.

    .venv/bin/python benchmarks/bench_secrets.py [--detect-secrets PATH] [--gitleaks PATH]
        [--json PATH]

Each fixture is one line (or a few) from a peer's own tests, labelled as its authors label it:
`secret` (their detector must flag it) or `clean` (it must not). Sources, at the commits read:
- detect-secrets (github.com/Yelp/detect-secrets, 5e14193): tests/plugins/*_test.py.
- gitleaks (github.com/gitleaks/gitleaks, b58d3f10): cmd/generate/config/rules/*.go, the
  `tps` and `fps` lists.
Only the kinds keel claims to detect are taken (AWS, GCP, Azure, Hugging Face, GitHub, GitLab,
Slack, OpenAI, JWT, private keys). A `|` is inserted after each token's prefix so that this
file holds no literal token for a scanner (or a push protection) to stop; it is removed on
load.

keel scans each fixture as the text of a manifest file (`scan_text`: the raw-text scan and,
where the text loads as YAML, the value scan). Recall = secrets flagged / secrets; false
positives = clean fixtures flagged. detect-secrets (`detect-secrets scan` with its default
plugins) and gitleaks (`gitleaks dir --no-git`) run over the same files when their executable
is given or on PATH; otherwise their column says "not installed". Nothing is asserted.

Read the numbers as agreement with the peers' own labels, not as a measure on unseen data:
keel's detectors were tightened after reading these rules (placeholder key ids, short Slack
tokens). The two suites also disagree: detect-secrets calls `AKIAZZZZZZZZZZZZZZZZ` a secret,
gitleaks calls `AKIAXXXXXXXXXXXXXXXX` a placeholder; detect-secrets' `clean` lines are clean
for one plugin, and its other plugins (keyword, entropy) may still flag them in a full scan.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.workflows.validation.secrets import scan_text  # noqa: E402

DS = "detect-secrets tests/plugins"
GL = "gitleaks cmd/generate/config/rules"

# (source, kind, label, text)
FIXTURES: list[tuple[str, str, str, str]] = [
    # detect-secrets aws_key_test.py
    (DS, "aws", "secret", "AKIA|ZZZZZZZZZZZZZZZZ"),
    (DS, "aws", "secret", "ASIA|ZZZZZZZZZZZZZZZZ"),
    (DS, "aws", "secret", "A3T0|ZZZZZZZZZZZZZZZZ"),
    (DS, "aws", "clean", "akiazzzzzzzzzzzzzzzz"),
    (DS, "aws", "clean", "AKIAZZZ"),
    (DS, "aws", "secret", 'aws_access_key = "wJ|alrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'),
    (DS, "aws", "clean", 'aws_access_key = "wJ|alrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYa"'),
    (DS, "aws", "clean", 'aws_access_key = "wJ|alrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE"'),
    (DS, "aws", "secret", "aws_secret_access_key = wJ|alrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    # detect-secrets github_token_test.py
    (DS, "github", "secret", "ghp_|wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx"),
    (DS, "github", "clean", "foo_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx"),
    # detect-secrets gitlab_token_test.py
    (DS, "gitlab", "secret", "glpat-|hellOworld380_testin"),
    (DS, "gitlab", "secret", "gldt-|HwllOuhfw-wu0rlD_yep"),
    (DS, "gitlab", "clean", "glpat-|hellOWorld380 testin"),
    (DS, "gitlab", "clean", "glpat_hellOworld380_testin"),
    (DS, "gitlab", "clean", "gldt-|seems_too000Sshorty"),
    # detect-secrets slack_test.py
    (DS, "slack", "secret", "xoxp-|523423-234243-234233-e039d02840a0b9379c"),
    (DS, "slack", "secret", "xoxs-|523423-234243-234233-e039d02840a0b9379c"),
    (DS, "slack", "secret", "xoxb-|34532454-e039d02840a0b9379c"),
    (
        DS,
        "slack",
        "secret",
        "https://hooks.slack.com/services/|Txxxxxxxx/Bxxxxxxxx/xxxxxxxxxxxxxxxxxxxxxxxx",
    ),
    # detect-secrets openai_test.py
    (DS, "openai", "secret", "sk-|Xi8tcNiHV9awbCcvilTeT3BlbkFJ3UDnpdEwNNm6wVBpYM0o"),
    (DS, "openai", "secret", "sk-proj-|Xi8tdMjHV6pmbBbwilTeT3BlbkFJ3UDnpdEwNNm6wVBpYM0o"),
    (DS, "openai", "clean", "sk-proj-|Xi8tdMjHV6pmbBbwilTeT4BlbkFJ3UDnpdEwNNm6wVBpYM0o"),
    # detect-secrets azure_storage_key_test.py
    (
        DS,
        "azure",
        "secret",
        "AccountKey=|lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLW"
        "ntUO1F8j8rQ==",
    ),
    # detect-secrets jwt_test.py
    (
        DS,
        "jwt",
        "secret",
        "eyJ|hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIi"
        "wiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (DS, "jwt", "clean", "eyJAAAA.eyJBBB"),
    (DS, "jwt", "clean", "eyJBB.eyJCC.eyJDDDD"),
    (
        DS,
        "jwt",
        "clean",
        "bm90X3ZhbGlkX2pzb25fYXRfYWxs.bm90X3ZhbGlkX2pzb25fYXRfYWxs.SflKxwRJSMeKKF2QT4fwpMeJf36POk6"
        "yJV_adQssw5c",
    ),
    # detect-secrets private_key_test.py
    (
        DS,
        "private-key",
        "secret",
        "-----BEGIN RSA |PRIVATE KEY-----\nsuper secret private key here",
    ),
    (DS, "private-key", "secret", "some text here\n-----BEGIN |PRIVATE KEY-----\nyabba dabba doo"),
    # gitleaks huggingface.go
    (GL, "hf", "secret", "huggingface-cli login --token hf_|jCBaQngSHiHDRYOcsMcifUcysGyaiybUWz"),
    (GL, "hf", "secret", '-H "Authorization: Bearer hf_|cYfJAwnBfGcKRKxGwyGItlQlRSFYCLphgG"'),
    (GL, "hf", "secret", "DEV=1 HF_TOKEN=hf_|QNqXrtFihRuySZubEgnUVvGcnENCBhKgGD poetry run app"),
    (GL, "hf", "secret", "use_auth_token='hf_|orMVXjZqzCQDVkNyxTHeVlyaslnzDJisex')"),
    (GL, "hf", "secret", 'CI_HUB_USER_TOKEN = "hf_|hZEmnoOEYISjraJtbySaKCNnSuYAvukaTt"'),
    (GL, "hf", "clean", "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;"),
    (
        GL,
        "hf",
        "clean",
        'amazon.de#@#div[data-cel-widget="desktop-rhf_SponsoredProductsRemoteRHFSearchEXPSubsK2Cli'
        'ckPagination"]',
    ),
    (GL, "hf", "clean", "    _kHMSymptomhf_generatedByHomeAppForDebuggingPurposesKey,"),
    # gitleaks aws.go
    (GL, "aws", "clean", "key = AKIA|XXXXXXXXXXXXXXXX"),
    (GL, "aws", "clean", "aws_access_key: AKIA|IOSFODNN7EXAMPLE"),
    (GL, "aws", "clean", "TODAYINASIAASACKOFRICEFELLOVER"),
    # gitleaks gcp.go
    (GL, "gcp", "secret", "AIza|SyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-"),
    (GL, "gcp", "clean", 'apiKey: "AIza|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"'),
    (GL, "gcp", "clean", "AIZASYCO2CXRMC9ELSKLHLHRMBSWDEVEDZTLO2O"),
    (GL, "gcp", "clean", "AIza|Syabcdefghijklmnopqrstuvwxyz1234567"),
    (GL, "gcp", "clean", "AIza|Tesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDqabcd123"),
    # gitleaks azure.go
    (GL, "azure", "secret", "client_secret=bP8|8Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR"),
    (GL, "azure", "secret", "client_secret: .IQ|8Q~79R7TOWOspFnWcEG-dYt4KXqFqxK16cxr"),
    (GL, "azure", "secret", "AUTH_CLIENTSECRET = _V2|8Q~IC8qxmlWNpHuDm34JlbKv9LXV5MvUR3a-P"),
    (GL, "azure", "secret", '"CLIENT_SECRET": "YYz|7Q~Sudoqwap1PnzEBA3zqBK~i5uesDIv.C"'),
    (GL, "azure", "secret", 'client-secret: "t02|8Q~-aLbmQuinnZtzbgtlEAYstnBWEmGPAoBm"'),
    (GL, "azure", "secret", "(use the client secret: QtT|8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn)"),
    (GL, "azure", "clean", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"),
    # gitleaks slack.go
    (
        GL,
        "slack",
        "secret",
        '"bot_token1": "xoxb-|781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"',
    ),
    (
        GL,
        "slack",
        "secret",
        '"user_token1": "xoxp-|41684372915-1320496754-45609968301-'
        'e708ba56e1517a99f6b5fb07349476ef"',
    ),
    (GL, "slack", "clean", "xoxb-|xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx"),
    (GL, "slack", "clean", "xoxb-|xxx"),
    (GL, "slack", "clean", "xoxb-|12345-abcd234"),
    (GL, "slack", "clean", "xoxb-|xoxb-my-bot-token"),
    (GL, "slack", "clean", '"token1": "xoxp-|1234567890"'),
    (GL, "gitlab", "clean", "glpat-|XXXXXXXXXXX-XXXXXXXX"),
]


def fixtures() -> list[tuple[str, str, str, str]]:
    return [(source, kind, label, text.replace("|", "")) for source, kind, label, text in FIXTURES]


def keel_flags(text: str) -> bool:
    return bool(scan_text(text, Path("fixture.yaml")))


def write_files(directory: Path, items: list[tuple[str, str, str, str]]) -> list[Path]:
    paths = []
    for index, (_, _, _, text) in enumerate(items):
        path = directory / f"fixture{index:03d}.yaml"
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def detect_secrets_flags(executable: str, paths: list[Path]) -> list[bool]:
    done = subprocess.run(
        [executable, "scan", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        cwd=paths[0].parent,
    )
    flagged = set(json.loads(done.stdout)["results"])
    return [p.name in flagged or str(p) in flagged for p in paths]


def gitleaks_flags(executable: str, paths: list[Path]) -> list[bool]:
    report = paths[0].parent / "gitleaks.json"
    subprocess.run(
        [executable, "dir", "--no-banner", "-f", "json", "-r", str(report), str(paths[0].parent)],
        capture_output=True,
        text=True,
    )
    flagged = {Path(item["File"]).name for item in json.loads(report.read_text() or "[]")}
    return [p.name in flagged for p in paths]


def score(items: list[tuple[str, str, str, str]], flags: list[bool]) -> dict[str, object]:
    secrets = [f for item, f in zip(items, flags, strict=True) if item[2] == "secret"]
    clean = [f for item, f in zip(items, flags, strict=True) if item[2] == "clean"]
    missed = [
        item[3][:60] for item, f in zip(items, flags, strict=True) if item[2] == "secret" and not f
    ]
    wrong = [item[3][:60] for item, f in zip(items, flags, strict=True) if item[2] == "clean" and f]
    return {
        "recall": f"{sum(secrets)}/{len(secrets)}",
        "falsePositives": f"{sum(clean)}/{len(clean)}",
        "missed": missed,
        "flaggedClean": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect-secrets", default=shutil.which("detect-secrets"))
    parser.add_argument("--gitleaks", default=shutil.which("gitleaks"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    items = fixtures()
    results: dict[str, object] = {"keel": score(items, [keel_flags(i[3]) for i in items])}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), items)
        for name, executable, run in (
            ("detect-secrets", args.detect_secrets, detect_secrets_flags),
            ("gitleaks", args.gitleaks, gitleaks_flags),
        ):
            results[name] = score(items, run(executable, paths)) if executable else None
    print(f"{len(items)} fixtures from the detect-secrets and gitleaks test suites")
    print(f"{'scanner':<16}{'recall':>10}{'false positives':>18}")
    for name, result in results.items():
        if result is None:
            print(f"{name:<16}{'not installed':>28}")
            continue
        assert isinstance(result, dict)
        print(f"{name:<16}{result['recall']:>10}{result['falsePositives']:>18}")
    for name, result in results.items():
        if isinstance(result, dict):
            for key in ("missed", "flaggedClean"):
                for text in result[key]:
                    print(f"  {name} {key}: {text}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
