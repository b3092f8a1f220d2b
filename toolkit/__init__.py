"""keel: versioned, schema-checked manifests for transformer model deployments."""

__version__ = "0.1.0"
