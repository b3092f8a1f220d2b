"""Classification and generation models next to the encoder: load by task, run in fixed batches.

Outputs are float32 tensors so that one digest and one comparison serve every task: a
classifier's logits, and a generator's new token ids (exact in float32 below 2**24) padded with
-1 to `max_new_tokens`. Generation is greedy (no sampling), so it is deterministic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.bridges.ml import Encoder, load_model, torch_module
from toolkit.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

AUTO_CLASSES = {
    "retrieval": "AutoModel",
    "embedding": "AutoModel",
    "classification": "AutoModelForSequenceClassification",
    "generation": "AutoModelForCausalLM",
    "language-modeling": "AutoModelForCausalLM",
}


def load_model_for(model_dir: Path, task: str, *, allow_pickle: str | None = None) -> Any:
    """The fp32 model with the head `task` needs, from local safetensors only (pickle weights
    are refused before transformers is called: `ml.resolve_weights`), in eval mode."""
    return load_model(model_dir, AUTO_CLASSES[task], allow_pickle=allow_pickle)


@dataclass(frozen=True)
class Classifier:
    tokenizer: Any
    model: Any

    def logits(self, texts: Sequence[str], *, batch_size: int, max_length: int) -> Any:
        torch = torch_module()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                encoded = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    padding="longest",
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                parts.append(self.model(**encoded).logits.float())
        return torch.cat(parts).contiguous()

    def labels(self, logits: Any) -> list[str]:
        """Predicted label names (config.id2label), or the class index as text."""
        names = getattr(self.model.config, "id2label", None) or {}
        return [str(names.get(int(i), int(i))) for i in logits.argmax(dim=1).tolist()]


@dataclass(frozen=True)
class Generator:
    tokenizer: Any
    model: Any

    def render(self, prompt: str | list[dict[str, str]]) -> str:
        """A prompt as the model reads it: text as is; chat messages through the tokenizer's
        chat template, with the generation prompt (the assistant's turn) added."""
        if isinstance(prompt, str):
            return prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise UsageError(
                "a generation row gives chat messages but the tokenizer has no chat template "
                "(chat_template.jinja or tokenizer_config.json chat_template); give a prompt"
            )
        rendered = self.tokenizer.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def generate(
        self,
        prompts: Sequence[str | list[dict[str, str]]],
        *,
        batch_size: int,
        max_length: int,
        max_new_tokens: int,
    ) -> tuple[Any, list[str]]:
        """(new token ids as float32 padded with -1, decoded texts), greedy, in input order."""
        torch = torch_module()
        tokenizer = self.tokenizer
        tokenizer.padding_side = "left"  # decoder-only: new tokens follow the prompt directly
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        texts_in = [self.render(p) for p in prompts]
        rows: list[Any] = []
        texts: list[str] = []
        with torch.inference_mode(), warnings.catch_warnings():
            # transformers warns about generation-config defaults it then applies: not ours
            warnings.simplefilter("ignore", UserWarning)
            for start in range(0, len(texts_in), batch_size):
                encoded = tokenizer(
                    texts_in[start : start + batch_size],
                    padding="longest",
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                out = self.model.generate(
                    **encoded,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new = out[:, encoded["input_ids"].shape[1] :]
                texts += tokenizer.batch_decode(new, skip_special_tokens=True)
                padded = torch.full((new.shape[0], max_new_tokens), -1.0)
                padded[:, : new.shape[1]] = new.float()
                rows.append(padded)
        return torch.cat(rows).contiguous(), [t.strip() for t in texts]

    def window_losses(self, texts: Sequence[str], *, window: int) -> Any:
        """Per text, [summed negative log-likelihood, tokens predicted] (float32, one row per
        text): each text is tokenized, cut into consecutive windows of `window` tokens, and in
        each window every token after the first is predicted from those before it."""
        torch = torch_module()
        rows = []
        with torch.inference_mode():
            for text in texts:
                ids = self.tokenizer(text, return_tensors="pt")["input_ids"]
                total, count = 0.0, 0
                for start in range(0, ids.shape[1], window):
                    chunk = ids[:, start : start + window]
                    if chunk.shape[1] < 2:
                        continue
                    loss = self.model(input_ids=chunk, labels=chunk).loss.double()
                    total += float(loss) * (chunk.shape[1] - 1)
                    count += chunk.shape[1] - 1
                rows.append([total, float(count)])
        return torch.tensor(rows, dtype=torch.float32).reshape(len(texts), 2).contiguous()


def runner_for(task: str, tokenizer: Any, model: Any) -> Encoder | Classifier | Generator:
    if task == "classification":
        return Classifier(tokenizer, model)
    if task in ("generation", "language-modeling"):
        return Generator(tokenizer, model)
    return Encoder(tokenizer, model)
