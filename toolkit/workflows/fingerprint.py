"""Where a measurement was taken: hardware, library versions, and the environment fingerprint
on which bit-identical outputs depend."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

TOOLS = ("torch", "transformers", "peft", "torchao", "tokenizers", "safetensors")
FINGERPRINT_ENVIRONMENT = ("cpuCapability", "quantizedEngine")


def hardware() -> dict[str, Any]:
    import torch

    return {
        "cpu": _cpu_name(),
        "memoryBytes": _memory_bytes(),
        "threads": int(torch.get_num_threads()),
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
    return tools, env


def fingerprint_of(tools: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """The part of the environment on which bit-identical outputs depend."""
    values = {name: tools.get(name, "absent") for name in TOOLS}
    values.update({key: env.get(key, "unknown") for key in FINGERPRINT_ENVIRONMENT})
    return values
