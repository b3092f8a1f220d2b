"""A tokenizer's chat template, read as transformers loads it, and its digest.

The rule (transformers' `PreTrainedTokenizerBase.from_pretrained`, read without importing it):

- `chat_template.jinja` beside the tokenizer, when there is one, is the template: its text read
  as UTF-8 with universal newlines (what `open(path, encoding="utf-8").read()` gives, so a
  CRLF file and an LF file load the same);
- else `tokenizer_config.json`'s `chat_template`: a string is the template; a list of
  `{name, template}` is a set of named templates;
- each `additional_chat_templates/NAME.jinja` adds a named template (the main one is then
  named `default`).

The digest is `sha256:` of the UTF-8 bytes of a single template; of named templates, of their
JSON (keys sorted, no spaces, non-ASCII kept). The same function digests the loaded
tokenizer's `chat_template` attribute (a string or a dict), so `keel pin` and
`keel reproduce` stage 3 agree by construction.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path

TEMPLATE_FILE = "chat_template.jinja"
TEMPLATE_DIR = "additional_chat_templates"


def _text(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:  # universal newlines, as transformers reads it
        return handle.read()


def chat_template(files: dict[str, Path]) -> str | dict[str, str] | None:
    """The template the tokenizer in `files` ({path relative to its folder: path}) loads, or
    None when it has none."""
    named: dict[str, str] = {}
    if TEMPLATE_FILE in files:
        named["default"] = _text(files[TEMPLATE_FILE])
    for relative in sorted(files):
        folder, _, name = relative.rpartition("/")
        if folder == TEMPLATE_DIR and name.endswith(".jinja"):
            named[name.removesuffix(".jinja")] = _text(files[relative])
    if not named and "tokenizer_config.json" in files:
        try:
            settings = json.loads(_text(files["tokenizer_config.json"]))
        except ValueError as error:
            raise ManifestError(f"tokenizer_config.json: not JSON ({error})") from None
        found = settings.get("chat_template") if isinstance(settings, dict) else None
        if isinstance(found, str):
            return found
        if isinstance(found, list):
            return {str(t["name"]): str(t["template"]) for t in found if isinstance(t, dict)}
    if list(named) == ["default"]:
        return named["default"]
    return named or None


def template_digest(template: Any) -> str | None:
    """`sha256:<hex>` of a template (a string, or a dict of named ones); None for none."""
    if isinstance(template, str):
        data = template.encode("utf-8")
    elif isinstance(template, dict) and template:
        text = json.dumps(template, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        data = text.encode("utf-8")
    else:
        return None
    return f"sha256:{hashlib.sha256(data).hexdigest()}"
