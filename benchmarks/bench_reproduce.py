"""Benchmark each `keel reproduce` stage against the same steps done by hand with the libraries.

    /work/venv/bin/python benchmarks/bench_reproduce.py [--example minilm|llm] [--repo PATH]
                                                        [--repeat 3] [--json PATH]

Without --repo this builds the example repository in a temporary directory (`demo()` then
`tell_story()`: pin the real MiniLM, train the LoRA, quantize int8, evaluate, push to a local
DVC remote; about a minute, and its SLO gates can fail on a busy machine). With --example llm
it builds the LLM example instead (`keel demo --example llm`'s story: a tiny Llama trained from
scratch, causal LoRA, int8 weight-only; a few minutes), and the bare script loads it with
AutoModelForCausalLM and runs greedy `generate` on the canary prompts as keel does (left
padding, new token ids padded with -1 to maxNewTokens, float32). Then, alternating,
in fresh processes and fresh empty directories, median of --repeat:
  1. keel: `keel reproduce Deployment/semantic-search --workdir W --report R`; per-stage
     seconds from R.json, and the whole process;
  2. bare: one `python -c` script doing what a person would: `git clone`, `dvc pull` (CLI) of
     the .dvc files keel pulls for the deployment, AutoTokenizer + AutoModel (safetensors),
     peft merge_and_unload, torchao quantize_, then the canary forward passes as keel runs
     them (queries then passages, consecutive batches, padding longest, mean pooling, L2);
     each step timed inside with perf_counter (imports included), and the whole process.
keel's validation, sha256 verification, manifest checks and digests have no bare counterpart:
they show as the difference per stage. Overhead = keel process / bare process - 1.
Target (reported, never asserted): < 10%. Both use torch's default thread count, printed.
Exits non-zero only if keel reports a failed stage or the bare outputs differ from the record.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

DEPLOYMENTS = {"minilm": "Deployment/semantic-search", "llm": "Deployment/pydoc-assistant"}
TARGET = 0.10
STAGES = {  # keel stage -> what the bare script does for it
    "validate": "git clone (keel also validates)",
    "pull": "dvc pull CLI (keel: API + sha256 verify)",
    "load": "AutoTokenizer + AutoModel (ForCausalLM)",
    "adapter": "peft merge_and_unload",
    "quantize": "torchao quantize_",
    "canary": "forward passes (greedy generate) + digest",
}
BARE_START = r"""
import hashlib, json, subprocess, sys, time
job = json.loads(sys.argv[1])
seconds, mark = {}, time.perf_counter()
def lap(name):
    global mark
    now = time.perf_counter()
    seconds[name], mark = now - mark, now
clone = job["clone"] + "/"
subprocess.run(["git", "clone", "-q", job["source"], clone], check=True)
lap("validate")
subprocess.run([job["dvc"], "pull", "-q", *job["targets"]], cwd=clone, check=True)
lap("pull")
import torch, transformers
tokenizer = transformers.AutoTokenizer.from_pretrained(clone + job["tokenizer"])
auto = getattr(transformers, job["auto"])
model = auto.from_pretrained(clone + job["model"], use_safetensors=True)
model.eval()
lap("load")
import peft
model = peft.PeftModel.from_pretrained(model, clone + job["adapter"]).merge_and_unload().eval()
lap("adapter")
import torchao.quantization as tq
tq.quantize_(model, getattr(tq, job["config"])(**job["arguments"]))
lap("quantize")
with open(clone + job["canary"], encoding="utf-8") as handle:
    rows = [json.loads(line) for line in handle if line.strip()]
size, length = job["batch"], job["maxLength"]
"""
BARE_EMBED = r"""
def embed(texts):
    parts = []
    for i in range(0, len(texts), size):
        encoded = tokenizer(texts[i : i + size], padding="longest", truncation=True,
                            max_length=length, return_tensors="pt")
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        parts.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float())
    return torch.cat(parts)
with torch.inference_mode():
    outputs = torch.cat([embed([r["query"] for r in rows]), embed([r["passage"] for r in rows])])
"""
BARE_GENERATE = r"""
tokenizer.padding_side = "left"
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
new_tokens, parts = job["maxNewTokens"], []
with torch.inference_mode():
    for i in range(0, len(rows), size):
        encoded = tokenizer([r["prompt"] for r in rows[i : i + size]], padding="longest",
                            truncation=True, max_length=length, return_tensors="pt")
        out = model.generate(**encoded, max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
        new = out[:, encoded["input_ids"].shape[1] :]
        padded = torch.full((new.shape[0], new_tokens), -1.0)
        padded[:, : new.shape[1]] = new.float()
        parts.append(padded)
outputs = torch.cat(parts)
"""
BARE_END = r"""
raw = outputs.contiguous().numpy().astype("<f4", copy=False).tobytes()
digest = "sha256:" + hashlib.sha256(raw).hexdigest()
lap("canary")
print(json.dumps({"seconds": seconds, "digest": digest, "threads": str(torch.get_num_threads())}))
"""
BARE = {
    "minilm": BARE_START + BARE_EMBED + BARE_END,
    "llm": BARE_START + BARE_GENERATE + BARE_END,
}


def tool(name: str) -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name) or sys.exit(f"no {name} found")


KEEL, DVC = tool("keel"), tool("dvc")


def build(tmp: Path, example: str) -> Path:
    """The example repository with the whole story told (in-process; not timed)."""
    from toolkit.core.errors import KeelError
    from toolkit.workflows.demo.demo import demo
    from toolkit.workflows.demo.llm_story import tell_llm_story
    from toolkit.workflows.demo.story import tell_story

    root = tmp / "repo"
    start = time.perf_counter()
    tell = tell_llm_story if example == "llm" else tell_story
    try:
        demo(root, example=example)
        story = tell(root, workdir=tmp / "story-reproduced")
    except KeelError as error:
        sys.exit(f"bench: building the example failed (pass --repo to reuse one): {error}")
    if story.reproduction is None or not story.reproduction.ok:
        sys.exit("bench: the story's own reproduction failed; see its report")
    print(f"built {root} in {time.perf_counter() - start:.1f} s")
    return root


def bare_job(repo: Path, deployment_ref: str) -> dict[str, Any]:
    """What the bare script needs, read from the manifests: the paths and recipe keel uses,
    and the .dvc files keel's pull stage fetches for the deployment."""
    from toolkit.manifests import Dataset, Deployment, Evaluation
    from toolkit.workflows.artifacts.transfer import _plan
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation import pipeline

    graph = load_graph(repo)
    deployment = graph.get_as(deployment_ref, Deployment)
    assert deployment is not None
    evaluation: Evaluation | None = graph.canary_evaluation(deployment)
    assert evaluation is not None
    assert evaluation.spec.protocol is not None
    subject = pipeline.resolve(graph, deployment_ref, merge_adapter=True)
    assert subject.adapter is not None
    assert subject.quantization is not None
    dataset = graph.get_as(evaluation.spec.dataset, Dataset)
    assert dataset is not None
    assert len(dataset.spec.files) == 1
    recipe = subject.quantization.spec.recipe
    _, targets = _plan(repo, [deployment_ref])
    generation = evaluation.spec.protocol.task == "generation"
    return {
        "auto": "AutoModelForCausalLM" if generation else "AutoModel",
        "maxNewTokens": evaluation.spec.protocol.max_new_tokens,
        "source": str(repo),
        "dvc": DVC,
        "targets": [str(t.relative_to(repo)) for t in targets],
        "tokenizer": subject.tokenizer.spec.directory,
        "model": subject.model.spec.directory,
        "adapter": subject.adapter.spec.directory,
        "config": recipe.config,
        "arguments": recipe.arguments,
        "canary": f"{dataset.spec.directory}/{dataset.spec.files[0].path}",
        "batch": evaluation.spec.protocol.batch_size,
        "maxLength": evaluation.spec.protocol.max_length,
        "recorded": evaluation.spec.outputs.digest,
    }


def run(
    argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, str]:
    """Seconds the whole process took, and its stdout; exits loudly unless its exit code is
    in `ok`."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        sys.exit(f"bench: `{' '.join(argv[:3])}` exited {done.returncode}:\n{tail}")
    return seconds, done.stdout


def keel_run(repo: Path, deployment: str, scratch: Path, env: dict[str, str]) -> dict[str, Any]:
    report = scratch / "r.md"
    argv = [KEEL, "reproduce", deployment, "--workdir", str(scratch / "w"), "--report", str(report)]
    process, _ = run(argv, repo, env, ok=(0, 1))  # 1: a stage failed; the report says which
    data = json.loads(report.with_suffix(".json").read_text())
    stages = {s["name"]: s for s in data["stages"]}
    canary, load = stages["canary"]["details"], stages["load"]["details"]
    return {
        "process": process,
        "stages": {name: s["seconds"] for name, s in stages.items() if s["status"] != "skipped"},
        "failed": [
            f"{s['name']}: {s['summary']}" for s in data["stages"] if s["status"] == "failed"
        ],
        "digest": canary.get("outputsDigest"),
        "outcome": canary.get("outcome"),
        "threads": str(load.get("versions", {}).get("torchThreads")),
    }


def bare_run(
    job: dict[str, Any], script: str, scratch: Path, env: dict[str, str]
) -> dict[str, Any]:
    scratch.mkdir(parents=True)
    argv = [sys.executable, "-c", script, json.dumps(job | {"clone": str(scratch / "w")})]
    process, stdout = run(argv, scratch, env)
    found = json.loads(stdout.strip().splitlines()[-1])
    return {"process": process, **found, "stages": found["seconds"]}


def median_of(runs: list[dict[str, Any]], stage: str) -> float | None:
    values = [r["stages"][stage] for r in runs if stage in r["stages"]]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", choices=sorted(DEPLOYMENTS), default="minilm")
    parser.add_argument("--repo", type=Path, help="reuse a repository made by `keel demo` + story")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is kept")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--tmp", type=Path, help="where to make the temporary directory")
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    deployment = DEPLOYMENTS[args.example]
    print(f"{deployment} (--example {args.example})")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (noisy if busy)")

    with tempfile.TemporaryDirectory(prefix="keel-bench-", dir=args.tmp) as name:
        tmp = Path(name)
        os.environ.update(HF_HUB_OFFLINE="1", DVC_NO_ANALYTICS="1")
        os.environ.update(DVC_SITE_CACHE_DIR=f"{tmp}/dvc-site")
        if args.repo is None:
            os.environ["XDG_DATA_HOME"] = f"{tmp}/xdg"  # the DVC remote, removed afterwards
        env = dict(os.environ)
        repo = args.repo.resolve() if args.repo else build(tmp, args.example)
        job = bare_job(repo, deployment)
        keel_runs, bare_runs = [], []
        for number in range(repeat):  # alternating, so drifting load hits both alike
            keel_runs.append(keel_run(repo, deployment, tmp / f"keel-{number}", env))
            bare_runs.append(bare_run(job, BARE[args.example], tmp / f"bare-{number}", env))
            for old in (tmp / f"keel-{number}", tmp / f"bare-{number}"):
                shutil.rmtree(old)

    keel_s = statistics.median(r["process"] for r in keel_runs)
    bare_s = statistics.median(r["process"] for r in bare_runs)
    overhead = keel_s / bare_s - 1
    threads = {r["threads"] for r in bare_runs}, {r["threads"] for r in keel_runs}
    print(f"{len(job['targets'])} .dvc targets pulled by both; median of {repeat}")
    print(f"torch threads: bare {sorted(threads[0])}, keel {sorted(threads[1])} (defaults)")
    print(f"{'stage':<10}{'keel s':>8}{'bare s':>8}{'keel-bare':>10}  bare step")
    rows: list[dict[str, Any]] = []
    for stage, what in STAGES.items():
        mine, bare = median_of(keel_runs, stage), median_of(bare_runs, stage)
        rows.append({"stage": stage, "keel": mine, "bare": bare, "bareStep": what})
        if mine is None or bare is None:
            print(f"{stage:<10}{'-':>8}{'-':>8}{'':>10}  not run")
            continue
        print(f"{stage:<10}{mine:>8.2f}{bare:>8.2f}{mine - bare:>+10.2f}  {what}")
    keel_sum = sum(r["keel"] or 0 for r in rows)
    bare_sum = sum(r["bare"] or 0 for r in rows)
    print(f"{'stages':<10}{keel_sum:>8.2f}{bare_sum:>8.2f}{keel_sum - bare_sum:>+10.2f}  sum")
    print(f"{'process':<10}{keel_s:>8.2f}{bare_s:>8.2f}{keel_s - bare_s:>+10.2f}  whole process")
    print(f"overhead keel/bare - 1 = {overhead:+.1%}  target < {TARGET:.0%}")
    failed = [line for r in keel_runs for line in r["failed"]]
    digests = {r["digest"] for r in keel_runs} | {r["digest"] for r in bare_runs}
    outcomes = sorted({str(r["outcome"]) for r in keel_runs})
    same = digests == {job["recorded"]}
    print(f"canary: keel {', '.join(outcomes)}; keel, bare and record identical: {same}")
    for line in failed:
        print(f"keel failed stage {line}")
    if args.json:
        numbers = {
            "example": args.example,
            "deployment": deployment,
            "repeat": repeat,
            "targets": job["targets"],
            "torchThreads": {"bare": sorted(threads[0]), "keel": sorted(threads[1])},
            "stages": rows,
            "keelProcess": keel_s,
            "bareProcess": bare_s,
            "overhead": overhead,
            "target": TARGET,
            "digestsIdentical": same,
            "keelFailed": failed,
            "runs": {"keel": keel_runs, "bare": bare_runs},
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 1 if failed or not same else 0


if __name__ == "__main__":
    sys.exit(main())
