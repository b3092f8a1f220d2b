"""Metrics against hand-computed values (arithmetic in the comments), scikit-learn and
brute-force re-implementations."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from toolkit.core.metrics import (
    METRICS,
    accuracy,
    cosine,
    exact_match,
    f1,
    mean_cosine,
    metric_for,
    mrr,
    normalise_text,
    rank_by_cosine,
    recall_at_k,
    rouge_l,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# --- classification ---------------------------------------------------------------------------

EXPECTED = ["cat", "cat", "dog", "dog", "bird"]
PREDICTED = ["cat", "dog", "dog", "dog", "cat"]
# cat:  tp 1 (pos 0), fp 1 (pos 4), fn 1 (pos 1) -> 2·1 / (2 + 1 + 1) = 0.5
# dog:  tp 2 (pos 2, 3), fp 1 (pos 1), fn 0     -> 2·2 / (4 + 1 + 0) = 0.8
# bird: tp 0, fp 0, fn 1 (pos 4)                -> 0 / 1             = 0.0


def test_accuracy() -> None:
    # positions 0, 2, 3 agree -> 3 / 5
    assert accuracy(PREDICTED, EXPECTED) == pytest.approx(0.6)


def test_f1_macro_is_the_unweighted_mean_over_labels() -> None:
    # (0.5 + 0.8 + 0.0) / 3
    assert f1(PREDICTED, EXPECTED) == pytest.approx(1.3 / 3)
    assert f1(PREDICTED, EXPECTED, average="macro") == pytest.approx(1.3 / 3)


def test_f1_micro_pools_the_counts() -> None:
    # Σtp 3, Σfp 2, Σfn 2 -> 6 / (6 + 2 + 2) = 0.6, the accuracy
    assert f1(PREDICTED, EXPECTED, average="micro") == pytest.approx(0.6)


def test_f1_binary_scores_the_positive_label() -> None:
    assert f1(PREDICTED, EXPECTED, average="binary", positive="dog") == pytest.approx(0.8)


def test_f1_macro_counts_labels_only_predicted() -> None:
    # x: tp 1, fn 1 -> 2/3; y (only predicted): fp 1 -> 0; (2/3 + 0) / 2
    assert f1(["x", "y"], ["x", "x"]) == pytest.approx(1 / 3)


def test_f1_zero_over_zero_is_zero() -> None:
    # positive label 1 never appears: tp = fp = fn = 0
    assert f1([0, 0], [0, 0], average="binary", positive=1) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_classification_matches_scikit_learn(seed: int) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    labels = ["a", "b", "c", "d"]
    expected = [rng.choice(labels) for _ in range(40)]
    predicted = [rng.choice(labels[: 1 + seed % 4]) for _ in range(40)]
    assert accuracy(predicted, expected) == pytest.approx(
        sklearn_metrics.accuracy_score(expected, predicted)
    )
    for average in ("macro", "micro"):
        assert f1(predicted, expected, average=average) == pytest.approx(
            sklearn_metrics.f1_score(expected, predicted, average=average, zero_division=0)
        )
    binary_expected = [rng.randint(0, 1) for _ in range(30)]
    binary_predicted = [rng.randint(0, 1) for _ in range(30)]
    assert f1(binary_predicted, binary_expected, average="binary", positive=1) == pytest.approx(
        sklearn_metrics.f1_score(binary_expected, binary_predicted, zero_division=0)
    )


# --- embeddings and retrieval -----------------------------------------------------------------


def test_cosine() -> None:
    assert cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    # 1·4 + 2·5 + 3·6 = 32; |a| = √14, |b| = √77 -> 32 / √1078
    assert cosine([1, 2, 3], [4, 5, 6]) == pytest.approx(32 / math.sqrt(1078))
    assert cosine([1.0, 1.0], [-2.0, -2.0]) == pytest.approx(-1.0)
    assert -1.0 <= cosine([0.1] * 7, [0.3] * 7) <= 1.0  # clamped despite rounding


def test_cosine_rejects_a_zero_vector() -> None:
    with pytest.raises(ValueError, match="undefined for a zero vector"):
        cosine([1.0, 2.0], [0.0, 0.0])


def test_mean_cosine_is_row_wise() -> None:
    # row 0: 1.0; row 1: 0.0 -> 0.5
    assert mean_cosine([[1, 0], [1, 0]], [[2, 0], [0, 3]]) == pytest.approx(0.5)


def test_rank_by_cosine_breaks_ties_by_lower_index() -> None:
    documents = [[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [2.0, 0.0]]
    # cosines to [1, 0]: 0, 1/√2, 1, 1 -> documents 2 and 3 tie; 2 comes first
    assert rank_by_cosine([[1.0, 0.0], [0.0, 5.0]], documents) == [[2, 3, 1, 0], [0, 1, 2, 3]]


RANKINGS = [[3, 1, 2], [2, 3, 1], [1, 2, 3]]
RELEVANT: list[Any] = [1, {2, 3}, [9, 3]]


def test_recall_at_k() -> None:
    # k=1: q0 {3}∩{1} 0/1; q1 {2}∩{2,3} 1/2; q2 {1}∩{9,3} 0/2 -> (0 + 0.5 + 0) / 3
    assert recall_at_k(RANKINGS, RELEVANT, 1) == pytest.approx(1 / 6)
    # k=2: q0 1/1; q1 2/2; q2 0/2 -> 2/3
    assert recall_at_k(RANKINGS, RELEVANT, 2) == pytest.approx(2 / 3)
    # k beyond the ranking: q2 finds 3 but not 9 -> (1 + 1 + 0.5) / 3
    assert recall_at_k(RANKINGS, RELEVANT, 10) == pytest.approx(2.5 / 3)


def test_mrr() -> None:
    # first relevant at 2, 1, 3 -> (1/2 + 1 + 1/3) / 3 = 11/18
    assert mrr(RANKINGS, RELEVANT) == pytest.approx(11 / 18)
    # none found -> 0
    assert mrr([["a", "b"]], ["c"]) == 0.0


def test_a_string_id_is_one_id() -> None:
    assert recall_at_k([["doc2", "doc1"]], ["doc1"], 1) == 0.0
    assert mrr([["doc2", "doc1"]], ["doc1"]) == 0.5


def _brute_recall(rankings: list[list[int]], relevant: list[set[int]], k: int) -> float:
    scores = []
    for ranking, ids in zip(rankings, relevant, strict=True):
        found = 0
        for position in range(min(k, len(ranking))):
            if ranking[position] in ids:
                found += 1
        scores.append(found / len(ids))
    return sum(scores) / len(scores)


def _brute_mrr(rankings: list[list[int]], relevant: list[set[int]]) -> float:
    total = 0.0
    for ranking, ids in zip(rankings, relevant, strict=True):
        for position, id_ in enumerate(ranking):
            if id_ in ids:
                total += 1 / (position + 1)
                break
    return total / len(rankings)


@pytest.mark.parametrize("seed", range(5))
def test_retrieval_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    rankings = [rng.sample(range(10), 10) for _ in range(20)]
    relevant = [set(rng.sample(range(12), rng.randint(1, 3))) for _ in range(20)]
    for k in (1, 3, 5, 10):
        assert recall_at_k(rankings, relevant, k) == pytest.approx(
            _brute_recall(rankings, relevant, k)
        )
    assert mrr(rankings, relevant) == pytest.approx(_brute_mrr(rankings, relevant))


def test_rank_by_cosine_feeds_recall() -> None:
    queries = [[1.0, 0.1], [0.0, 1.0]]
    documents = [[1.0, 0.0], [0.1, 1.0], [1.0, 1.0]]
    rankings = rank_by_cosine(queries, documents)
    # q0 -> doc 0 first; q1 -> doc 1 first
    assert recall_at_k(rankings, [0, 1], 1) == 1.0
    assert mrr(rankings, [2, 2]) == pytest.approx(0.5)  # doc 2 is second for both


# --- generation -------------------------------------------------------------------------------


def test_normalise_text_is_squad_style() -> None:
    assert normalise_text("  The  quick, brown FOX -- an apple! ") == "quick brown fox apple"
    assert normalise_text("Theatre") == "theatre"  # articles only as whole words


def test_exact_match() -> None:
    predicted = ["The Cat!", "a  dog", "Paris"]
    expected = ["cat", "dog", "London"]
    assert exact_match(predicted, expected) == pytest.approx(2 / 3)
    assert exact_match(predicted, expected, normalise=False) == 0.0


def test_rouge_l_lin_2004_examples() -> None:
    reference = "police killed the gunman"
    # S2 "police kill the gunman": LCS "police the gunman" = 3; P = R = 3/4 -> 0.75
    assert rouge_l(["police kill the gunman"], [reference], normalise=False) == 0.75
    # S3 "the gunman kill police": LCS "the gunman" = 2; P = R = 2/4 -> 0.5
    assert rouge_l(["the gunman kill police"], [reference], normalise=False) == 0.5
    # averaged over both pairs: (0.75 + 0.5) / 2
    pairs = (["police kill the gunman", "the gunman kill police"], [reference] * 2)
    assert rouge_l(*pairs, normalise=False) == pytest.approx(0.625)
    # normalised, "the" goes: S2 LCS "police gunman" = 2 of 3 -> 2/3; S3 LCS 1 of 3 -> 1/3
    assert rouge_l(*pairs) == pytest.approx(0.5)


def test_rouge_l_unequal_lengths() -> None:
    # candidate "cat sat mat" (3), reference "cat sat on mat today" (5); LCS 3
    # P = 1, R = 3/5 -> 2 · 1 · 0.6 / 1.6 = 0.75
    assert rouge_l(["cat sat mat"], ["cat sat on mat today"]) == pytest.approx(0.75)


def test_rouge_l_without_tokens_is_zero() -> None:
    assert rouge_l(["the"], ["a"]) == 0.0  # both normalise to nothing
    assert rouge_l(["x"], ["y"]) == 0.0


def _brute_lcs(first: list[str], second: list[str]) -> int:
    for size in range(min(len(first), len(second)), 0, -1):
        subsequences = set(itertools.combinations(second, size))
        if any(c in subsequences for c in itertools.combinations(first, size)):
            return size
    return 0


@pytest.mark.parametrize("seed", range(10))
def test_rouge_l_matches_brute_force_lcs(seed: int) -> None:
    rng = random.Random(seed)
    first = [rng.choice("xyzw") for _ in range(rng.randint(1, 7))]
    second = [rng.choice("xyzw") for _ in range(rng.randint(1, 7))]
    lcs = _brute_lcs(first, second)
    p, r = lcs / len(first), lcs / len(second)
    expected = 2 * p * r / (p + r) if lcs else 0.0
    assert rouge_l([" ".join(first)], [" ".join(second)]) == pytest.approx(expected)


# --- validation -------------------------------------------------------------------------------

INVALID: list[tuple[str, Callable[[], object], str]] = [
    ("empty", lambda: accuracy([], []), "accuracy: expected at least one pair of labels"),
    ("lengths", lambda: f1([1], [1, 2]), "f1: expected the same number of labels.*1 and 2"),
    ("binary", lambda: f1([1], [1], average="binary"), "expected positive="),
    ("positive", lambda: f1([1], [1], positive=1), "only applies to average='binary'"),
    ("average", lambda: f1([1], [1], average="weighted"), "got 'weighted'"),  # type: ignore[arg-type]
    ("dimension", lambda: cosine([1.0], [1.0, 2.0]), "same dimension, got 1 and 2"),
    ("no vector", lambda: cosine([], [1.0]), "non-empty vector"),
    ("rows", lambda: mean_cosine([[1.0]], []), "same number of vectors"),
    ("no documents", lambda: rank_by_cosine([[1.0]], []), "at least one document"),
    ("zero doc", lambda: rank_by_cosine([[1.0]], [[1.0], [0.0]]), "document 1 has norm 0"),
    ("k", lambda: recall_at_k([[1]], [1], 0), "positive integer, got 0"),
    ("no relevant", lambda: mrr([[1], [2]], [1, set()]), "relevant id for query 1"),
    ("queries", lambda: mrr([[1]], [1, 2]), "same number of queries"),
    ("string", lambda: exact_match("abc", "abc"), "got a single string"),
    ("strings", lambda: rouge_l(["a"], []), "same number of strings"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_inputs_raise_one_line_value_errors(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# --- the table of names -----------------------------------------------------------------------


def test_metric_for_resolves_manifest_names() -> None:
    for name in ("recall_at_1", "recall_at_5", "mrr", "cosine", "accuracy", "rouge_l"):
        assert metric_for(name).name == name
    assert all(metric.name == name for name, metric in METRICS.items())


def test_metric_for_computes() -> None:
    assert metric_for("recall_at_2").compute(RANKINGS, RELEVANT) == pytest.approx(2 / 3)
    assert metric_for("recall_at_10").compute(RANKINGS, RELEVANT) == pytest.approx(2.5 / 3)
    assert metric_for("mrr").compute(RANKINGS, RELEVANT) == pytest.approx(11 / 18)
    assert metric_for("f1").compute(PREDICTED, EXPECTED) == pytest.approx(1.3 / 3)
    assert metric_for("f1_macro").compute(PREDICTED, EXPECTED) == pytest.approx(1.3 / 3)
    assert metric_for("f1_micro").compute(PREDICTED, EXPECTED) == pytest.approx(0.6)
    assert metric_for("cosine").compute([[1, 0]], [[1, 1]]) == pytest.approx(1 / math.sqrt(2))
    assert metric_for("exact_match").compute(["The cat"], ["cat."]) == 1.0
    assert metric_for("rouge_l").kind == "generation"


@pytest.mark.parametrize("name", ["recall_at_0", "recall_at_", "bleu", "F1"])
def test_metric_for_names_the_known_metrics(name: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown metric '{name}'; known metrics: accuracy, f1"):
        metric_for(name)


def test_import_is_light() -> None:
    heavy = ["numpy", "torch", "pydantic", "click"]
    code = (
        "import sys, toolkit.core.metrics; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
