"""Benchmark `keel validate` against check-jsonschema on the same valid manifests.

    /work/venv/bin/python benchmarks/bench_validate.py [--count 1000] [--repeat 3] [--json PATH]

It writes COUNT valid manifests (copies of the complete deployment in tests/factories.py, renamed
so every `Kind/name` reference still resolves) into a temporary keel repository, exports their
JSON Schemas with `keel schema export`, then times whole processes (median of --repeat runs):
`keel validate` on the tree, check-jsonschema once per kind (summed), and `keel --help`; and
`toolkit.workflows.validation.validate.validate` in-process. Targets (reported, never asserted):
keel >= 5x faster than check-jsonschema while checking more (parse, schema, references,
gates); check-jsonschema needs about 4 ms/file here; `keel --help` < 0.15 s. Exits non-zero only
if a tool reports the manifests invalid. --profile adds the in-process cProfile top 25 (cumtime).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from benchmarks.timing import median_seconds, medians  # noqa: E402
from tests.factories import deployment_set, write_set  # noqa: E402
from toolkit.core.schemas import schema_filename  # noqa: E402
from toolkit.workflows.validation.validate import validate  # noqa: E402

Manifests = dict[str, dict[str, Any]]


def tool(name: str) -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name) or sys.exit(f"no {name} found")


def renamed(manifests: Manifests, suffix: str) -> Manifests:
    """A copy with every metadata.name and every `Kind/name` reference given `suffix`."""
    refs = {f"{m['kind']}/{m['metadata']['name']}" for m in manifests.values()}

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rename(item) for item in value]
        return value + suffix if isinstance(value, str) and value in refs else value

    copies = {stem + suffix: rename(data) for stem, data in manifests.items()}
    for data in copies.values():
        data["metadata"]["name"] += suffix
    return copies


def generate(count: int) -> Manifests:
    """`count` valid manifests: whole renamed sets, topped up with copies of reference-free ones."""
    base = deployment_set()
    refs = {f"{m['kind']}/{m['metadata']['name']}" for m in base.values()}
    # Manifests whose spec mentions no `Kind/name` stand alone, so any number of copies is valid.
    leaves = [s for s, data in base.items() if not any(r in json.dumps(data["spec"]) for r in refs)]
    manifests: Manifests = {}
    for index in range(count // len(base)):
        manifests.update(renamed(base, f"-{index:04d}"))
    for index in range(count - len(manifests)):
        stem = leaves[index % len(leaves)]
        manifests.update(renamed({stem: base[stem]}, f"-x{index:04d}"))
    return manifests


def run_ok(argv: list[str], cwd: Path, what: str) -> str:
    """Run one process; exit loudly unless it succeeds. Returns its stdout."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        sys.exit(f"bench: {what} exited {done.returncode} on valid input:\n{tail}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="manifest files to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is kept")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    args = parser.parse_args()
    keel, check_jsonschema = tool("keel"), tool("check-jsonschema")

    with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
        root = Path(tmp)
        manifests = generate(args.count)
        directory = write_set(root, manifests)
        run_ok([keel, "schema", "export", "--dir", f"{tmp}/schemas"], root, "keel schema export")
        by_kind: dict[str, list[str]] = defaultdict(list)
        for stem, data in manifests.items():
            by_kind[data["kind"]].append(str(directory / f"{stem}.yaml"))

        def keel_validate() -> None:
            # Judge the JSON report too, not only the exit status (which is not enough on its own).
            argv = [keel, "validate", "--root", tmp, "--format", "json"]
            report = json.loads(run_ok(argv, root, "keel validate"))
            if not report["valid"] or report["findings"] or report["files"] != len(manifests):
                sys.exit(f"bench: keel validate: {report['files']} files, {report['findings'][:5]}")

        def check_all_kinds() -> None:
            for kind, files in by_kind.items():
                schema = root / "schemas" / schema_filename(kind)
                argv = [check_jsonschema, "--schemafile", str(schema), *files]
                run_ok(argv, root, f"check-jsonschema {kind}")

        keel_s, cjs_s = medians(keel_validate, check_all_kinds, args.repeat)
        help_s = median_seconds(lambda: run_ok([keel, "--help"], root, "keel --help"), 5)
        result = validate(root)  # warm-up: lazy imports, and proof the tree is valid in-process too
        if not result.ok or result.files != len(manifests):
            sys.exit(f"bench: in-process validate: {result.files} files, {result.findings[:5]}")
        inproc_s = median_seconds(lambda: validate(root), args.repeat)
        profile = io.StringIO()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(validate, root)
            pstats.Stats(profiler, stream=profile).sort_stats("cumulative").print_stats(25)

    files = len(manifests)
    rows = [
        ("keel validate (1 process)", files, keel_s),
        (f"check-jsonschema ({len(by_kind)} processes)", files, cjs_s),
        ("keel validate (in-process)", files, inproc_s),
        ("keel --help", 0, help_s),
    ]
    print(f"{'tool':<34}{'files':>7}{'seconds':>10}{'ms/file':>10}")
    for name, count, seconds in rows:
        per_file = f"{seconds / count * 1000:.2f}" if count else "-"
        print(f"{name:<34}{count or '-':>7}{seconds:>10.3f}{per_file:>10}")
    ratio = cjs_s / keel_s
    print(f"\ncheck-jsonschema / keel validate: {ratio:.1f}x (target >= 5x)")
    print(f"keel --help: {help_s:.3f} s (target < 0.15 s)")
    print(profile.getvalue(), end="")
    if args.json:
        numbers = {
            "files": files,
            "repeat": args.repeat,
            "keel_validate_s": keel_s,
            "check_jsonschema_s": cjs_s,
            "keel_inprocess_s": inproc_s,
            "keel_inprocess_ms_per_file": inproc_s / files * 1000,
            "keel_help_s": help_s,
            "ratio": ratio,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
