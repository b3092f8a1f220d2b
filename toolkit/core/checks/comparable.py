"""Whether a latency measurement can be held against a latency ceiling.

Latency depends on the machine: a ceiling set for the serving hardware says nothing about a
laptop, and a number taken while the machine was busy says more about the machine than about
the model. So a measurement is comparable only when the hardware it was taken on is the
hardware the ceiling names (`Requirements.spec.latency.hardware`: device, CPU kernel path,
cores, accelerator; each one given must match), and the machine was not busy (its 1-minute
load average, recorded with the latency, at most the threads the measurement ran on).
Correctness is compared everywhere; only timing gets this treatment: the latency ceilings of the
Requirements (`requirements.py`) and the generation SLOs of a Deployment (`slos.py`: time to
first token, output tokens per second and the cost per 1k tokens derived from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.manifests import Evaluation
    from toolkit.manifests.requirements import LatencyHardware


def latency_not_comparable(evaluation: Evaluation, hardware: LatencyHardware | None) -> str | None:
    """Why `evaluation`'s latency cannot be held against ceilings for `hardware`, or None."""
    spec = evaluation.spec
    if hardware is not None:
        measured = {
            "device": "cuda" if spec.hardware.accelerator else "cpu",
            "cpuCapability": spec.environment.get("cpuCapability"),
            "cores": spec.hardware.threads,
            "accelerator": spec.hardware.accelerator,
        }
        wanted = {
            "device": hardware.device,
            "cpuCapability": hardware.cpu_capability,
            "cores": hardware.cores,
            "accelerator": hardware.accelerator,
        }
        differ = [k for k, v in wanted.items() if v is not None and measured[k] != v]
        if differ:
            was = ", ".join(f"{k} {measured[k]}" for k in differ)
            needs = ", ".join(f"{k} {wanted[k]}" for k in differ)
            return f"measured on {was}; the ceilings apply to {needs}"
    load = spec.latency.load_average if spec.latency else None
    threads = spec.hardware.threads
    if load is not None and threads is not None and load > threads:
        return f"measured on a busy machine (load average {load} on {threads} threads)"
    return None
