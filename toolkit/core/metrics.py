"""Evaluation metrics as small pure functions (stdlib only), and the table of metric names.

Every function returns a float in [0, 1] (``cosine`` in [-1, 1]) and raises ``ValueError`` with a
one-line message when its inputs are empty or of mismatched lengths. ``metric_for(name)`` maps a
metric name as manifests write it (``recall_at_1``, ``mrr``, ...) to the function that computes it.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "cosine",
    "exact_match",
    "f1",
    "mean_cosine",
    "metric_for",
    "mrr",
    "normalise_text",
    "rank_by_cosine",
    "recall_at_k",
    "rouge_l",
]

Vector = Sequence[float]
Average = Literal["macro", "micro", "binary"]


def _check_pair(name: str, first: Sequence[Any], second: Sequence[Any], what: str) -> None:
    """Raise unless ``first`` and ``second`` are non-empty and of the same length."""
    if isinstance(first, str) or isinstance(second, str):
        raise ValueError(f"{name}: expected lists of {what}, got a single string")
    if len(first) != len(second):
        raise ValueError(
            f"{name}: expected the same number of {what} on both sides, "
            f"got {len(first)} and {len(second)}"
        )
    if not first:
        raise ValueError(f"{name}: expected at least one pair of {what}, got none")


# --- classification ---------------------------------------------------------------------------


def accuracy(predicted: Sequence[Hashable], expected: Sequence[Hashable]) -> float:
    """Fraction of positions ``i`` where ``predicted[i] == expected[i]``."""
    _check_pair("accuracy", predicted, expected, "labels")
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def _f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """``2·tp / (2·tp + fp + fn)``, the harmonic mean of precision and recall; 0/0 is 0.0."""
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def f1(
    predicted: Sequence[Hashable],
    expected: Sequence[Hashable],
    average: Average = "macro",
    positive: Hashable | None = None,
) -> float:
    """F1 score of single-label predictions.

    For a label ``c``: ``tp`` counts positions with ``predicted == expected == c``, ``fp``
    positions with ``predicted == c != expected``, ``fn`` positions with
    ``expected == c != predicted``, and ``F1(c) = 2·tp / (2·tp + fp + fn)``, which is 0.0 when
    the denominator is 0 (scikit-learn's ``zero_division=0``).

    - ``macro``: unweighted mean of ``F1(c)`` over the labels present in either list.
    - ``micro``: ``2·Σtp / (2·Σtp + Σfp + Σfn)`` over those labels (equals accuracy for
      single-label data).
    - ``binary``: ``F1(positive)``; ``positive`` is required, and only allowed here.
    """
    _check_pair("f1", predicted, expected, "labels")
    if average == "binary":
        if positive is None:
            raise ValueError("f1: average='binary' expected positive=<the positive label>")
        labels: list[Hashable] = [positive]
    elif positive is not None:
        raise ValueError(f"f1: positive= only applies to average='binary', not {average!r}")
    elif average in ("macro", "micro"):
        labels = list(dict.fromkeys([*expected, *predicted]))
    else:
        raise ValueError(f"f1: expected average 'macro', 'micro' or 'binary', got {average!r}")
    counts = []
    for label in labels:
        tp = sum(p == label and e == label for p, e in zip(predicted, expected, strict=True))
        fp = sum(p == label and e != label for p, e in zip(predicted, expected, strict=True))
        fn = sum(e == label and p != label for p, e in zip(predicted, expected, strict=True))
        counts.append((tp, fp, fn))
    if average == "micro":
        return _f1_from_counts(*(sum(column) for column in zip(*counts, strict=True)))
    return sum(_f1_from_counts(*c) for c in counts) / len(counts)


# --- embeddings and retrieval -----------------------------------------------------------------


def _norm(vector: Vector, name: str, what: str) -> float:
    if not vector:
        raise ValueError(f"{name}: expected a non-empty vector, got an empty {what}")
    norm = math.hypot(*vector)
    if norm == 0.0:
        raise ValueError(f"{name}: cosine is undefined for a zero vector ({what} has norm 0)")
    return norm


def _cosine(a: Vector, b: Vector, norm_a: float, norm_b: float, name: str) -> float:
    if len(a) != len(b):
        raise ValueError(
            f"{name}: expected vectors of the same dimension, got {len(a)} and {len(b)}"
        )
    value = math.fsum(x * y for x, y in zip(a, b, strict=True)) / (norm_a * norm_b)
    return max(-1.0, min(1.0, value))  # rounding may step just outside [-1, 1]


def cosine(a: Vector, b: Vector) -> float:
    """``a·b / (|a|·|b|)``, clamped to [-1, 1]; a zero or empty vector raises ``ValueError``."""
    return _cosine(a, b, _norm(a, "cosine", "first"), _norm(b, "cosine", "second"), "cosine")


def mean_cosine(candidates: Sequence[Vector], references: Sequence[Vector]) -> float:
    """Mean over ``i`` of ``cosine(candidates[i], references[i])`` (row-wise, not all pairs)."""
    _check_pair("mean_cosine", candidates, references, "vectors")
    return math.fsum(cosine(c, r) for c, r in zip(candidates, references, strict=True)) / len(
        candidates
    )


def rank_by_cosine(queries: Sequence[Vector], documents: Sequence[Vector]) -> list[list[int]]:
    """For each query, the indices of all ``documents`` by decreasing cosine to that query.

    Ties are broken by the lower document index first, so the result is deterministic. (This is
    stricter than counting ties in favour of the relevant document.)
    """
    if not queries:
        raise ValueError("rank_by_cosine: expected at least one query vector, got none")
    if not documents:
        raise ValueError("rank_by_cosine: expected at least one document vector, got none")
    doc_norms = [_norm(d, "rank_by_cosine", f"document {i}") for i, d in enumerate(documents)]
    rankings = []
    for q_index, query in enumerate(queries):
        q_norm = _norm(query, "rank_by_cosine", f"query {q_index}")
        scores = [
            _cosine(query, doc, q_norm, d_norm, "rank_by_cosine")
            for doc, d_norm in zip(documents, doc_norms, strict=True)
        ]
        rankings.append(sorted(range(len(documents)), key=lambda i: (-scores[i], i)))
    return rankings


def _relevant_sets(
    name: str, rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Any]
) -> list[set[Hashable]]:
    """Each query's relevant ids as a set; a bare id (including a string) is a set of one."""
    _check_pair(name, rankings, relevant, "queries")
    sets = []
    for i, item in enumerate(relevant):
        ids = (
            set(item)
            if isinstance(item, Collection) and not isinstance(item, str | bytes)
            else {item}
        )
        if not ids:
            raise ValueError(f"{name}: expected at least one relevant id for query {i}, got none")
        sets.append(ids)
    return sets


def recall_at_k(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Any], k: int) -> float:
    """Mean over queries of ``|relevant ∩ top k of the ranking| / |relevant|``.

    ``rankings[i]`` is query ``i``'s ranked ids, best first; ``relevant[i]`` its relevant ids (a
    collection) or its one relevant id. With one relevant id per query this is the hit rate:
    the fraction of queries whose relevant id is among the first ``k``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"recall_at_k: expected k to be a positive integer, got {k!r}")
    sets = _relevant_sets("recall_at_k", rankings, relevant)
    return math.fsum(
        len(ids.intersection(ranking[:k])) / len(ids)
        for ranking, ids in zip(rankings, sets, strict=True)
    ) / len(sets)


def mrr(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Any]) -> float:
    """Mean reciprocal rank: mean over queries of ``1 / r``, where ``r`` is the 1-based position
    of the first relevant id in the ranking, and 0.0 for a query whose ranking has none."""
    sets = _relevant_sets("mrr", rankings, relevant)
    return mean_reciprocal_rank(
        [
            next((r for r, id_ in enumerate(ranking, start=1) if id_ in ids), None)
            for ranking, ids in zip(rankings, sets, strict=True)
        ]
    )


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """Mean of ``1 / rank`` over queries, each query's rank being the 1-based position of its
    first relevant id, or None (counted as 0.0) when none was ranked."""
    if not ranks:
        raise ValueError("mean_reciprocal_rank: expected at least one query, got none")
    return math.fsum(1.0 / rank if rank else 0.0 for rank in ranks) / len(ranks)


def hit_rate(ranks: Sequence[int], k: int) -> float:
    """Fraction of queries whose one relevant id is ranked within the first ``k``: recall@k
    when each query has exactly one relevant id."""
    if not ranks:
        raise ValueError("hit_rate: expected at least one query, got none")
    return sum(1 for rank in ranks if rank <= k) / len(ranks)


# --- generation -------------------------------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_text(text: str) -> str:
    """SQuAD answer normalisation: lower-case, drop ASCII punctuation (``string.punctuation``),
    drop the articles a/an/the as whole words, then collapse whitespace to single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(predicted: Sequence[str], expected: Sequence[str], normalise: bool = True) -> float:
    """Fraction of pairs whose strings are equal, after ``normalise_text`` when ``normalise``."""
    _check_pair("exact_match", predicted, expected, "strings")
    same = (
        normalise_text(p) == normalise_text(e) if normalise else p == e
        for p, e in zip(predicted, expected, strict=True)
    )
    return sum(same) / len(expected)


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence (not necessarily contiguous)."""
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def _rouge_l_pair(predicted: str, expected: str, normalise: bool) -> float:
    if normalise:
        predicted, expected = normalise_text(predicted), normalise_text(expected)
    candidate, reference = predicted.split(), expected.split()
    lcs = _lcs_length(candidate, reference)
    if lcs == 0:  # includes either side being empty
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def rouge_l(predicted: Sequence[str], expected: Sequence[str], normalise: bool = True) -> float:
    """ROUGE-L F-measure (Lin 2004, beta = 1), averaged over pairs.

    Per pair, on whitespace tokens (after ``normalise_text`` when ``normalise``): ``P = LCS/len(
    predicted)``, ``R = LCS/len(expected)``, ``F = 2·P·R / (P + R)``; 0.0 when the LCS is empty,
    including when either side has no tokens.
    """
    _check_pair("rouge_l", predicted, expected, "strings")
    scores = [_rouge_l_pair(p, e, normalise) for p, e in zip(predicted, expected, strict=True)]
    return math.fsum(scores) / len(scores)


def perplexity(nll_sums: Sequence[float], token_counts: Sequence[float]) -> float:
    """exp(total negative log-likelihood / total predicted tokens) over every text: the
    perplexity of the whole held-out split, not a mean of per-text perplexities."""
    if len(nll_sums) != len(token_counts):
        raise ValueError(
            f"perplexity: {len(nll_sums)} loss sums but {len(token_counts)} token counts"
        )
    tokens = math.fsum(token_counts)
    if tokens <= 0:
        raise ValueError("perplexity: no token was predicted (every text is under 2 tokens)")
    return math.exp(math.fsum(nll_sums) / tokens)


# --- the table of metric names ----------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """numpy.percentile's default: linear interpolation between the closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("percentile: expected at least one sample, got none")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


Kind = Literal["classification", "retrieval", "embedding", "generation", "language-modeling"]


@dataclass(frozen=True)
class Metric:
    """A metric as manifests name it. ``compute(first, second)`` takes, by kind:
    classification and generation ``(predicted, expected)``; language-modeling
    ``(nll_sums, token_counts)``; retrieval ``(rankings, relevant)``;
    embedding ``(candidates, references)`` (lists of vectors)."""

    name: str
    kind: Kind
    compute: Callable[[Sequence[Any], Sequence[Any]], float]


def _recall_at(k: int) -> Metric:
    return Metric(f"recall_at_{k}", "retrieval", partial(recall_at_k, k=k))


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", "classification", accuracy),
    "f1": Metric("f1", "classification", partial(f1, average="macro")),
    "f1_macro": Metric("f1_macro", "classification", partial(f1, average="macro")),
    "f1_micro": Metric("f1_micro", "classification", partial(f1, average="micro")),
    "recall_at_1": _recall_at(1),
    "recall_at_5": _recall_at(5),
    "mrr": Metric("mrr", "retrieval", mrr),
    "cosine": Metric("cosine", "embedding", mean_cosine),
    "exact_match": Metric("exact_match", "generation", exact_match),
    "rouge_l": Metric("rouge_l", "generation", rouge_l),
    "perplexity": Metric("perplexity", "language-modeling", perplexity),
}

_RECALL_AT = re.compile(r"recall_at_([1-9][0-9]*)")


def metric_for(name: str) -> Metric:
    """The metric called ``name``: an entry of ``METRICS``, or ``recall_at_<k>`` for any k >= 1."""
    if name in METRICS:
        return METRICS[name]
    if match := _RECALL_AT.fullmatch(name):
        return _recall_at(int(match.group(1)))
    known = ", ".join([*METRICS, "recall_at_<k>"])
    raise ValueError(f"unknown metric {name!r}; known metrics: {known}")
