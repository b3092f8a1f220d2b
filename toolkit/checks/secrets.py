"""keel-no-secrets as a check family, for callers that already load `toolkit.checks`.

The implementation lives in `toolkit.workflows.secrets`: this package's `__init__` imports
the pydantic-based checks, and `keel secrets` must start without pydantic.
"""

from toolkit.workflows.secrets import DETECTORS, ScanResult, Skipped, scan, scan_text

__all__ = ["DETECTORS", "ScanResult", "Skipped", "scan", "scan_text"]
