"""From a subject reference to a loaded, checked model: the steps evaluate and reproduce share.

A subject is what an Evaluation measures: a Model (with its Tokenizer), an Adapter on its
base, a Quantization of a (possibly adapted) Model, or a whole Deployment. Every step checks
what it loaded against the manifests and returns the differences as `Mismatch`es naming the
manifest field, so that reproduce can report them stage by stage and evaluate can refuse. Each
`Mismatch.finding(graph)` is the difference as a `Finding` (on the manifest's line when the
graph holds it); a `PipelineError` carries them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import KeelError, UsageError
from toolkit.core.findings import Finding, location_of
from toolkit.manifests import Adapter, Deployment, Model, Quantization, Tokenizer

if TYPE_CHECKING:
    from pathlib import Path

    from toolkit.bridges.heads import Classifier, Generator
    from toolkit.bridges.ml import Encoder
    from toolkit.core.repository import Graph

    Runner = Encoder | Classifier | Generator

SUBJECT_KINDS = ("Model", "Adapter", "Quantization", "Deployment")
# transformers' model_max_length when tokenizer_config.json sets none (int(1e30))
UNSET_MAX_LENGTH = 10**29
CHECK = "pipeline"


class PipelineError(KeelError):
    """What was loaded does not match its manifest; `findings` holds every difference."""

    exit_code = 1

    def __init__(self, message: str, findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True)
class Mismatch:
    """One difference between a manifest and what was loaded."""

    ref: str
    field: str
    message: str

    def render(self) -> str:
        return f"{self.ref} {self.field}: {self.message}"

    def finding(self, graph: Graph | None = None) -> Finding:
        """The difference as a finding: on the manifest's line for the field when `graph`
        holds the manifest, else with no file."""
        manifest = graph.get(self.ref) if graph is not None else None
        if graph is not None and manifest is not None:
            return graph.finding(manifest, location_of(self.field), self.message, CHECK)
        return Finding(None, 0, self.message, self.ref, self.field, CHECK)


@dataclass(frozen=True)
class Subject:
    ref: str
    model: Model
    tokenizer: Tokenizer
    adapter: Adapter | None = None
    merge_adapter: bool = False
    quantization: Quantization | None = None


def resolve(graph: Graph, ref: str, *, merge_adapter: bool = False) -> Subject:
    """The manifests a subject reference stands for."""
    manifest = graph.get(ref)
    if manifest is None:
        raise UsageError(f"{ref}: no such manifest (or it does not validate)")
    if isinstance(manifest, Model):
        return Subject(ref, manifest, _tokenizer_of(graph, manifest))
    if isinstance(manifest, Adapter):
        model = _need(graph, manifest.spec.base.model, Model, ref, "spec.base.model")
        return Subject(ref, model, _tokenizer_of(graph, model), manifest, merge_adapter)
    if isinstance(manifest, Quantization):
        return _quantization_subject(graph, ref, manifest, None)
    if isinstance(manifest, Deployment):
        spec = manifest.spec
        tokenizer = _need(graph, spec.tokenizer, Tokenizer, ref, "spec.tokenizer")
        if spec.quantization:
            quantization = _need(graph, spec.quantization, Quantization, ref, "spec.quantization")
            return _quantization_subject(graph, ref, quantization, tokenizer)
        model = _need(graph, spec.model, Model, ref, "spec.model")
        adapter = _need(graph, spec.adapter, Adapter, ref, "spec.adapter") if spec.adapter else None
        return Subject(ref, model, tokenizer, adapter, merge_adapter)
    raise UsageError(
        f"{ref}: cannot be evaluated; the subject must be one of {', '.join(SUBJECT_KINDS)}"
    )


def _quantization_subject(
    graph: Graph, ref: str, quantization: Quantization, tokenizer: Tokenizer | None
) -> Subject:
    spec = quantization.spec
    model = _need(graph, spec.model, Model, quantization.ref, "spec.model")
    adapter = (
        _need(graph, spec.adapter, Adapter, quantization.ref, "spec.adapter")
        if spec.adapter
        else None
    )
    # a quantization recipe runs on the merged weights: LoRA layers are not quantized apart
    return Subject(
        ref, model, tokenizer or _tokenizer_of(graph, model), adapter, True, quantization
    )


def _need(graph: Graph, ref: str | None, kind: type[Any], owner: str, field: str) -> Any:
    found = graph.get_as(ref, kind)
    if found is None:
        raise UsageError(f"{owner} {field}: {ref} does not exist (or does not validate)")
    return found


def _tokenizer_of(graph: Graph, model: Model) -> Tokenizer:
    for tokenizer in graph.of_kind(Tokenizer):
        if tokenizer.spec.model == model.ref:
            return tokenizer
    raise UsageError(f"{model.ref}: no Tokenizer manifest names it in spec.model")


def directory(root: Path, spec: Any) -> Path:
    return root / spec.directory


def check_tokenizer(tokenizer: Any, manifest: Tokenizer) -> list[Mismatch]:
    """Vocabulary size, maximum length, padding side and special tokens against the manifest."""
    spec = manifest.spec
    problems = []

    def differs(field: str, recorded: Any, loaded: Any) -> None:
        if recorded != loaded:
            problems.append(
                Mismatch(manifest.ref, field, f"manifest says {recorded!r}, loaded {loaded!r}")
            )

    differs("spec.vocabSize", spec.vocab_size, int(tokenizer.vocab_size))
    if int(tokenizer.model_max_length) < UNSET_MAX_LENGTH:  # else the files do not say
        differs("spec.maxLength", spec.max_length, int(tokenizer.model_max_length))
    differs("spec.paddingSide", spec.padding_side, tokenizer.padding_side)
    loaded = {
        role.removesuffix("_token"): value
        for role, value in tokenizer.special_tokens_map.items()
        if isinstance(value, str)
    }
    for role, token in sorted(spec.special_tokens.items()):
        differs(f"spec.specialTokens.{role}", token, loaded.get(role))
    return problems


# manifest field -> the config.json key a message names (families spell them apart; the values
# come from the same transformers reader that `keel pin` summarised them with)
ARCHITECTURE_FIELDS: tuple[tuple[str, str], ...] = (
    ("modelType", "model_type"),
    ("hiddenSize", "hidden_size"),
    ("numLayers", "num_hidden_layers"),
    ("numAttentionHeads", "num_attention_heads"),
    ("numKeyValueHeads", "num_key_value_heads"),
    ("vocabSize", "vocab_size"),
    ("maxPositionEmbeddings", "max_position_embeddings"),
    ("activation", "hidden_act"),
    ("tiedEmbeddings", "tie_word_embeddings"),
)


def check_model(model: Any, manifest: Model) -> list[Mismatch]:
    """The loaded model's config and parameter count against the Model's architecture.

    The loaded config is summarised by the reader `keel pin` used, so an encoder-decoder (BART:
    the decoder's stack), a nested text config (Gemma 3) or an MQA family (Falcon) is compared
    with what pin recorded, not with whichever attribute the family happens to spell alike.
    """
    from toolkit.bridges.configs import summarise_config

    architecture = manifest.spec.architecture
    try:
        loaded = summarise_config(model.config, manifest.ref)
    except KeelError as error:
        return [Mismatch(manifest.ref, "spec.architecture", f"the loaded config: {error}")]
    problems = []
    for field, key in ARCHITECTURE_FIELDS:
        recorded = getattr(architecture, _snake(field))
        if recorded != loaded.get(field):
            problems.append(
                Mismatch(
                    manifest.ref,
                    f"spec.architecture.{field}",
                    f"manifest says {recorded!r}, config.json gives {key}={loaded.get(field)!r}",
                )
            )
    parameters = sum(p.numel() for p in model.parameters())
    if parameters != manifest.spec.parameters:
        problems.append(
            Mismatch(
                manifest.ref,
                "spec.parameters",
                f"manifest says {manifest.spec.parameters}, the loaded model has {parameters}",
            )
        )
    return problems


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def check_adapter(
    root: Path, model: Any, adapter: Adapter, base_digest: str | None
) -> list[Mismatch]:
    """The adapter's binding to the base actually loaded, its config and its tensor shapes."""
    from toolkit.bridges.adapters import check_config, check_fits_base

    problems = []
    if base_digest is not None and base_digest != adapter.spec.base.digest:
        problems.append(
            Mismatch(
                adapter.ref,
                "spec.base.digest",
                f"bound to {adapter.spec.base.digest}, but the verified base weights are "
                f"{base_digest}",
            )
        )
    folder = directory(root, adapter.spec)
    problems += [Mismatch(adapter.ref, "spec", line) for line in check_config(folder, adapter.spec)]
    problems += [
        Mismatch(adapter.ref, "spec.base", f"{line}: the adapter was trained on another base")
        for line in check_fits_base(folder, model)
    ]
    return problems


def weights_digest(root: Path, model: Model) -> str | None:
    """The base's weights digest computed from the files on disk (not copied from the manifest):
    what an Adapter's binding must equal."""
    from toolkit.core.digests import canonical_tensor_digest

    weights = model.weight_files()
    if len(weights) != 1 or not weights[0].endswith(".safetensors"):
        return model.weights_digest()
    return canonical_tensor_digest(directory(root, model.spec) / weights[0])


def load_subject(root: Path, subject: Subject, task: str = "embedding") -> Runner:
    """Load and check every part of `subject` with the head `task` needs; raise PipelineError
    on the first mismatch."""
    from toolkit.bridges import ml
    from toolkit.bridges.heads import load_model_for, runner_for

    tokenizer = ml.load_tokenizer(directory(root, subject.tokenizer.spec))
    raise_first(check_tokenizer(tokenizer, subject.tokenizer))
    model = load_model_for(
        directory(root, subject.model.spec), task, allow_pickle=pickle_opt_in(subject.model)
    )
    raise_first(check_model(model, subject.model))
    if subject.adapter is not None:
        model = adapt(root, model, subject)
    if subject.quantization is not None:
        model = quantize(model, subject.quantization).model
    return runner_for(task, tokenizer, model)


def adapt(root: Path, model: Any, subject: Subject) -> Any:
    from toolkit.bridges.adapters import apply_adapter

    assert subject.adapter is not None
    raise_first(check_adapter(root, model, subject.adapter, weights_digest(root, subject.model)))
    return apply_adapter(model, directory(root, subject.adapter.spec), merge=subject.merge_adapter)


def quantize(model: Any, quantization: Quantization) -> Any:
    """Re-run the recipe and compare the result's tensor digest with the record."""
    from toolkit.bridges.quantize import quantize as run_recipe

    spec = quantization.spec
    result = run_recipe(model, spec.scheme, spec.recipe)
    recorded = spec.result.tensor_digest
    if recorded is not None and recorded != result.tensor_digest:
        raise_first(
            [
                Mismatch(
                    quantization.ref,
                    "spec.result.tensorDigest",
                    f"recorded {recorded}, re-running the recipe gives {result.tensor_digest}",
                )
            ]
        )
    return result


def pickle_opt_in(model: Model) -> str | None:
    """The Model's recorded reason for accepting pickle files beside its weights, or None;
    the loaders refuse such files without it (and never load them either way)."""
    opt_in = model.spec.allow_pickle
    return opt_in.reason if opt_in is not None else None


def raise_first(problems: list[Mismatch]) -> None:
    """Raise PipelineError naming the first problem, if there is any; the error carries them
    all as findings."""
    if problems:
        extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        findings = tuple(p.finding() for p in problems)
        raise PipelineError(problems[0].render() + extra, findings)
