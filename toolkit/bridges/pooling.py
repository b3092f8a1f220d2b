"""Mean embeddings of texts through any loaded runner, for input-drift scores.

An encoder's own `embed` (mean-pooled, unit-norm) serves embedding deployments; a classifier or
a generator (decoder-only) gives the mean of its last hidden states over the attention mask,
unit-normalised the same way. The centroid is the mean of the unit vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import Encoder, torch_module

if TYPE_CHECKING:
    from collections.abc import Sequence


def _pooled_hidden(runner: Any, texts: list[str], max_length: int) -> Any:
    torch = torch_module()
    tokenizer = runner.tokenizer
    if tokenizer.pad_token is None:  # decoder-only tokenizers often have none
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(
        texts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )
    outputs = runner.model(**encoded, output_hidden_states=True)
    hidden = outputs.hidden_states[-1].float()
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def centroid(
    runner: Any, texts: Sequence[str], *, batch_size: int = 16, max_length: int = 256
) -> list[float]:
    """The mean of the texts' unit-norm embeddings (an encoder's, or mean-pooled last hidden
    states), as plain floats."""
    torch = torch_module()
    items = list(texts)
    if isinstance(runner, Encoder):
        embeddings = runner.embed(items, batch_size=batch_size, max_length=max_length)
    else:
        with torch.inference_mode():
            parts = [
                _pooled_hidden(runner, items[start : start + batch_size], max_length)
                for start in range(0, len(items), batch_size)
            ]
        embeddings = torch.cat(parts)
    return [float(x) for x in embeddings.double().mean(dim=0).tolist()]


def token_lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens per text as the tokenizer counts them (special tokens included, no truncation)."""
    # verbose=False: a text longer than the model's maximum is counted, not warned about
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]
