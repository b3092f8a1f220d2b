"""Bridge to `tokenizers` for the checklist's fertility: count the tokens a tokenizer.json
gives a list of texts (special tokens left out). Imported lazily: only `keel checklist` pays."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.bridges.ml import require
from toolkit.core.errors import ManifestError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def count_tokens(tokenizer_json: Path, texts: Sequence[str]) -> int:
    """Tokens `tokenizer_json` splits `texts` into, without special tokens."""
    tokenizers = require("tokenizers")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_json))
    except Exception as error:  # tokenizers raises its own Exception subclass for bad files
        raise ManifestError(
            f"{tokenizer_json}: not a tokenizer.json the tokenizers library reads ({error})"
        ) from None
    # a tokenizer.json may carry padding (sentence-transformers': to the batch's longest) and
    # truncation: counting those would measure the batch, not the text
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return sum(len(encoding.ids) for encoding in encodings)
