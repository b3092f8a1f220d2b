"""Where a measurement was taken: hardware, library versions, and the environment fingerprint
on which bit-identical outputs depend."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import FINGERPRINT_PACKAGES

if TYPE_CHECKING:
    from toolkit.manifests.evaluation import EvaluationSpec

# the library versions recorded are the ones the ML bridge fingerprints: one list, there
TOOLS = FINGERPRINT_PACKAGES
FINGERPRINT_ENVIRONMENT = ("cpuCapability", "quantizedEngine")
FINGERPRINT_HARDWARE = ("cpu", "threads")
LOCK_FILE = "requirements.lock"


def hardware() -> dict[str, Any]:
    from toolkit.bridges.tensors import thread_count

    return {
        "cpu": _cpu_name(),
        "memoryBytes": _memory_bytes(),
        "threads": thread_count(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def environment() -> tuple[dict[str, str], dict[str, str]]:
    """(tools, environment) as an Evaluation records them."""
    from toolkit.bridges.ml import environment_fingerprint

    fingerprint = environment_fingerprint()
    tools = {"python": platform.python_version()}
    tools.update({name: fingerprint[name] for name in TOOLS if fingerprint[name] != "absent"})
    env = {key: fingerprint[key] for key in FINGERPRINT_ENVIRONMENT}
    env["platform"] = platform.platform()
    digest = lock_digest()
    if digest is not None:
        env["lockDigest"] = digest
    return tools, env


def lock_digest(project_root: Path | None = None) -> str | None:
    """sha256 of the requirements.lock in keel's project root, the directory above the imported
    toolkit package (a source checkout or an editable install); None where there is none (keel
    installed from a wheel). Recorded beside the fingerprint, not part of it."""
    if project_root is None:
        import toolkit

        project_root = Path(toolkit.__file__).resolve().parents[1]
    try:
        data = (project_root / LOCK_FILE).read_bytes()
    except OSError:
        return None
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fingerprint_of(
    tools: dict[str, str], env: dict[str, str], hardware: dict[str, Any]
) -> dict[str, str]:
    """The part of the environment on which bit-identical outputs depend: library versions,
    the kernel path (CPU capability, quantized engine), the CPU model and the thread count.
    Measured (scripts/spread.json): one machine gives other bits with 1 thread than with 2,
    and an Intel and an AMD CPU on the same AVX2 path give other bits too."""
    values = {name: tools.get(name, "absent") for name in TOOLS}
    values.update({key: env.get(key, "unknown") for key in FINGERPRINT_ENVIRONMENT})
    values.update({key: str(hardware.get(key, "unknown")) for key in FINGERPRINT_HARDWARE})
    return values


def current_fingerprint() -> dict[str, str]:
    tools, env = environment()
    return fingerprint_of(tools, env, hardware())


def recorded_fingerprint(spec: EvaluationSpec) -> dict[str, str]:
    return fingerprint_of(spec.tools, spec.environment, spec.hardware.model_dump())


def fingerprint_differences(spec: EvaluationSpec) -> dict[str, str]:
    """{key: "recorded -> here"} for each fingerprint value that differs; empty when the
    outputs must be bit-identical to the record."""
    here, recorded = current_fingerprint(), recorded_fingerprint(spec)
    return {k: f"{recorded[k]} -> {here[k]}" for k in here if here[k] != recorded[k]}
