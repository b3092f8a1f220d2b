"""One pydantic model per manifest kind, and the table of kinds."""

from __future__ import annotations

from toolkit.manifests.adapter import Adapter
from toolkit.manifests.architecture_decision import ArchitectureDecision
from toolkit.manifests.audit import Audit
from toolkit.manifests.base import API_VERSION, Manifest, Ref
from toolkit.manifests.dataset import Dataset
from toolkit.manifests.deployment import Deployment
from toolkit.manifests.evaluation import Evaluation
from toolkit.manifests.model import Model
from toolkit.manifests.quantization import Quantization
from toolkit.manifests.requirements import Requirements
from toolkit.manifests.runbook import Runbook
from toolkit.manifests.tokenizer import Tokenizer
from toolkit.manifests.training_run import TrainingRun

KINDS: dict[str, type[Manifest]] = {
    model.KIND: model
    for model in (
        Requirements,
        ArchitectureDecision,
        Model,
        Tokenizer,
        Dataset,
        Evaluation,
        Quantization,
        TrainingRun,
        Adapter,
        Runbook,
        Deployment,
        Audit,
    )
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "Adapter",
    "ArchitectureDecision",
    "Audit",
    "Dataset",
    "Deployment",
    "Evaluation",
    "Manifest",
    "Model",
    "Quantization",
    "Ref",
    "Requirements",
    "Runbook",
    "Tokenizer",
    "TrainingRun",
]
