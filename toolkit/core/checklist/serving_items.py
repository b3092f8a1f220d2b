"""Checklist items about how the model is trained and served: context, training stability,
memory (weights + KV cache), quantization and the attention backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.core.checklist.base import Assessment, decide, fail, ok, skip, unknown
from toolkit.core.checklist.model_items import CONFIG, optional
from toolkit.core.memory_budget import DEFAULT_OVERHEAD, DTYPE_BYTES, Budget, KvShape, gib

if TYPE_CHECKING:
    from toolkit.core.checklist.base import Subject

SERVING = "Deployment.spec.serving"
CLIPPING_KEYS = ("maxGradNorm", "gradientClipping", "clipGradNorm", "maxGradientNorm", "gradClip")
WARMUP_KEYS = ("warmupRatio", "warmupSteps", "warmup")
NEEDS_CUDA = ("flash_attention_2", "flash_attention_3")
GPU_SCHEMES = ("gptq", "awq", "nf4")


def no_deployment() -> Assessment:
    return skip("needs a Deployment (its serving config)")


def trained_context(subject: Subject) -> tuple[int | None, str]:
    """The longest input the positions were trained (or scaled) for, and how it was found;
    None when the positions set no limit (relative buckets, ALiBi, no positions)."""
    arch = subject.model.spec.architecture
    trained = arch.max_position_embeddings
    if trained is None:
        return None, f"{arch.position_encoding} positions with no trained maximum recorded"
    scaling = optional(subject, "rope_scaling")
    factor = getattr(scaling, "factor", None)
    if scaling is None or not factor:
        return trained, f"maxPositionEmbeddings {trained}, {arch.position_encoding} positions"
    original = getattr(scaling, "original_max_position_embeddings", None) or trained
    scaled = max(trained, int(original * factor))
    return (
        scaled,
        f"{arch.position_encoding} positions, {scaling.type} rope scaling ×{factor:g} -> {scaled}",
    )


def positional_context(subject: Subject) -> Assessment:
    context, how = trained_context(subject)
    if context is None:
        return unknown(how, CONFIG, "record how long inputs were in training, as a decision")
    if subject.deployment is None:
        return ok(f"trained context {context} ({how})", CONFIG)
    wanted = subject.deployment.spec.serving.max_input_tokens
    evidence = f"serving.maxInputTokens {wanted} within {how}"
    if wanted > context:
        return fail(
            f"serving.maxInputTokens {wanted} is longer than the trained context {context} ({how})",
            f"{SERVING}, {CONFIG}",
            f"serving.maxInputTokens <= {context}, or a model trained (or rope-scaled) longer",
            ("spec", "serving", "maxInputTokens"),
        )
    window = optional(subject, "sliding_window")
    if window and window < wanted:
        evidence += f"; attention sees the last {window} tokens (sliding window)"
    tokenizer = subject.tokenizer
    if tokenizer is not None and tokenizer.spec.max_length < wanted:
        return decide(
            f"{evidence}, but {tokenizer.ref} cuts inputs at maxLength {tokenizer.spec.max_length}",
            f"{SERVING}, Tokenizer",
            "align serving.maxInputTokens with the tokenizer's maxLength",
        )
    return ok(evidence, f"{SERVING}, {CONFIG}")


def training_stability(subject: Subject) -> Assessment:
    if not subject.training_runs:
        return ok("no TrainingRun: the served weights are not fine-tuned here", "manifests")
    missing, seen = [], []
    for run in subject.training_runs:
        values: dict[str, Any] = run.spec.hyperparameters
        clip = next((f"{k} {values[k]}" for k in CLIPPING_KEYS if values.get(k)), None)
        warmup_steps = run.spec.optimizer.warmup_steps
        warm = f"warmupSteps {warmup_steps}" if warmup_steps else None
        warm = warm or next((f"{k} {values[k]}" for k in WARMUP_KEYS if values.get(k)), None)
        if clip is None:
            missing.append(f"{run.ref} records no gradient clipping (hyperparameters.maxGradNorm)")
        if warm is None:
            missing.append(f"{run.ref} has no warm-up (optimizer.warmupSteps 0)")
        seen.append(f"{run.ref}: {clip or 'no clipping'}, {warm or 'no warm-up'}")
    if missing:
        return unknown(
            "; ".join(missing), "TrainingRun", "record maxGradNorm and warm-up, or a decision"
        )
    return ok("; ".join(seen), "TrainingRun")


def kv_shape(subject: Subject) -> KvShape | None:
    """None when the model keeps no KV cache (encoder-only, or no attention)."""
    arch = subject.model.spec.architecture
    stack = optional(subject, "decoder") or arch
    heads = stack.num_attention_heads
    if subject.encoder_only or heads is None:
        return None
    explicit = optional(subject, "head_dim")
    head_dim = explicit or stack.hidden_size // heads
    dtype = subject.model.spec.dtype
    value_bytes = DTYPE_BYTES.get(dtype, 2.0) if dtype.startswith(("float", "bfloat")) else 2.0
    return KvShape(
        layers=stack.num_layers,
        kv_heads=stack.num_key_value_heads or heads,
        head_dim=head_dim,
        bytes_per_value=value_bytes,
        window=optional(subject, "sliding_window"),
        cross_attention=optional(subject, "encoder") is not None,
    )


def budget(subject: Subject) -> Budget | None:
    if subject.deployment is None:
        return None
    serving, model = subject.deployment.spec.serving, subject.model
    quantization = subject.quantization
    if quantization is not None:
        plan = quantization.spec.memory_budget
        per, overhead = plan.bytes_per_parameter, plan.overhead
        source = str(quantization.ref)
    else:
        checkpoint = optional(subject, "quantization")
        bits = getattr(checkpoint, "bits", None)
        known = DTYPE_BYTES.get(model.spec.dtype)
        per = bits / 8 if bits else known or 4.0
        source = f"{checkpoint.method} {bits}-bit" if bits else f"dtype {model.spec.dtype}"
        if not bits and known is None:
            source += ", size unknown to keel: 4 B assumed"
        overhead = DEFAULT_OVERHEAD
    return Budget(
        parameters=model.spec.parameters,
        bytes_per_parameter=per,
        weights_source=source,
        kv=kv_shape(subject),
        max_batch_size=serving.max_batch_size,
        max_input_tokens=serving.max_input_tokens,
        overhead=overhead,
        available_gib=serving.memory_gib,
        no_kv="encoder-only" if subject.encoder_only else "no attention layers",
    )


def kv_cache_memory(subject: Subject) -> Assessment:
    plan = budget(subject)
    if plan is None:
        return no_deployment()
    source = f"{SERVING}, Model, Quantization"
    if plan.fits is None:
        return unknown(
            f"{plan.describe()}; serving.memoryGiB not recorded",
            source,
            f"record serving.memoryGiB (the device needs at least {gib(plan.total_bytes)})",
        )
    if not plan.fits:
        over = plan.total_bytes - (plan.available_bytes or 0)
        options = plan.what_would_fit()
        advice = "would fit: " + ", or ".join(options) if options else "a larger device"
        return fail(
            f"does not fit: {plan.describe()}, {gib(over)} over",
            source,
            advice,
            ("spec", "serving", "memoryGiB"),
        )
    return ok(plan.describe(), source)


def quantization_compatibility(subject: Subject) -> Assessment:
    checkpoint = optional(subject, "quantization")
    device = subject.deployment.spec.serving.device if subject.deployment else None
    quantization = subject.quantization
    if quantization is None:
        if checkpoint is not None:
            evidence = f"checkpoint already quantized ({checkpoint.method})"
            if device == "cpu" and checkpoint.method in ("gptq", "awq", "fp8"):
                return decide(f"{evidence}, served on cpu", CONFIG, "record the CPU kernel used")
            return ok(evidence, CONFIG)
        dtype = subject.model.spec.dtype
        return ok(f"none used: served in {dtype}", "Deployment")
    spec = quantization.spec
    evaluated = subject.graph.get(spec.evaluation)
    if evaluated is None:
        return fail(
            f"{quantization.ref} names {spec.evaluation}, which is not here",
            "Quantization",
            "evaluate the quantized model (keel evaluate) and record it",
        )
    evidence = (
        f"{quantization.ref} ({spec.scheme}, {spec.recipe.library} {spec.recipe.config}) "
        f"evaluated by {spec.evaluation} against {spec.baseline}"
    )
    if checkpoint is not None:
        return decide(f"{evidence}, on a checkpoint already {checkpoint.method}", "Quantization")
    if device == "cpu" and spec.scheme in GPU_SCHEMES:
        return decide(f"{evidence}; {spec.scheme} kernels are built for GPUs", "Quantization")
    return ok(evidence, "Quantization")


def attention_backend(subject: Subject) -> Assessment:
    if subject.deployment is None:
        return no_deployment()
    serving = subject.deployment.spec.serving
    backend = serving.attention_backend
    if backend is None:
        return unknown(
            f"serving.attentionBackend not recorded (device {serving.device})",
            SERVING,
            "record serving.attentionBackend (eager, sdpa, flash_attention_2, ...)",
        )
    evidence = f"{backend} on {serving.device} ({serving.framework})"
    if backend in NEEDS_CUDA and not serving.device.startswith("cuda"):
        return fail(
            f"{evidence}: {backend} runs on cuda devices only",
            SERVING,
            "attentionBackend sdpa or eager on this device",
            ("spec", "serving", "attentionBackend"),
        )
    return ok(evidence, SERVING)
