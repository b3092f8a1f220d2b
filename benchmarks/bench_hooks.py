"""Benchmark keel's pre-commit hooks against their peers' hooks, through the real pre-commit.

    /work/venv/bin/python benchmarks/bench_hooks.py [--count 500] [--count-large 1000]
        [--size-gib 2] [--repeat 3] [--json PATH] [--profile]

In a temporary directory (removed after), holding pre-commit's, DVC's and keel's homes too:
1. COUNT valid manifests (bench_validate.generate) staged in a `keel init` repository: hook
   keel-validate (as keel-validate-system) vs check-jsonschema (a local hook per kind, with its
   --schemafile, all aliased `check-jsonschema`) vs a no-op hook (pre-commit's own cost); keel
   cold (.keel/ removed: new files) and warm. Target: keel >= 5x faster, cold.
2. The issue's commit: 10 of COUNT_LARGE committed manifests edited (touched before each keel
   run, so no cache holds them), staged; the same hooks (informational).
3. --size-gib GiB of weights `keel track`ed into Model/bench, committed and verified; the Model
   manifest edited and staged: keel-checksums vs a `dvc status` hook, both warm (no target).
Each hook runs once untimed (pre-commit's setup), then median of --repeat, alternating. Targets
are reported, never asserted; exits non-zero only if a hook or a tool fails. With --profile or
a missed 5x: cProfile of the in-process validate, process start and import times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_validate, bench_artifacts

from bench_artifacts import WEIGHTS, medians, model_manifest, warm, write_safetensors
from bench_validate import Manifests, generate

from toolkit.core.hashing import hash_file
from toolkit.core.layout import KIND_DIRECTORIES
from toolkit.core.schemas import schema_filename
from toolkit.workflows.validation.validate import validate

if TYPE_CHECKING:
    from collections.abc import Callable

BIN = Path(sys.executable).parent
FILES = r"^manifests/.*\.(ya?ml|json)$"
CHECKSUM_FILES = r"(^manifests/.*\.(ya?ml|json)|\.dvc)$"
SERIAL = {"require_serial": True}
# `keel ARGS` in-process, counting the manifest files it opens (Python's "open" audit event).
READS = """import atexit, os, sys
tree, seen = os.path.abspath("manifests") + os.sep, set()
def audit(event, args):
    if event == "open" and not isinstance(args[0], int):
        seen.add(os.path.abspath(os.fsdecode(args[0])))
sys.addaudithook(audit)
atexit.register(lambda: print(sum(p.startswith(tree) for p in seen), "manifests opened"))
sys.argv = ["keel", *sys.argv[1:]]
from toolkit.cli import run; run()
"""


def run_ok(argv: list[str], cwd: Path, env: dict[str, str], stderr: bool = False) -> str:
    """Run one process; exit loudly unless it succeeds. Returns its stdout (and stderr)."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        sys.exit(f"bench: `{' '.join(argv[:4])}` exited {done.returncode}:\n{tail}")
    return done.stdout + (done.stderr if stderr else "")


def hook(env: dict[str, str], root: Path, hook_id: str, passes: int = 1) -> None:
    """`pre-commit run HOOK` on the staged files: exactly `passes` hooks must run and pass."""
    out = run_ok(["pre-commit", "run", hook_id], root, env)
    if out.count("Passed") != passes or "Failed" in out:
        sys.exit(f"bench: pre-commit run {hook_id}: expected {passes} passed hooks:\n{out}")


Hook = tuple[str, str, str, dict[str, Any]]  # id, entry, files, more keys


def configure(root: Path, env: dict[str, str], hooks: list[Hook]) -> None:
    """Write and stage a .pre-commit-config.yaml of local system hooks (id, entry, files, more)."""
    listed = [
        {"id": i, "name": i, "entry": entry, "language": "system", "files": files, **more}
        for i, entry, files, more in hooks
    ]
    config = yaml.safe_dump({"repos": [{"repo": "local", "hooks": listed}]}, sort_keys=False)
    (root / ".pre-commit-config.yaml").write_text(config)
    run_ok(["git", "add", "-A"], root, env)


def manifest_repo(root: Path, manifests: Manifests, env: dict[str, str]) -> list[Path]:
    """A `keel init` repository with `manifests` in their kinds' folders, all staged."""
    run_ok(["keel", "init", str(root)], root.parent, env)
    run_ok(["keel", "schema", "export", "--dir", "schemas"], root, env)
    paths = []
    for stem, data in manifests.items():
        paths.append(root / "manifests" / KIND_DIRECTORIES[data["kind"]] / f"{stem}.yaml")
        paths[-1].write_text(yaml.safe_dump(data, sort_keys=False))
    hooks: list[Hook] = [("keel-validate", "keel validate --neighbours", FILES, SERIAL)]
    for kind in sorted({data["kind"] for data in manifests.values()}):
        entry, folder = f"schemas/{schema_filename(kind)}", KIND_DIRECTORIES[kind]
        files, alias = rf"^manifests/{folder}/.*\.(ya?ml|json)$", {"alias": "check-jsonschema"}
        hooks.append((f"cjs-{folder}", f"check-jsonschema --schemafile {entry}", files, alias))
    configure(root, env, [*hooks, ("noop", "true", FILES, {})])
    return paths


def checksum_repo(root: Path, size_gib: float, env: dict[str, str]) -> Path:
    """A committed `keel init` repository with tracked weights, warm; returns the Model manifest."""
    run_ok(["keel", "init", str(root)], root.parent, env)
    (root / WEIGHTS.parent).mkdir(parents=True)
    parameters = write_safetensors(root / WEIGHTS, int(size_gib * 2**30))
    size, sha256 = (root / WEIGHTS).stat().st_size, hash_file(root / WEIGHTS).sha256
    manifest = root / "manifests/models/bench.yaml"
    manifest.write_text(yaml.safe_dump(model_manifest(sha256, size, parameters), sort_keys=False))
    run_ok(["keel", "track", str(WEIGHTS), "--into", "Model/bench"], root, env)
    keel: Hook = ("keel-checksums", "keel verify --skip-missing", CHECKSUM_FILES, SERIAL)
    dvc: Hook = ("dvc-status", "dvc status", CHECKSUM_FILES, {"pass_filenames": False})
    configure(root, env, [keel, dvc])
    run_ok(["git", "commit", "-q", "--no-verify", "-m", "tracked weights"], root, env)
    if str(WEIGHTS) in run_ok(["git", "ls-files"], root, env).splitlines():
        sys.exit("bench: git tracks the weights themselves; DVC should")
    run_ok(["keel", "verify"], root, env)  # warm: keel's stat cache; DVC's state next
    if "changed" in run_ok(["dvc", "status"], root, env):
        sys.exit("bench: dvc status reports changes on freshly tracked weights")
    warm(root / WEIGHTS)
    return manifest


def edit_description(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    data["metadata"]["description"] += " Edited."
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def profile(root: Path, staged: list[Path], env: dict[str, str]) -> str:
    """cProfile of a cold validate(neighbours=True) on the staged files; process start costs."""
    validate(root, staged, neighbours=True)  # lazy imports
    shutil.rmtree(root / ".keel", ignore_errors=True)
    profiler = cProfile.Profile()
    profiler.runcall(validate, root, staged, neighbours=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(20)
    python, module = str(BIN / "python"), "import toolkit.workflows.validation.validate"
    out.write("process start, median of 5 (.keel/ kept):\n")
    for argv in ([python, "-c", "pass"], [python, "-c", module], ["keel", "--help"]):
        seconds = medians(partial(run_ok, argv, root, env), lambda: None, 5)[0]
        out.write(f"  {' '.join(argv[1:]):<40}{seconds:7.3f} s\n")
    argv = [python, "-X", "importtime", "-c", module]
    lines = run_ok(argv, root, env, stderr=True).splitlines()
    found = [re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line) for line in lines]
    out.write("-X importtime of toolkit.workflows.validation.validate, top 12 by cumulative:\n")
    for m in sorted((m for m in found if m), key=lambda m: -int(m[2]))[:12]:
        out.write(f"  {int(m[2]) / 1000:8.1f} ms (self {int(m[1]) / 1000:5.1f}) {m[3]}\n")
    return out.getvalue()


def environment(tmp: Path) -> dict[str, str]:
    """Every tool's home inside `tmp`; the venv's tools first on PATH; a git identity."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1"}
    env |= {"XDG_DATA_HOME": f"{tmp}/xdg-data", "XDG_CACHE_HOME": f"{tmp}/xdg-cache"}
    env |= {"PRE_COMMIT_HOME": f"{tmp}/pre-commit", "DVC_SITE_CACHE_DIR": f"{tmp}/dvc-site"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for who in ("AUTHOR", "COMMITTER"):
        env |= {f"GIT_{who}_NAME": "bench", f"GIT_{who}_EMAIL": "bench@example.com"}
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="staged manifests, step 1")
    parser.add_argument("--count-large", type=int, default=1000, help="repository, step 2")
    parser.add_argument("--size-gib", type=float, default=2.0, help="tracked weights, step 3")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; median kept")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--profile", action="store_true", help="profile even when on target")
    args = parser.parse_args()
    n = max(1, args.repeat)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (noisy if busy)")

    with tempfile.TemporaryDirectory(prefix="keel-bench-hooks-") as name:
        tmp = Path(name)
        env = environment(tmp)

        def hooks(root: Path, kinds: int, before: Callable[[], object]) -> list[float]:
            """Seconds of keel-validate (`before` each), check-jsonschema, keel warm, no-op."""
            keel, cjs = partial(hook, env, root, "keel-validate"), "check-jsonschema"
            runs: list[Callable[[], object]] = [lambda: [before(), keel()]]
            runs += [partial(hook, env, root, cjs, kinds)]
            runs += [keel, partial(hook, env, root, "noop")]
            for run in runs:
                run()  # untimed: pre-commit's first-run setup; page cache
            return [*medians(runs[0], runs[1], n), *medians(runs[2], runs[3], n)]

        manifests = generate(args.count)
        kinds = len({data["kind"] for data in manifests.values()})
        small = tmp / "staged"
        staged = manifest_repo(small, manifests, env)
        cold, cjs, warm_s, noop = hooks(small, kinds, partial(shutil.rmtree, small / ".keel", True))
        notes = profile(small, staged, env) if args.profile or cjs < 5 * cold else ""

        large = tmp / "large"
        paths = manifest_repo(large, generate(args.count_large), env)
        run_ok(["git", "commit", "-q", "--no-verify", "-m", "manifests"], large, env)
        edited = paths[:: max(1, len(paths) // 10)][:10]
        for path in edited:
            edit_description(path)
        run_ok(["git", "add", "-A"], large, env)

        def touch() -> None:  # new mtimes: as if just edited, so no cache holds them
            for path in edited:
                os.utime(path)

        inc = hooks(large, len({p.parent for p in edited}), touch)
        argv = ["validate", "--neighbours", *map(str, edited)]
        report = json.loads(run_ok(["keel", *argv, "--format", "json"], large, env))
        touch()
        said = run_ok([str(BIN / "python"), "-c", READS, *argv], large, env)
        opened = int(re.findall(r"(\d+) manifests opened", said)[-1])

        weights = tmp / "weights"
        manifest = checksum_repo(weights, args.size_gib, env)
        edit_description(manifest)
        run_ok(["git", "add", "-A"], weights, env)
        keel_sums, dvc_sums = (
            partial(hook, env, weights, i) for i in ("keel-checksums", "dvc-status")
        )
        keel_sums(), dvc_sums()  # untimed
        sums_s = medians(keel_sums, dvc_sums, n)
        said = run_ok(["keel", "verify", "--skip-missing", str(manifest)], weights, env)
        hashed = (re.findall(r"([\d.]+) MB hashed", said) or ["?"])[-1]

    cjs_name, large_n = "check-jsonschema", args.count_large
    rows = [  # measurement, keel s, peer s, target, peer
        (f"keel-validate, {args.count} staged, cold", cold, cjs, ">= 5", cjs_name),
        (f"keel-validate, {args.count} staged, warm", warm_s, cjs, "info", cjs_name),
        (f"  cold, net of no-op hook {noop:.3f} s", cold - noop, cjs - noop, "info", cjs_name),
        (f"keel-validate, 10 of {large_n} staged", inc[0], inc[1], "info", cjs_name),
        (f"keel-checksums, {args.size_gib:g} GiB, warm", *sums_s, "none", "dvc status hook"),
    ]
    print(f"median of {n} `pre-commit run` processes, seconds; ratio = peer/keel for")
    print("keel-validate (higher: keel faster), keel/peer for keel-checksums (lower: keel faster)")
    print(f"{'measurement':<38}{'keel':>7}{'peer':>7}{'ratio':>7}  {'target':<7}peer")
    table = []
    for what, mine, peer, target, peer_name in rows:
        ratio = mine / peer if what.startswith("keel-checksums") else peer / mine
        print(f"{what:<38}{mine:>7.3f}{peer:>7.3f}{ratio:>6.2f}x  {target:<7}{peer_name}")
        table.append(dict(measurement=what, keel=mine, peer=peer, ratio=ratio, target=target))
    reread = "unchanged ones ARE re-read" if opened > len(edited) else "no unchanged one re-read"
    print(f"""
no-op hook (pre-commit's own cost): {noop:.3f} s on {args.count} files, {inc[3]:.3f} s on 10
check-jsonschema ran as {kinds} hooks (one process per kind); keel-validate as 1 process that also
  checks references, unique names and gates. cold: .keel/ removed before each keel run
10 of {large_n}: keel reported on {report["manifests"]} manifests (the 10 and their neighbours);
  its process opened {opened} of {large_n} manifest files: {reread}
keel-checksums: `keel verify --skip-missing` on the staged manifest hashed {hashed} MB of the
  {args.size_gib:g} GiB (0: unchanged weights cost a stat); dvc status checks the whole repo""")
    print(notes, end="")
    if args.json:
        numbers = {"repeat": n, "noop_s": noop, "opened": opened, "hashed_mb": hashed}
        args.json.write_text(json.dumps(numbers | {"rows": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
