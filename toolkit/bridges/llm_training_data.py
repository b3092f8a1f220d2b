"""The tiny LLM's texts: the corpus it is trained on and the datasets its example records.

The corpus is the Python documentation that ships with the standard library
(`pydoc_data.topics.topics`, 79 topics and about 465,000 characters on CPython 3.11), so it
is on every machine that runs keel and needs no download. Topic order is sorted by name; the
held-out topics (every tenth one) are never trained on and feed the perplexity rows. The bytes
depend on the CPython minor version (the documentation changes between releases).

The LoRA task is to answer a fixed set of questions about Python statements with a fixed short
answer; `llm-train` holds the (prompt, completion) pairs, `llm-canary` the same prompts with the
expected answers as generation rows, `llm-heldout` paragraphs of the held-out topics.
Nothing here imports torch: the datasets can be written on the light path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from toolkit.core.fsutil import write_atomic

if TYPE_CHECKING:
    from pathlib import Path

HELDOUT_EVERY = 10
HELDOUT_ROWS = 16
HELDOUT_CHARS = (120, 1200)

QUESTIONS: tuple[tuple[str, str], ...] = (
    ("the `with` statement", "It runs a block inside a context manager."),
    ("the `for` statement", "It loops over the items of an iterable."),
    ("the `while` statement", "It repeats a block while a condition is true."),
    ("the `if` statement", "It runs a block only when a condition is true."),
    ("the `try` statement", "It catches exceptions raised in a block."),
    ("the `raise` statement", "It raises an exception."),
    ("the `return` statement", "It leaves a function with a value."),
    ("the `yield` expression", "It makes a function a generator."),
    ("the `import` statement", "It loads a module and binds its name."),
    ("the `del` statement", "It deletes names or items."),
    ("the `pass` statement", "It does nothing."),
    ("the `break` statement", "It ends the nearest enclosing loop."),
    ("the `continue` statement", "It skips to the next loop iteration."),
    ("the `global` statement", "It makes names refer to module globals."),
    ("the `lambda` expression", "It creates a small anonymous function."),
    ("the `assert` statement", "It checks a condition while debugging."),
)


def corpus_topics() -> list[tuple[str, str]]:
    """(topic name, text) of every documentation topic, sorted by name."""
    from pydoc_data.topics import topics

    return sorted(topics.items())


def corpus_texts() -> list[str]:
    """Every documentation topic's text, in topic-name order."""
    return [text for _, text in corpus_topics()]


def split_corpus(texts: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(train, held-out): every HELDOUT_EVERY-th text (the 10th, 20th, ...) is held out."""
    texts = corpus_texts() if texts is None else texts
    held = [t for i, t in enumerate(texts) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    train = [t for i, t in enumerate(texts) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    return train, held


def prompt_for(subject: str) -> str:
    return f"Q: what does {subject} do?\nA:"


def lora_pairs() -> list[tuple[str, str]]:
    """The LoRA task: (prompt, completion); the completion starts with a space after `A:`."""
    return [(prompt_for(subject), f" {answer}") for subject, answer in QUESTIONS]


def _heldout_rows() -> list[dict[str, str]]:
    """Paragraphs of the held-out topics of HELDOUT_CHARS length; the documentation repeats
    some paragraphs across topics, so one that also occurs in a training text is skipped."""
    topics = corpus_topics()
    held = [t for i, t in enumerate(topics) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    train = split_corpus([text for _, text in topics])[0]
    rows: list[dict[str, str]] = []
    low, high = HELDOUT_CHARS
    for name, text in held:
        for number, paragraph in enumerate(text.split("\n\n")):
            paragraph = paragraph.strip()
            if low <= len(paragraph) <= high and not any(paragraph in t for t in train):
                rows.append({"id": f"{name}-{number}", "text": paragraph})
    return rows[:HELDOUT_ROWS]


def llm_dataset_rows() -> dict[str, list[dict[str, str]]]:
    """Dataset name -> its rows, for the LLM example."""
    pairs = lora_pairs()
    names = [subject.split("`")[1] for subject, _ in QUESTIONS]
    return {
        "llm-train": [
            {"id": f"qa-{name}", "prompt": prompt, "completion": completion}
            for name, (prompt, completion) in zip(names, pairs, strict=True)
        ],
        "llm-canary": [
            {"id": f"qa-{name}", "prompt": prompt, "reference": completion.strip()}
            for name, (prompt, completion) in zip(names, pairs, strict=True)
        ],
        "llm-heldout": _heldout_rows(),
    }


def write_llm_datasets(directory: Path) -> dict[str, Path]:
    """Write `<directory>/<name>/<name>.jsonl` for each LLM dataset (deterministic bytes:
    sorted keys, UTF-8, one row a line); returns name -> file."""
    written = {}
    for name, rows in llm_dataset_rows().items():
        path = directory / name / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows)
        write_atomic(path, body.encode("utf-8"))
        written[name] = path
    return written
