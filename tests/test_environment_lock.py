"""The environment matches requirements.lock, and Evaluations record which lock they ran on.

scripts/bootstrap.sh installs exactly the locked versions into .venv; these tests run there
and fail, naming the packages, when a version drifts from the lock (a hand-run `pip install -U`,
or a lock regenerated without re-running the bootstrap)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from toolkit.manifests.evaluation import EvaluationSpec
from toolkit.workflows.evaluation import fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# A requirement line of the lock: `name==version`, then ` \` before its hashes, or a marker.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalise(name: str) -> str:
    """PEP 503: lower case, runs of -, _ and . become one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(text: str) -> dict[str, str]:
    """{normalised name: version} of every pin in a pip-compile lock."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)  # the local label counts: 2.13.0+cpu is not 2.13.0
    except InvalidVersion:
        return a == b


def drift(pins: dict[str, str], version_of: Callable[[str], str | None]) -> list[str]:
    """One line for every locked package that is missing or at another version."""
    problems = []
    for name, locked in sorted(pins.items()):
        installed = version_of(name)
        if installed is None:
            problems.append(f"{name}: locked {locked}, not installed")
        elif not same_version(installed, locked):
            problems.append(f"{name}: locked {locked}, installed {installed}")
    return problems


def test_lock_pins_the_cpu_torch_and_the_measured_transformers() -> None:
    pins = locked_versions(LOCK.read_text())
    assert pins["torch"] == "2.13.0+cpu"
    assert pins["transformers"] == "5.23.0"
    assert not [name for name in pins if name.startswith("nvidia-")]
    assert len(pins) > 100  # the core, ml and dev closure, not a handful of lines


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    problems = drift(locked_versions(LOCK.read_text()), installed_version)
    assert not problems, (
        f"{len(problems)} packages differ from requirements.lock "
        "(run `bash scripts/bootstrap.sh`):\n" + "\n".join(problems)
    )


def test_drift_names_each_package_that_differs() -> None:
    lock = (
        "--find-links /opt/wheels\n\n"
        "torch==2.13.0+cpu \\\n    --hash=sha256:00\n    # via -r requirements.in\n"
        "Ruamel.Yaml==0.19.1 \\\n    --hash=sha256:11\n"
        'tomli==2.0.1 ; python_version < "3.11"\n'
        "pip==26.3 \\\n    --hash=sha256:22\n"
    )
    pins = locked_versions(lock)
    assert pins == {"torch": "2.13.0+cpu", "ruamel-yaml": "0.19.1", "tomli": "2.0.1", "pip": "26.3"}
    installed = {"torch": "2.13.0", "ruamel-yaml": "0.19.1", "pip": "26.3"}
    assert drift(pins, installed.get) == [
        "tomli: locked 2.0.1, not installed",
        "torch: locked 2.13.0+cpu, installed 2.13.0",
    ]


def test_lock_digest_is_the_sha256_of_the_lock_beside_the_toolkit_package() -> None:
    expected = "sha256:" + hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert fingerprint.lock_digest(ROOT) == expected
    assert fingerprint.lock_digest() == expected  # keel runs from this checkout (editable)


def test_no_lock_no_digest(tmp_path: Path) -> None:
    assert fingerprint.lock_digest(tmp_path) is None


def test_environment_records_the_lock_digest_outside_the_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolkit.bridges import ml

    measured = {name: "1.0" for name in fingerprint.TOOLS}
    measured.update(cpuCapability="AVX2", quantizedEngine="x86", torchThreads="2")
    monkeypatch.setattr(ml, "environment_fingerprint", lambda: measured)
    monkeypatch.setattr(fingerprint, "lock_digest", lambda: "sha256:" + "ab" * 32)
    tools, env = fingerprint.environment()
    assert env["lockDigest"] == "sha256:" + "ab" * 32
    hardware = {"cpu": "Some CPU", "threads": 2}
    assert "lockDigest" not in fingerprint.fingerprint_of(tools, env, hardware)
    assert fingerprint.fingerprint_of(tools, env, hardware) == fingerprint.fingerprint_of(
        tools, {k: v for k, v in env.items() if k != "lockDigest"}, hardware
    )

    monkeypatch.setattr(fingerprint, "lock_digest", lambda: None)
    assert "lockDigest" not in fingerprint.environment()[1]


def test_an_evaluation_accepts_the_lock_digest_in_its_environment() -> None:
    spec = EvaluationSpec.model_validate(
        {
            "subject": "Model/all-minilm-l6-v2",
            "dataset": "Dataset/search-canary",
            "metrics": [{"name": "recall_at_1", "value": 0.9}],
            "hardware": {"cpu": "x86_64", "threads": 2},
            "date": "2026-01-01",
            "tools": {"torch": "2.13.0+cpu", "transformers": "5.23.0"},
            "environment": {
                "cpuCapability": "AVX2",
                "quantizedEngine": "x86",
                "platform": "Linux",
                "lockDigest": "sha256:" + "ab" * 32,
            },
            "outputs": {"digest": "sha256:" + "cd" * 32},
        }
    )
    assert spec.environment["lockDigest"] == "sha256:" + "ab" * 32
