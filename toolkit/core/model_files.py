"""Pure readers of a model snapshot's local files: its JSON files (config.json) and the card.

The architecture is summarised in `architecture` (and `bridges.configs`), the tokenizer files
read in `tokenizer_files`. Nothing here needs huggingface_hub or the network: the files may
come from the HF cache, an installed package or any local directory.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path


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
