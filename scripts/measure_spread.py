"""Measure how far the example's metrics move across CPU kernel paths and thread counts.

The example's Requirements and the Quantization's `maxDegradation` must hold on any x86-64
machine of the kind, while a real regression still fails. This script measures the spread
that margin has to cover: in a finished demo repository (`keel demo DIR`, or one whose
measurements were left uncommitted), it evaluates every Evaluation again, in dependency
order, once per kernel path (as the machine is, AVX2, no vector extensions) and thread count
(1, 2), each in a fresh process, and writes the metrics per configuration plus their range
to scripts/spread.json:

    python scripts/measure_spread.py /tmp/keel-demo

The repository's manifests are restored afterwards (`git checkout manifests artifacts`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "scripts" / "spread.json"
KEEL = Path(sys.executable).with_name("keel")

# torch reads ATEN_CPU_CAPABILITY, oneDNN (int8 kernels) DNNL_MAX_CPU_ISA, MKL its own switch.
KERNEL_PATHS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "DNNL_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "default": {
        "ATEN_CPU_CAPABILITY": "default",
        "DNNL_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },
}
THREADS = (1, 2)


def evaluation_refs(root: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.demo.story import evaluation_order

    return evaluation_order(load_graph(root))


def run_configuration(root: Path, refs: list[str], extra: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}
    results: dict[str, Any] = {}
    for ref in refs:
        run = subprocess.run(
            [str(KEEL), "evaluate", ref, "--root", str(root)],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if run.returncode != 0:  # recorded, not hidden: the int8 recipe depends on the path
            results[ref] = {"error": run.stderr.strip()}
            continue
        name = ref.split("/", 1)[1]
        document = yaml.safe_load((root / f"manifests/evaluations/{name}.yaml").read_text())
        spec = document["spec"]
        results[ref] = {
            "metrics": {m["name"]: m["value"] for m in spec["metrics"]},
            "cpuCapability": spec["environment"]["cpuCapability"],
            "outputsDigest": spec["outputs"]["digest"],
        }
    return results


def spread(configurations: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """{evaluation: {metric: [lowest, highest]}} over every configuration."""
    ranges: dict[str, dict[str, list[float]]] = {}
    for results in configurations.values():
        for ref, result in results.items():
            for metric, value in result.get("metrics", {}).items():
                low, high = ranges.setdefault(ref, {}).setdefault(metric, [value, value])
                ranges[ref][metric] = [min(low, value), max(high, value)]
    return ranges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a demo repository with weights in place")
    args = parser.parse_args()
    root = args.root.resolve()
    refs = evaluation_refs(root)
    configurations: dict[str, dict[str, Any]] = {}
    try:
        for path, extra in KERNEL_PATHS.items():
            for threads in THREADS:
                label = f"{path}/{threads}-threads"
                print(f"measuring {label}", flush=True)
                env = {**extra, "OMP_NUM_THREADS": str(threads)}
                configurations[label] = run_configuration(root, refs, env)
    finally:
        subprocess.run(["git", "checkout", "--", "manifests", "artifacts"], cwd=root, check=False)
    report = {"configurations": configurations, "spread": spread(configurations)}
    OUTPUT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for ref, metrics in report["spread"].items():
        for metric, (low, high) in metrics.items():
            print(f"{ref:45} {metric:28} {low:.4f} .. {high:.4f}")


if __name__ == "__main__":
    main()
