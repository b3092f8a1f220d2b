"""Architecture summaries read through transformers' own config classes.

`AutoConfig.for_model(model_type, **config.json)` gives each family's effective defaults
(LlamaConfig is untied unless config.json says otherwise), its `attribute_map` resolves the
family's names (T5's `d_model`, BART's `encoder_layers`), and `get_text_config()` finds the
language model inside a multimodal config (Gemma 3's `text_config`). The resolved values are
classified by `toolkit.core.architecture.summary`, the same rules keel's own reader uses when
transformers is not installed. A model_type transformers does not know (remote code) is read
by keel's own reader.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any

from toolkit.core import architecture
from toolkit.core.errors import ManifestError, MissingExtraError

# values some config classes compute (FunnelConfig's layers are the sum of its block sizes)
_PROPERTIES = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size")

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from transformers import PretrainedConfig


def summarise(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The Model's camelCase `architecture` of a config.json's values, through transformers.

    Raises MissingExtraError without transformers (the caller falls back to keel's reader) and
    ManifestError for a config transformers refuses or that is no text model's.
    """
    loaded = load(config, where)
    if loaded is None:
        return architecture.architecture(config, where)
    return summarise_config(loaded, where, quantization=config.get("quantization_config"))


def load(config: Mapping[str, Any], where: str) -> PretrainedConfig | None:
    """transformers' config object for config.json's values; None for an unknown model_type."""
    try:
        from transformers import AutoConfig
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        raise MissingExtraError("transformers") from None
    family = config.get("model_type")
    if not isinstance(family, str) or not family:
        raise ManifestError(f"{where}: no model_type; keel reads the architecture of its family")
    if family not in CONFIG_MAPPING_NAMES:
        return None
    values = {key: value for key, value in config.items() if key != "model_type"}
    with _quiet():
        try:
            return AutoConfig.for_model(family, **values)
        except Exception as error:  # noqa: BLE001 - any config class's own validation error
            raise ManifestError(f"{where}: transformers refuses this {family} config: "
                                f"{_first_line(error)}") from None  # fmt: skip


def summarise_config(
    config: PretrainedConfig, where: str, *, quantization: Any = None
) -> dict[str, Any]:
    """The summary of a loaded config object (what the family sweep test feeds directly)."""
    with _quiet():
        encoder, text = _parts(config, where)
        values = resolved(text)
        encoder_values = resolved(encoder) if encoder is not None else None
    values["model_type"] = config.model_type
    tied = getattr(config, "tie_word_embeddings", None)
    if isinstance(tied, bool):
        values["tie_word_embeddings"] = tied
    values["is_encoder_decoder"] = text is config and bool(config.is_encoder_decoder)
    if quantization is None:
        quantization = values.get("quantization_config")
    values["quantization_config"] = _plain(quantization)
    summary = architecture.summary(values, where, source="transformers")
    if encoder_values is not None:  # EncoderDecoderConfig, T5Gemma, MusicGen: two configs
        summary["encoder"] = architecture.stack(encoder_values, where)
        summary["decoder"] = architecture.stack(values, where)
    return summary


def _parts(config: PretrainedConfig, where: str) -> tuple[Any, Any]:
    """(encoder config or None, the config of the stack that produces the output).

    A flat encoder-decoder config (T5, BART) is summarised whole: its decoder view would copy
    the decoder's sizes over the encoder's. One made of two configs gives both; a multimodal
    one its language model.
    """
    try:
        if "decoder" in (getattr(config, "sub_configs", None) or {}):
            encoder = getattr(config, "encoder", None) or getattr(config, "text_encoder", None)
            encoder = encoder.get_text_config() if encoder is not None else None
            return encoder, config.decoder.get_text_config(decoder=True)
        if getattr(config, "is_encoder_decoder", False):
            return None, config
        return None, config.get_text_config(decoder=True)
    except Exception as error:  # noqa: BLE001 - composite configs validate their parts
        raise ManifestError(f"{where}: {_first_line(error)}") from None


def resolved(config: PretrainedConfig) -> dict[str, Any]:
    """The config's values with every `attribute_map` alias resolved to its effective value."""
    values = config.to_dict()
    for alias in (*(getattr(config, "attribute_map", {}) or {}), *_PROPERTIES):
        with contextlib.suppress(Exception):  # per-layer values refuse one global answer
            values[alias] = getattr(config, alias)
    return values


def _plain(value: Any) -> Any:
    """A quantization config object (transformers may hold one) as its dict."""
    if value is None or isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Neither transformers' logging nor its warnings reach keel's output."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.set_verbosity(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
