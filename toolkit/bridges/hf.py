"""Bridge to Hugging Face: the local hub cache, the hub's file metadata, and snapshot formats.

huggingface_hub is imported inside the functions that need it, so only `keel pin` pays for
it, and only `check_remote` (behind `keel pin --remote`) ever reaches the network.

The cache stores each file once, as `blobs/<etag>`, and each revision as a tree of symlinks
under `snapshots/<commit>/`. A blob's name is the hub's etag: the sha256 of the bytes for LFS
files, git's blob sha1 for the rest; both are checked against the bytes before they are pinned.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ChecksumError, ManifestError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from huggingface_hub import CachedRepoInfo, CachedRevisionInfo

COMMIT = re.compile(r"^[0-9a-f]{40}$")
LFS_ETAG = re.compile(r"^[0-9a-f]{64}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotFile:
    """One file to pin: where it is read from, its path in the repository, its cache blob."""

    relative: str
    path: Path
    blob: str | None = None
    """Name of the cache blob the snapshot links to (the hub's etag), if it links to one."""


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    revision: str
    path: Path
    files: tuple[SnapshotFile, ...]


def snapshot_location(path: Path) -> tuple[Path, str, str] | None:
    """(cache dir, repo id, commit) when `path` is `<cache>/models--ORG--NAME/snapshots/<sha>`."""
    snapshots, repo = path.parent, path.parent.parent
    if not (COMMIT.match(path.name) and snapshots.name == "snapshots"):
        return None
    if not repo.name.startswith("models--"):
        return None
    return repo.parent, repo.name.removeprefix("models--").replace("--", "/"), path.name


def default_cache_dir() -> Path:
    """huggingface_hub's own default, which honours HF_HUB_CACHE and HF_HOME."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def find_snapshot(cache_dir: Path, repo_id: str, revision: str) -> Snapshot:
    """The cached snapshot of model `repo_id` at `revision` (a commit or a ref); never downloads."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except (CacheNotFound, ValueError) as error:
        raise UsageError(
            f"{cache_dir}: no Hugging Face cache there ({error}); pass --cache-dir or set "
            "HF_HUB_CACHE"
        ) from None
    repo = next((r for r in info.repos if r.repo_type == "model" and r.repo_id == repo_id), None)
    if repo is None:
        folder = "models--" + repo_id.replace("/", "--")
        damaged = [str(w) for w in info.warnings if folder in str(w)]
        if damaged:
            raise ChecksumError(
                f"{repo_id}: its HF cache entry is damaged ({damaged[0]}); "
                f"download it again (`hf download {repo_id}`)"
            )
        raise UsageError(
            f"{repo_id} is not in the HF cache at {cache_dir}; keel pin never downloads: "
            f"run `hf download {repo_id}` first, or pass --cache-dir"
        )
    chosen = _revision(repo, revision)
    files = [
        SnapshotFile(
            f.file_path.relative_to(chosen.snapshot_path).as_posix(),
            f.file_path,
            f.blob_path.name if f.blob_path.parent.name == "blobs" else None,
        )
        for f in chosen.files
    ]
    return Snapshot(
        repo_id,
        chosen.commit_hash,
        chosen.snapshot_path,
        tuple(sorted(files, key=lambda f: f.relative)),
    )


def _revision(repo: CachedRepoInfo, revision: str) -> CachedRevisionInfo:
    by_commit = {r.commit_hash: r for r in repo.revisions}
    refs = repo.refs
    found = by_commit.get(revision) or refs.get(revision)
    if found is not None:
        return found
    known = [*sorted(refs), *sorted(c[:12] for c in by_commit)]
    raise UsageError(
        f"--revision {revision}: {repo.repo_id} has no such ref or commit in the HF cache "
        f"(it has: {', '.join(known) or 'nothing'}); download that revision first"
    )


def git_blob_sha1(path: Path) -> str:
    """git's object id of the file's bytes: sha1 of `blob <size>\\0` and the bytes."""
    with path.open("rb") as handle:
        data = handle.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_blob(file: SnapshotFile, sha256: str) -> bool:
    """Check the bytes against the blob's name (the hub's etag). False when there is nothing
    to check against (the snapshot holds a copy, not a link to a named blob)."""
    if file.blob is None:
        return False
    if LFS_ETAG.match(file.blob):
        if sha256 != file.blob:
            raise ChecksumError(
                f"{file.relative}: the HF cache blob is named {file.blob} (the hub's sha256) but "
                f"its bytes hash to {sha256}; the cache is corrupt: delete this revision "
                "(`hf cache delete`) and download it again"
            )
        return True
    if COMMIT.match(file.blob):
        oid = git_blob_sha1(file.path)
        if oid != file.blob:
            raise ChecksumError(
                f"{file.relative}: the HF cache blob is named {file.blob} (git's blob sha1) but "
                f"its bytes give {oid}; the cache is corrupt: delete this revision "
                "(`hf cache delete`) and download it again"
            )
        return True
    return False


def check_remote(repo_id: str, revision: str, files: Mapping[str, tuple[Path, str]]) -> int:
    """Compare {relative path: (local path, sha256)} with the hub's record of `revision`,
    without downloading: LFS files by sha256, the rest by git blob sha1. Returns how many."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    except OfflineModeIsEnabled:
        raise UsageError(
            "--remote needs the hub, but HF_HUB_OFFLINE is set; unset it or drop --remote"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise UsageError(f"--remote: the hub has no {repo_id} at {revision}: {error}") from None
    except (HfHubHTTPError, OSError) as error:
        raise UsageError(f"--remote: cannot reach the hub ({error}); retry later") from None
    siblings = {s.rfilename: s for s in info.siblings or []}
    for relative, (path, sha256) in files.items():
        sibling = siblings.get(relative)
        if sibling is None:
            raise ChecksumError(
                f"{relative}: not in {repo_id} at {revision[:12]} on the hub, but in the local "
                "snapshot; the cache is not what the hub published"
            )
        if sibling.lfs is not None:
            expected, found = sibling.lfs.sha256, sha256
        elif sibling.blob_id:
            expected, found = sibling.blob_id, git_blob_sha1(path)
        else:
            raise UsageError(f"--remote: the hub sent no checksum for {relative}; retry later")
        if expected != found:
            raise ChecksumError(
                f"{relative}: the hub records {expected} for {repo_id} at {revision[:12]}, the "
                f"local copy has {found}; delete it from the cache and download it again"
            )
    return len(files)


TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
        "tokenizer.model",
        "spiece.model",
        "sentencepiece.bpe.model",
    }
)
SENTENCEPIECE_FILES = ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
ALGORITHMS = ("BPE", "WordPiece", "Unigram", "WordLevel")
# transformers writes int(1e30) as model_max_length when the tokenizer sets no limit
_NO_LIMIT = 10**12
# families that use rotary embeddings even when an old config.json has no rope_* key
_ROTARY_FAMILIES = frozenset(
    {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi", "phi3",
     "gpt_neox", "gptj", "falcon", "stablelm", "starcoder2", "olmo", "cohere", "roformer"}
)  # fmt: skip
_ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters", "rotary_pct", "rotary_emb_base")
_MISSING: Any = object()


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    return data


def readme_license(path: Path) -> str | None:
    """`license:` of a model card's YAML front matter (`license_name:` when it is 'other')."""
    import yaml

    match = re.match(
        r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)",
        path.read_text("utf-8", errors="replace"),
        re.S,
    )
    try:
        card = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return None
    if not isinstance(card, dict):
        return None
    value = card.get("license")
    if value == "other" and isinstance(card.get("license_name"), str):
        value = card["license_name"]
    if isinstance(value, list) and value:
        value = value[0]
    return value.strip() if isinstance(value, str) and value.strip() else None


def architecture(config: dict[str, Any], where: Path) -> dict[str, Any]:
    """The manifest's `architecture` (camelCase) from a text model's flat config.json."""

    def first(*keys: str, default: Any = _MISSING) -> Any:
        for key in keys:
            if config.get(key) is not None:
                return config[key]
        if default is _MISSING:
            raise ManifestError(
                f"{where}: no {' or '.join(keys)}; keel pin reads the architecture from the flat "
                "config.json of a text model"
            )
        return default

    heads = first("num_attention_heads", "n_head", "num_heads")
    return {
        "modelType": first("model_type"),
        "hiddenSize": first("hidden_size", "n_embd", "d_model"),
        "numLayers": first("num_hidden_layers", "n_layer", "num_layers"),
        "numAttentionHeads": heads,
        "numKeyValueHeads": first("num_key_value_heads", default=heads),
        "vocabSize": first("vocab_size"),
        "maxPositionEmbeddings": first("max_position_embeddings", "n_positions", "max_seq_len"),
        "positionEncoding": _position_encoding(config, where),
        "norm": "RMSNorm" if "rms_norm_eps" in config else "LayerNorm",
        "activation": first("hidden_act", "hidden_activation", "activation_function"),
        "tiedEmbeddings": bool(first("tie_word_embeddings", default=True)),  # as transformers
    }


def _position_encoding(config: dict[str, Any], where: Path) -> str:
    if config.get("alibi") or config.get("model_type") in ("bloom", "mpt"):
        return "alibi"
    if any(config.get(key) is not None for key in _ROPE_KEYS):
        return "rotary"
    kind = config.get("position_embedding_type")
    if kind is None:
        return "rotary" if config.get("model_type") in _ROTARY_FAMILIES else "absolute"
    if kind in ("absolute", "rotary"):
        return str(kind)
    if str(kind).startswith("relative"):
        return "relative"
    raise ManifestError(f"{where}: position_embedding_type '{kind}' is not one keel knows")


def tokenizer_summary(files: dict[str, Path], config: dict[str, Any]) -> dict[str, Any]:
    """algorithm, vocabSize, maxLength, paddingSide and specialTokens (camelCase), read from the
    top-level tokenizer files {file name: path} and the model's config.json.

    vocabSize is the number of ids the tokenizer can emit: its model's vocabulary plus added
    tokens (transformers' `len(tokenizer)`). It equals config.json's vocab_size unless the
    model pads its embedding matrix, whose size the Model records as architecture.vocabSize.
    """
    tokenizer = read_json(files["tokenizer.json"]) if "tokenizer.json" in files else None
    settings = read_json(files["tokenizer_config.json"]) if "tokenizer_config.json" in files else {}
    special = (
        read_json(files["special_tokens_map.json"]) if "special_tokens_map.json" in files else {}
    )
    side = settings.get("padding_side") or "right"
    if side not in ("left", "right"):
        raise ManifestError(f"tokenizer_config.json: padding_side '{side}' is not left or right")
    return {
        "algorithm": _algorithm(tokenizer, files),
        "vocabSize": _vocab_size(tokenizer, files, config),
        "maxLength": _max_length(settings, config),
        "paddingSide": side,
        "specialTokens": _special_tokens(settings, special),
    }


def _algorithm(tokenizer: dict[str, Any] | None, files: dict[str, Path]) -> str:
    if tokenizer is not None:
        kind = (tokenizer.get("model") or {}).get("type")
        return kind if kind in ALGORITHMS else "other"
    if any(name in files for name in SENTENCEPIECE_FILES):
        return "SentencePiece"
    if "merges.txt" in files:
        return "BPE"
    return "WordPiece" if "vocab.txt" in files else "other"


def _vocab_size(
    tokenizer: dict[str, Any] | None, files: dict[str, Path], config: dict[str, Any]
) -> int:
    ids: set[int] = set()
    if tokenizer is not None:
        vocab = (tokenizer.get("model") or {}).get("vocab")
        ids = set(vocab.values()) if isinstance(vocab, dict) else set(range(len(vocab or [])))
        ids |= {t["id"] for t in tokenizer.get("added_tokens") or [] if isinstance(t, dict)}
    elif "vocab.json" in files:
        ids = set(read_json(files["vocab.json"]).values())
        if "added_tokens.json" in files:
            ids |= set(read_json(files["added_tokens.json"]).values())
    elif "vocab.txt" in files:
        ids = set(range(len(files["vocab.txt"].read_text("utf-8").splitlines())))
    if ids:
        return len(ids)
    size = config.get("vocab_size")
    if not isinstance(size, int):
        raise ManifestError("no tokenizer vocabulary and no vocab_size in config.json")
    return size


def _max_length(settings: dict[str, Any], config: dict[str, Any]) -> int:
    limit = settings.get("model_max_length")
    if isinstance(limit, int | float) and 0 < limit < _NO_LIMIT:
        return int(limit)
    fallback = config.get("max_position_embeddings") or config.get("n_positions")
    if not isinstance(fallback, int):
        raise ManifestError(
            "tokenizer_config.json sets no model_max_length and config.json no "
            "max_position_embeddings; keel pin cannot tell the longest input"
        )
    return fallback


def _special_tokens(settings: dict[str, Any], special: dict[str, Any]) -> dict[str, str]:
    """Role (without `_token`) to token, from tokenizer_config.json then special_tokens_map.json."""
    found: dict[str, str] = {}
    for source in (settings, special):
        for key, value in source.items():
            if not key.endswith("_token"):
                continue
            content = value.get("content") if isinstance(value, dict) else value
            if isinstance(content, str):
                found[key.removesuffix("_token")] = content
    return dict(sorted(found.items()))
