"""`keel checklist Deployment/NAME` (or `Model/NAME`): the architecture checklist, item by
item, with the fertility measured here when the tokenizer and the Deployment's datasets are
pulled, rendered as a text table, Markdown or JSON."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any

from toolkit.core.checklist import (
    MeasuredFertility,
    Status,
    run_checklist,
    subject_for,
)
from toolkit.manifests import Dataset, Deployment, Evaluation, Model, Tokenizer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from toolkit.core.checklist import Checklist
    from toolkit.core.repository import Graph
    from toolkit.manifests import Manifest

TEXT_FORMATS = ("jsonl", "text", "csv")
NOT_TEXT = ("id", "label", "score")


def checklist(root: Path, ref: str, *, measure: bool = True) -> Checklist:
    """The checklist of `ref`; `measure` counts the fertility with `tokenizers` when the
    tokenizer.json and the datasets are here (else the Tokenizer's recorded value counts)."""
    from toolkit.workflows.artifacts.verify import load_graph

    graph = load_graph(root)
    fertility = measure_fertility(graph, graph.get(ref)) if measure else None
    return run_checklist(subject_for(graph, ref, fertility))


def measure_fertility(graph: Graph, manifest: Manifest | None) -> MeasuredFertility | None:
    """Tokens per word of the subject's tokenizer on its datasets' text, when all are here."""
    tokenizer, datasets = _tokenizer_and_data(graph, manifest)
    if tokenizer is None or not datasets:
        return None
    path = graph.root / tokenizer.spec.directory / "tokenizer.json"
    listed = any(f.path == "tokenizer.json" for f in tokenizer.spec.files)
    texts = [t for d in datasets for t in dataset_texts(graph.root, d)]
    if not listed or not path.is_file() or not texts:
        return None
    from toolkit.bridges.fertility import count_tokens

    words = sum(len(t.split()) for t in texts)
    if not words:
        return None
    return MeasuredFertility(count_tokens(path, texts), words, tuple(d.ref for d in datasets))


def _tokenizer_and_data(
    graph: Graph, manifest: Manifest | None
) -> tuple[Tokenizer | None, list[Dataset]]:
    if isinstance(manifest, Deployment):
        refs = [manifest.spec.canary.dataset]
        for ref in manifest.spec.evaluations:
            evaluation = graph.get_as(ref, Evaluation)
            if evaluation is not None:
                refs.append(evaluation.spec.dataset)
        tokenizer = graph.get_as(manifest.spec.tokenizer, Tokenizer)
    elif isinstance(manifest, Model):
        found = [t for t in graph.of_kind(Tokenizer) if t.spec.model == manifest.ref]
        tokenizer = found[0] if found else None
        refs = [tokenizer.spec.fertility.dataset] if tokenizer and tokenizer.spec.fertility else []
    else:
        return None, []
    datasets = [graph.get_as(r, Dataset) for r in dict.fromkeys(refs)]
    return tokenizer, [d for d in datasets if d is not None and d.spec.format in TEXT_FORMATS]


def dataset_texts(root: Path, dataset: Dataset) -> list[str]:
    """Every text of a dataset pulled here (jsonl: each string field but ids and labels);
    [] when a file is missing."""
    paths = [root / dataset.spec.directory / f.path for f in dataset.spec.files]
    if not paths or not all(p.is_file() for p in paths):
        return []
    texts: list[str] = []
    for path in paths:
        texts.extend(_texts_of(path, dataset.spec.format))
    return texts


def _texts_of(path: Path, format_: str) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        if format_ == "text":
            yield from (line.strip() for line in handle if line.strip())
            return
        rows: Iterator[Any]
        if format_ == "csv":
            rows = csv.DictReader(handle)
        else:
            rows = (_json_row(line) for line in handle if line.strip())
        for row in rows:
            if isinstance(row, dict):
                yield from (
                    v for k, v in row.items() if isinstance(v, str) and _is_text(str(k)) and v
                )


def _json_row(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _is_text(key: str) -> bool:
    name = key.lower()
    return name not in NOT_TEXT and not name.endswith("_id")


# ---------------------------------------------------------------------------- rendering


def render_text(result: Checklist) -> str:
    rows = [(i.item, i.status.value, _line(i.summary, i)) for i in result.items]
    widths = [max(len(r[c]) for r in [("ITEM", "STATUS", ""), *rows]) for c in (0, 1)]
    lines = [f"{'ITEM':<{widths[0]}}  {'STATUS':<{widths[1]}}  EVIDENCE"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    lines += ["", summary(result)]
    return "\n".join(lines)


def _line(text: str, item: Any) -> str:
    advice = item.assessment.advice if item.failing else None
    return f"{text} -> {advice}" if advice else text


def render_markdown(result: Checklist) -> str:
    lines = [
        f"# Architecture checklist: {result.subject}",
        "",
        "| item | status | evidence | source |",
        "| --- | --- | --- | --- |",
    ]
    for item in result.items:
        cells = (item.item, item.status.value, _line(item.detail, item), item.assessment.source)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join([*lines, "", summary(result)])


def render_json(result: Checklist) -> str:
    data = {
        "subject": result.subject,
        "decision": result.decision,
        "ok": result.ok,
        "items": [i.as_dict() for i in result.items],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def summary(result: Checklist) -> str:
    counts = {s: sum(1 for i in result.items if i.status is s) for s in Status}
    shown = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    if result.ok:
        return f"{result.subject}: checklist passes ({shown})"
    head = f"{result.subject}: {len(result.failing())} of {len(result.items)} items need work"
    if all(i.status is Status.failed for i in result.failing()):
        return f"{head} ({shown}); a decision cannot excuse a failed item: fix it"
    where = result.decision or "the Deployment's ArchitectureDecision"
    return f"{head} ({shown}); record decisions in {where} spec.checklist"


RENDERERS = {"text": render_text, "md": render_markdown, "json": render_json}
