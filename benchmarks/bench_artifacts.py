"""Benchmark keel's artifact hashing, `keel track` and `keel verify` against hashlib and DVC.

    /work/venv/bin/python benchmarks/bench_artifacts.py [--size-gib 2] [--repeat 3] [--json PATH]

keel pins weights by sha256 and hands DVC the md5 it read in the same pass, so it should cost
about what its peers cost. In a temporary directory this writes one random F32 safetensors file
of --size-gib GiB, copies it into a `keel init` repository (A, with a valid Model manifest whose
spec.directory holds it) and a plain git + DVC repository (B), warms the page cache, then times:
  1. in-process `toolkit.core.hashing.hash_file` (sha256) vs `hashlib.file_digest` (target >= 0.95x
     its throughput); sha256+md5 in one pass vs two file_digest passes (informational);
  2. `keel track FILE --into Model/bench` vs `dvc add FILE` in fresh repositories, neither tool
     having hashed the file before (target keel <= 1.3x dvc add);
  3. `keel verify` vs `dvc status` on unchanged weights, after one untimed run of each
     (target keel <= 0.4x dvc status);
  4. the same with the weights `touch`ed before every run, so both hash again (keel sha256,
     DVC md5); informational;
  5. `keel pull` (which verifies sha256 and the tensor digest of the bytes it writes, hashing
     while it copies) vs `dvc pull` then `sha256sum`, each from its own local remote, with the
     workspace file and `.dvc/cache` deleted before every run (target keel <= 1.3x).
Whole processes are timed, median of --repeat (step 2 makes fresh repositories every time).
Targets are reported, never asserted; exits non-zero only if a tool reports failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from benchmarks.timing import medians, pair  # noqa: E402
from tests.factories import deployment_set  # noqa: E402
from toolkit.core.hashing import hash_file  # noqa: E402

CHUNK = 64 << 20
WEIGHTS = Path("artifacts/models/bench/model.safetensors")  # in repository A; B has it at its root


def tool(name: str) -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name) or sys.exit(f"no {name} found")


KEEL, DVC = tool("keel"), tool("dvc")


def write_safetensors(path: Path, size_bytes: int, tensors: int = 4) -> int:
    """A safetensors file of random F32 tensors [rows, 1024]; returns its parameter count."""
    rows = max(1, size_bytes // (tensors * 4096))
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    for i in range(tensors):
        entry = {"dtype": "F32", "shape": [rows, 1024]}
        header[f"layer.{i}.weight"] = entry | {
            "data_offsets": [i * rows * 4096, (i + 1) * rows * 4096]
        }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # pad the header to 8 bytes, as safetensors does
    with path.open("wb") as out:
        out.write(len(raw).to_bytes(8, "little") + raw)
        remaining = tensors * rows * 4096
        while remaining:
            remaining -= out.write(os.urandom(min(CHUNK, remaining)))
    return tensors * rows * 1024


def warm(path: Path) -> None:
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


def run_ok(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run one process; exit loudly unless it succeeds. Returns its stdout."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        sys.exit(f"bench: `{' '.join(argv[:3])}` exited {done.returncode}:\n{tail}")
    return done.stdout


def model_manifest(sha256: str, size: int, parameters: int) -> dict[str, Any]:
    manifest = deployment_set()["model"]
    manifest["metadata"]["name"] = "bench"
    manifest["spec"].update(directory=str(WEIGHTS.parent), parameters=parameters)
    manifest["spec"]["files"] = [{"path": WEIGHTS.name, "sha256": sha256, "size": size}]
    return manifest


def make_repos(tmp: Path, source: Path, manifest: dict[str, Any], env: dict[str, str]) -> None:
    """Fresh repository A (keel; manifest validated, no .keel/) and B (git + DVC) in tmp."""
    a, b = tmp / "A", tmp / "B"
    for old in (a, b):
        shutil.rmtree(old, ignore_errors=True)  # one pair on disk at a time
    run_ok([KEEL, "init", str(a)], tmp, env)
    (a / WEIGHTS.parent).mkdir(parents=True, exist_ok=True)
    (a / "manifests/models/bench.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    run_ok(["cp", str(source), str(a / WEIGHTS)], tmp, env)
    run_ok([KEEL, "validate"], a, env)
    shutil.rmtree(a / ".keel", ignore_errors=True)  # no stat cache: keel never hashed the file
    b.mkdir()
    run_ok(["git", "init", "-q"], b, env)
    run_ok([DVC, "init", "-q"], b, env)
    run_ok([DVC, "config", "core.analytics", "false"], b, env)
    run_ok(["cp", str(source), str(b / WEIGHTS.name)], tmp, env)
    warm(a / WEIGHTS)
    warm(b / WEIGHTS.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0, help="size of the weights file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is kept")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--tmp", type=Path, help="where to make the temporary directory")
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (noisy if busy)")

    with tempfile.TemporaryDirectory(prefix="keel-bench-", dir=args.tmp) as name:
        tmp = Path(name)
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1"}
        env.update(XDG_DATA_HOME=f"{tmp}/xdg", DVC_SITE_CACHE_DIR=f"{tmp}/dvc-site")
        source = tmp / "model.safetensors"
        parameters = write_safetensors(source, int(args.size_gib * 2**30))
        size = source.stat().st_size
        warm(source)

        def digest(algorithm: str) -> str:
            with source.open("rb") as handle:
                return hashlib.file_digest(handle, algorithm).hexdigest()

        sha256, both = digest("sha256"), hash_file(source, md5=True)
        if (hash_file(source).sha256, both.sha256, both.md5) != (sha256, sha256, digest("md5")):
            sys.exit("bench: toolkit.core.hashing.hash_file disagrees with hashlib")
        hash_s = medians(lambda: hash_file(source), lambda: digest("sha256"), repeat)
        two_s = medians(
            lambda: hash_file(source, md5=True), lambda: (digest("sha256"), digest("md5")), repeat
        )

        a, b = tmp / "A", tmp / "B"
        track = [KEEL, "track", str(WEIGHTS), "--into", "Model/bench"]
        add = [DVC, "add", "-q", WEIGHTS.name]
        track_runs = []
        for run in range(repeat):
            make_repos(tmp, source, model_manifest(sha256, size, parameters), env)
            track_runs.append(pair(lambda: run_ok(track, a, env), lambda: run_ok(add, b, env), run))
        track_s = (
            statistics.median(r[0] for r in track_runs),
            statistics.median(r[1] for r in track_runs),
        )

        def keel_verify(expect_hashing: bool | None = None) -> None:
            said = re.search(r"([\d.]+) MB hashed", run_ok([KEEL, "verify"], a, env))
            hashed = said is not None and float(said[1]) * 1e6 >= size * 0.99
            if said and expect_hashing is not None and hashed != expect_hashing:
                sys.exit(
                    f"bench: keel verify hashed {said[1]} MB; expected to hash: {expect_hashing}"
                )

        def dvc_status() -> None:
            changes = run_ok([DVC, "status", "--json"], b, env).strip()
            if json.loads(changes or "{}"):
                sys.exit(f"bench: dvc status reports changes on unchanged data: {changes}")

        keel_verify()  # untimed: fills keel's stat cache and plan cache; and DVC's state
        dvc_status()
        warm_s = medians(lambda: keel_verify(False), dvc_status, repeat)

        def keel_touched() -> None:  # the touch takes microseconds
            (a / WEIGHTS).touch()
            keel_verify(True)

        def dvc_touched() -> None:
            (b / WEIGHTS.name).touch()
            dvc_status()

        touched_s = medians(keel_touched, dvc_touched, repeat)

        run_ok([DVC, "remote", "add", "-d", "bench", str(tmp / "remote-b")], b, env)
        run_ok([KEEL, "push"], a, env)
        run_ok([DVC, "push", "-q"], b, env)

        def emptied(root: Path, data: Path) -> None:
            shutil.rmtree(root / ".dvc/cache", ignore_errors=True)
            data.unlink()

        def keel_pull() -> None:
            run_ok([KEEL, "pull"], a, env)

        def dvc_pull() -> None:
            run_ok([DVC, "pull", "-q"], b, env)
            if run_ok(["sha256sum", WEIGHTS.name], b, env).split()[0] != sha256:
                sys.exit("bench: dvc pull gave other bytes")

        pull_runs = []
        for run in range(repeat):
            emptied(a, a / WEIGHTS)
            emptied(b, b / WEIGHTS.name)
            pull_runs.append(pair(keel_pull, dvc_pull, run))
        pull_s = (
            statistics.median(r[0] for r in pull_runs),
            statistics.median(r[1] for r in pull_runs),
        )

    gb = size / 1e9
    rows: list[tuple[str, float, float, str, str]] = [  # measurement, keel, peer, target, peer
        ("sha256 in-process, GB/s", gb / hash_s[0], gb / hash_s[1], ">= 0.95", "file_digest"),
        ("sha256+md5 in-process, GB/s", gb / two_s[0], gb / two_s[1], "info", "2x file_digest"),
        ("keel track vs dvc add, s", *track_s, "<= 1.3", "dvc add"),
        ("keel verify vs dvc status, warm, s", *warm_s, "<= 0.4", "dvc status"),
        ("keel verify vs dvc status, touched, s", *touched_s, "info", "dvc status"),
        ("keel pull vs dvc pull + sha256sum, s", *pull_s, "<= 1.3", "dvc pull+sha256"),
    ]
    print(f"weights {size / 2**30:.2f} GiB, median of {repeat}; ratio = keel / peer")
    print(f"{'measurement':<39}{'keel':>8}{'peer':>8}{'ratio':>7}  {'target':<9}peer")
    for what, mine, peer, target, peer_name in rows:
        print(f"{what:<39}{mine:>8.3f}{peer:>8.3f}{mine / peer:>7.2f}  {target:<9}{peer_name}")
    if args.json:
        keys = ("measurement", "keel", "peer", "target", "peer_name")
        table = [{**dict(zip(keys, row, strict=True)), "ratio": row[1] / row[2]} for row in rows]
        numbers = {"size_bytes": size, "repeat": repeat, "rows": table}
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
