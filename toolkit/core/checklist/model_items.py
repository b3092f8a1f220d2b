"""Checklist items about the model itself: its config (the Model's `architecture`), its
tensors (safetensors headers) and its tokenizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.core.checklist import families
from toolkit.core.checklist.base import (
    FERTILITY_LIMIT,
    Assessment,
    decide,
    fail,
    ok,
    unknown,
)

if TYPE_CHECKING:
    from toolkit.core.checklist.base import Subject

CONFIG = "config (Model.architecture)"
TENSORS = "tensors (safetensors headers)"


def optional(subject: Subject, name: str) -> Any:
    """An architecture field that may not exist yet in this keel (absent: None)."""
    return getattr(subject.model.spec.architecture, name, None)


def fertility(subject: Subject) -> Assessment:
    """Tokens per word on the domain's data: measured here, or the Tokenizer's record."""
    tokenizer = subject.tokenizer
    if tokenizer is None:
        return unknown("no Tokenizer for this model", "manifests", "pin its Tokenizer")
    vocab = tokenizer.spec.vocab_size
    model_vocab = subject.model.spec.architecture.vocab_size
    if vocab > model_vocab:
        return fail(
            f"{tokenizer.ref} has {vocab} tokens but the embedding has {model_vocab} rows",
            "manifests",
            "pair the Model with its own tokenizer",
        )
    if subject.fertility is not None:
        value, source = subject.fertility.value, "measured (tokenizers)"
        on = ", ".join(subject.fertility.datasets)
    elif tokenizer.spec.fertility is not None:
        value, source = tokenizer.spec.fertility.tokens_per_word, f"{tokenizer.ref} fertility"
        on = tokenizer.spec.fertility.dataset
    else:
        return unknown(
            f"not measured: run keel pull (the data or tokenizer.json is not here) and "
            f"{tokenizer.ref} records no fertility",
            "manifests",
            "pull the Deployment's datasets, or record spec.fertility in the Tokenizer",
        )
    evidence = f"{value:.3f} tokens per word on {on}, vocabulary {vocab}"
    recorded = tokenizer.spec.fertility
    if subject.fertility is not None and recorded is not None:
        evidence += f" (the Tokenizer records {recorded.tokens_per_word:g} on {recorded.dataset})"
    if value > FERTILITY_LIMIT:
        return decide(
            f"{evidence}: above {FERTILITY_LIMIT}, inputs cost more tokens than usual",
            source,
            "a domain tokenizer or a larger vocabulary, or record why this one stays",
        )
    return ok(evidence, source)


def _tensors_missing(subject: Subject, what: str) -> Assessment:
    return unknown(
        f"{what}: {subject.tensor_note}", TENSORS, "keel pull the Model, or record a decision"
    )


def embedding_width(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    if subject.tensors is None:
        return _tensors_missing(subject, f"config hiddenSize {arch.hidden_size}; shapes unchecked")
    entry = families.find(subject.tensors, families.EMBEDDING_NAMES)
    if entry is None:
        return unknown("no token-embedding tensor keel recognises", TENSORS, "record a decision")
    rows, width = entry.shape
    evidence = f"{entry.name} is {rows} × {width}; hiddenSize {arch.hidden_size}"
    if width != arch.hidden_size:
        return fail(
            f"{evidence}: the embedding is not as wide as the model",
            TENSORS,
            "fix architecture.hiddenSize (re-pin) or the checkpoint",
            ("spec", "architecture", "hiddenSize"),
        )
    if rows != arch.vocab_size:
        return fail(
            f"{evidence}, but vocabSize says {arch.vocab_size} rows",
            TENSORS,
            "re-pin the Model (keel pin)",
            ("spec", "architecture", "vocabSize"),
        )
    return ok(evidence, TENSORS)


def tied_embeddings(subject: Subject) -> Assessment:
    tied = subject.model.spec.architecture.tied_embeddings
    said = f"config tiedEmbeddings {str(tied).lower()}"
    if subject.tensors is None:
        return _tensors_missing(subject, f"{said}; tensors unchecked")
    head = families.find(subject.tensors, families.HEAD_NAMES)
    location = ("spec", "architecture", "tiedEmbeddings")
    if head is None:
        if subject.encoder_only:
            return ok(f"{said}; no output-head tensor: an encoder, nothing to tie", TENSORS)
        if tied:
            return ok(f"{said}; no output-head tensor: the head reuses the embedding", TENSORS)
        return fail(
            f"{said}, but the checkpoint holds no output head (lm_head.weight)",
            TENSORS,
            "set tiedEmbeddings true (re-pin) or restore the head's weights",
            location,
        )
    if tied:
        return fail(
            f"{said}, but the checkpoint stores its own {head.name}: a loader would drop it",
            TENSORS,
            "set tiedEmbeddings false (re-pin: tie_word_embeddings in config.json)",
            location,
        )
    return ok(f"{said}; {head.name} {head.shape[0]} × {head.shape[1]} stored apart", TENSORS)


def normalization(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    placement = optional(subject, "norm_placement")
    source = CONFIG
    if placement is None:
        if arch.model_type in families.POST_NORM:
            placement = "post"
        elif arch.model_type in families.PRE_NORM:
            placement = "pre"
        else:
            return unknown(
                f"{arch.norm}; where it sits in {arch.model_type} blocks is not recorded",
                CONFIG,
                "record normPlacement (re-pin) or a decision",
            )
        source = f"{CONFIG}; placement from keel's family table"
    evidence = f"{placement}-norm {arch.norm} ({arch.model_type})"
    if placement == "post" and arch.num_layers > 24:
        return decide(
            f"{evidence} over {arch.num_layers} layers: deep post-norm stacks train unstably",
            source,
            "record the warm-up and the reason for post-norm",
        )
    return ok(evidence, source)


def attention_heads(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    stacks: list[tuple[str, Any]] = [("", arch)]
    stacks += [(f"{n} ", optional(subject, n)) for n in ("encoder", "decoder")]
    explicit = optional(subject, "head_dim")
    parts = []
    for name, stack in stacks:
        if stack is None:
            continue
        heads, width = stack.num_attention_heads, stack.hidden_size
        if heads is None:
            parts.append(f"{name}no attention heads (a model without attention)")
            continue
        kv = stack.num_key_value_heads or heads
        if explicit is None and width % heads:
            return fail(
                f"{name}{heads} heads do not divide hiddenSize {width} "
                f"({width / heads:.2f} per head)",
                CONFIG,
                f"a head count dividing {width} (e.g. {_divisor_near(width, heads)})",
                ("spec", "architecture", "numAttentionHeads"),
            )
        if kv > heads or heads % kv:
            return fail(
                f"{name}{kv} KV heads do not divide {heads} query heads",
                CONFIG,
                "numKeyValueHeads must divide numAttentionHeads (GQA groups)",
                ("spec", "architecture", "numKeyValueHeads"),
            )
        variant = "MHA" if kv == heads else "MQA" if kv == 1 else f"GQA, {heads // kv} per group"
        head_dim = explicit or width // heads
        kv_heads = f"{kv} KV head{'s' if kv > 1 else ''}"
        parts.append(f"{name}{heads} heads × {head_dim} (width {width}), {kv_heads} ({variant})")
    return ok("; ".join(parts), CONFIG)


def _divisor_near(width: int, heads: int) -> int:
    divisors = [d for d in range(1, width + 1) if width % d == 0]
    return min(divisors, key=lambda d: (abs(d - heads), d))


def ffn_ratio(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    inner, source = optional(subject, "intermediate_size"), CONFIG
    if inner is None and subject.tensors is not None:
        entry = families.find(subject.tensors, families.FFN_NAMES)
        if entry is not None and arch.hidden_size in entry.shape:
            a, b = entry.shape
            inner, source = (b if a == arch.hidden_size else a), f"{TENSORS}: {entry.name}"
    if inner is None:
        return unknown(
            f"intermediateSize not recorded; {subject.tensor_note}",
            CONFIG,
            "re-pin the Model (intermediateSize) or record the ratio as a decision",
        )
    experts = optional(subject, "experts")
    gated = arch.model_type in families.GATED_FFN or "glu" in arch.activation
    kind = "expert" if experts else "gated" if gated else "plain"
    low, high = families.FFN_RANGES[kind]
    ratio = inner / arch.hidden_size
    evidence = f"{inner} / {arch.hidden_size} = {ratio:.2f} ({kind} FFN, usual {low:g}-{high:g})"
    if not low <= ratio <= high:
        return decide(evidence, source, "record why this width")
    return ok(evidence, source)


def activation(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    expected = families.ACTIVATIONS.get(arch.model_type)
    if expected is None:
        if arch.activation in families.STANDARD_ACTIVATIONS:
            return ok(
                f"{arch.activation}: a standard activation ({arch.model_type} is not in keel's "
                "family table)",
                CONFIG,
            )
        return decide(f"{arch.activation} is not a standard activation", CONFIG, "record why")
    evidence = f"{arch.activation}; {arch.model_type} is trained with {'/'.join(sorted(expected))}"
    if arch.activation not in expected:
        return decide(evidence, CONFIG, "record why the activation differs from the family's")
    return ok(evidence, CONFIG)


def residual_depth(subject: Subject) -> Assessment:
    arch = subject.model.spec.architecture
    evidence = f"{arch.num_layers} residual blocks"
    if subject.tensors is None:
        return ok(f"{evidence} (config; {subject.tensor_note})", CONFIG)
    counts = families.layer_counts(subject.tensors)
    if not counts:
        return ok(f"{evidence} (config; no layer index in the tensor names)", CONFIG)
    output = [n for p, n in counts.items() if "decoder" in p or "language_model" in p]
    held = output[0] if output else max(counts.values())
    if held != arch.num_layers:
        return fail(
            f"config says {arch.num_layers} layers, the tensors hold {held}",
            TENSORS,
            "re-pin the Model (numLayers) or fix the checkpoint",
            ("spec", "architecture", "numLayers"),
        )
    return ok(f"{evidence}, as many in the tensors", TENSORS)
