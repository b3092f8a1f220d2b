"""`keel train TrainingRun/NAME` and `keel quantize Quantization/NAME`."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("ref")
@root_option
def train(ref: str, root: Path | None) -> None:
    """Run the LoRA fine-tune TrainingRun REF records, with peft, deterministically.

    Every hyperparameter comes from the TrainingRun and the Adapter that names it; the adapter
    is written as safetensors into the Adapter's directory and tracked by DVC, and the measured
    outcome, base digest and config digest are written back into the manifests.

    Examples:

    \b
      keel train TrainingRun/minilm-search-lora
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.evaluation.train import train as run_train

    result = run_train(root or find_root(Path.cwd()), ref)
    click.echo(
        f"{result.adapter}: {result.steps} steps in {result.seconds:.1f} s, loss "
        f"{result.first_loss:.4f} -> {result.final_loss:.4f}; "
        f"{result.trainable_parameters} trainable parameters; {', '.join(result.files)}"
    )


@click.command()
@click.argument("ref")
@root_option
def quantize(ref: str, root: Path | None) -> None:
    """Run Quantization REF's recipe on the verified weights and record the result's digest.

    The quantized weights are not stored: `keel reproduce` re-derives them and checks this
    digest.

    Examples:

    \b
      keel quantize Quantization/minilm-search-int8
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.evaluation.quantize import quantize as run_quantize

    result = run_quantize(root or find_root(Path.cwd()), ref)
    state = "recorded" if result.changed else "unchanged"
    click.echo(
        f"{result.ref}: {result.quantized_modules} linear layers quantized; "
        f"{result.tensor_digest} ({state})"
    )
