"""Dataset: data used to train, evaluate or canary-test a model, pinned by sha256."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.manifests.base import ArtifactFiles, Integer, Manifest, NonEmpty, Strict


class Provenance(Strict):
    origin: NonEmpty = Field(description="Where the rows came from and how they were selected.")
    collected: str | None = Field(default=None, description="When, e.g. '2026-Q3'.")


class DatasetSpec(ArtifactFiles):
    purpose: Literal["train", "eval", "canary", "holdout"]
    format: Literal["jsonl", "csv", "parquet", "text"] = "jsonl"
    rows: Integer = Field(ge=0, description="Number of rows (examples) across all files.")
    license: NonEmpty
    provenance: Provenance
    contains_pii: bool = Field(description="Does any row hold personal data?")


class Dataset(Manifest):
    KIND = "Dataset"
    kind: Literal["Dataset"]
    spec: DatasetSpec
