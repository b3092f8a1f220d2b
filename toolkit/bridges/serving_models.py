"""The loaded models as the contract server calls them: an embedding function, a
classification function, and a `CausalLM` that decodes greedily one token at a time.

`CausalLM.tokens` is a manual greedy loop with the KV cache: the prompt in one forward pass,
then one token per pass, the argmax of the last logits each time. On one unpadded prompt that
is what ``model.generate(do_sample=False)`` computes, token for token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import torch_module

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from toolkit.bridges.heads import Classifier
    from toolkit.bridges.ml import Encoder

__all__ = ["CausalLM", "classify_function", "embed_function"]


def _eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return frozenset()
    return frozenset([eos] if isinstance(eos, int) else eos)


@dataclass
class CausalLM:
    """A causal LM and its tokenizer (a `serving_generation.TextGenerator`)."""

    tokenizer: Any
    model: Any
    eos_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.eos_ids = _eos_ids(self.tokenizer, self.model)

    def prompt_ids(self, prompt: str | None, messages: list[dict[str, str]] | None) -> list[int]:
        """As `heads.Generator` reads a prompt, so the served tokens are the evaluated ones:
        chat messages rendered by the chat template with the assistant's turn added, then
        tokenized like a prompt."""
        from toolkit.bridges.heads import Generator

        if messages is None:
            text = prompt or ""
        elif not getattr(self.tokenizer, "chat_template", None):
            raise ValueError("the model's tokenizer has no chat template; send a prompt")
        else:
            text = Generator(self.tokenizer, self.model).render(messages)
        return list(self.tokenizer(text, verbose=False)["input_ids"])

    def tokens(self, prompt_ids: list[int], max_tokens: int) -> Iterator[int]:
        torch = torch_module()
        input_ids = torch.tensor([prompt_ids], dtype=torch.long)
        attention = torch.ones_like(input_ids)
        past = None
        for _ in range(max_tokens):
            with torch.inference_mode():
                out = self.model(
                    input_ids=input_ids,
                    attention_mask=attention,
                    past_key_values=past,
                    use_cache=True,
                )
            past = out.past_key_values
            token = int(out.logits[0, -1].argmax())
            yield token
            if token in self.eos_ids:
                return
            input_ids = torch.tensor([[token]], dtype=torch.long)
            attention = torch.cat([attention, torch.ones((1, 1), dtype=attention.dtype)], dim=1)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def embed_function(
    encoder: Encoder, batch_size: int, max_length: int
) -> Callable[[list[str]], list[list[float]]]:
    def embed(texts: list[str]) -> list[list[float]]:
        vectors = encoder.embed(texts, batch_size=batch_size, max_length=max_length)
        return [[float(x) for x in row] for row in vectors.tolist()]

    return embed


def classify_function(
    classifier: Classifier, batch_size: int, max_length: int
) -> Callable[[list[str]], tuple[list[str], list[list[float]]]]:
    """Texts → (predicted labels, softmax scores over the labels in class order)."""

    def classify(texts: list[str]) -> tuple[list[str], list[list[float]]]:
        torch = torch_module()
        logits = classifier.logits(texts, batch_size=batch_size, max_length=max_length)
        scores = torch.softmax(logits, dim=1).tolist()
        return classifier.labels(logits), scores

    return classify
