"""The kinds of secret `keel secrets` looks for: one `Detector` each, in the table `DETECTORS`.

A detector is a compiled pattern whose named group `body` is the random part a finding's
preview abbreviates, the lower-case literals (`hints`) one of which a file must contain
before the pattern runs at all, and an optional `accept` test that weeds out look-alikes
(a commit sha is not an AWS secret key, prose after "Bearer" is not a token). The scan
itself, line numbers and redaction live in `toolkit.workflows.validation.secrets`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Detector:
    """One kind of secret. `body` (a named group) is the random part the preview abbreviates."""

    name: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    """Lower-case literals, one of which the file must contain for the pattern to run."""
    noun: str = "token"
    accept: Callable[[str, str], bool] | None = None
    """(body, line) -> whether a match is really this secret; None accepts every match."""


def _looks_random(body: str, line: str) -> bool:
    """A digit, or both cases: true of real tokens, false of prose and PLACEHOLDER_NAMES."""
    has_lower = any(c.islower() for c in body)
    has_upper = any(c.isupper() for c in body)
    return any(c.isdigit() for c in body) or (has_lower and has_upper)


def entropy(text: str) -> float:
    """Shannon entropy in bits per character: about 4.5 and up for random base64 of 20+
    characters, 3 or less for words and repeated placeholders."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


_REFERENCE = re.compile(
    r"^(?:\$|<|%|\{\{|env\.|secrets\.|vault:|arn:)|(?:x{6}|\*{4}|changeme|example)", re.I
)


def _high_entropy(body: str, line: str) -> bool:
    """A generic `*_SECRET=value`: random-looking (a digit or both cases, 3.5 bits a character
    or more) and not a reference to where the secret lives (`$VAR`, `${{ secrets.X }}`, ...)."""
    return _REFERENCE.search(body) is None and _looks_random(body, line) and entropy(body) >= 3.5


def _not_a_placeholder(body: str, line: str) -> bool:
    """Not AWS's documented example (`...EXAMPLE`) nor a row of X."""
    return not body.endswith("EXAMPLE") and set(body) != {"X"}


def _varied(body: str, line: str) -> bool:
    """More than a repeated character or two (`AIzaaaaa...`)."""
    return entropy(body) >= 3.0


_AWS_CONTEXT = re.compile(r"aws|secret", re.IGNORECASE)
# Assignment forms: `NAME=value`, `NAME: value`, `"NAME": "value"`, `export NAME=value`,
# `--name value`; the value optionally quoted. Used after a name that says what follows.
_ASSIGN = r"""[A-Za-z0-9_.-]*["']?\s*(?:[:=]|:=|=>|\s)\s*["']?"""


def _aws_secret(body: str, line: str) -> bool:
    # 40 base64 characters on a line that says aws or secret. Real keys have both cases and
    # almost surely a digit, / or +; a 40-hex commit sha (one case, no / or +) never passes.
    return (
        _AWS_CONTEXT.search(line) is not None
        and any(c.islower() for c in body)
        and any(c.isupper() for c in body)
        and any(c.isdigit() or c in "/+" for c in body)
    )


# Most specific first: where two matches overlap (`Bearer hf_...`), the first one listed wins.
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private-key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        ("private key",),
        noun="key",
    ),
    # Hugging Face user access tokens: hf_ and 34 letters and digits (30 allows older ones).
    Detector(
        "hf-token",
        re.compile(r"(?<![A-Za-z0-9])hf_(?P<body>[A-Za-z0-9]{30,37})(?![A-Za-z0-9])"),
        ("hf_",),
    ),
    # Classic (ghp_, gho_, ghu_, ghs_, ghr_ + 36) and fine-grained (github_pat_ + 82) tokens.
    Detector(
        "github-token",
        re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]|github_pat)_(?P<body>[A-Za-z0-9_]{36,})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    # Not the bare `sk-[A-Za-z0-9]{20,}`: `sk-` also starts slugs and ids, and every key
    # OpenAI issues has a sure sign: a project, service-account or admin prefix, or, for
    # legacy user keys, "T3BlbkFJ" (base64 of "OpenAI") after 20 characters.
    Detector(
        "openai-key",
        re.compile(
            r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-|(?=[A-Za-z0-9]{20}T3BlbkFJ))"
            r"(?P<body>[A-Za-z0-9_-]{20,})"
        ),
        ("sk-",),
        noun="key",
    ),
    Detector(
        "anthropic-key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-ant-(?:api|admin)\d\d-(?P<body>[A-Za-z0-9_-]{20,})"),
        ("sk-ant-",),
        noun="key",
    ),
    # Access key ids of long-term (AKIA) and temporary (ASIA) credentials, and the other
    # unique-id prefixes AWS documents (as detect-secrets and gitleaks list them).
    Detector(
        "aws-access-key-id",
        re.compile(
            r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)"
            r"(?P<body>[0-9A-Z]{16})(?![A-Za-z0-9])"
        ),
        ("akia", "asia", "a3t", "abia", "acca", "agpa", "aida", "aroa", "aipa", "anpa", "anva"),
        noun="key",
        accept=_not_a_placeholder,
    ),
    Detector(
        "aws-secret-access-key",
        re.compile(r"(?<![A-Za-z0-9/+=_-])(?P<body>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_-])"),
        ("aws", "secret"),
        noun="key",
        accept=_aws_secret,
    ),
    # AWS_SECRET_ACCESS_KEY=..., aws_secret_access_key = ..., "SecretAccessKey": "..."
    Detector(
        "aws-secret-access-key",
        re.compile(
            r"(?i:aws_?secret_?access_?key|secret_?access_?key|aws_?secret_?key)"
            + _ASSIGN
            + r"(?P<body>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        ("secret",),
        noun="key",
    ),
    # GitLab personal, project and group access tokens, and runner / deploy tokens.
    Detector(
        "gitlab-token",
        re.compile(r"(?<![A-Za-z0-9])(?:glpat|gldt|glrt|glptt|gloas)-(?P<body>[A-Za-z0-9_-]{20,})"),
        ("glpat-", "gldt-", "glrt-", "glptt-", "gloas-"),
        accept=_looks_random,
    ),
    # Slack bot, user, app and configuration tokens, and incoming webhooks.
    Detector(
        "slack-token",
        re.compile(r"(?<![A-Za-z0-9])xox[abposre]-(?P<body>[0-9A-Za-z-]{20,})"),
        ("xox",),
        accept=_looks_random,
    ),
    Detector(
        "slack-webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows)/(?P<body>[A-Za-z0-9+/_-]{20,})"),
        ("hooks.slack.com",),
        noun="webhook URL",
    ),
    # Google Cloud API keys (AIza + 35); service-account keys are found by their private key.
    Detector(
        "gcp-api-key",
        re.compile(r"(?<![A-Za-z0-9_-])AIza(?P<body>[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])"),
        ("aiza",),
        noun="key",
        accept=_varied,
    ),
    # Azure storage account keys (86 base64 + ==) in connection strings or alone after a name,
    # and Entra ID (AD) client secrets: 3 characters, a digit, Q~, then 31 to 34 more.
    Detector(
        "azure-storage-key",
        re.compile(
            r"(?i:accountkey|sharedaccesskey|storage_?key|azure_?key)"
            + _ASSIGN
            + r"(?P<body>[A-Za-z0-9+/]{86}==)"
        ),
        ("accountkey", "sharedaccesskey", "storage", "azure"),
        noun="key",
    ),
    Detector(
        "azure-client-secret",
        re.compile(
            r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}\dQ~(?P<body>[A-Za-z0-9_~.-]{31,34})"
            r"(?![A-Za-z0-9_~.-])"
        ),
        ("q~",),
    ),
    Detector(
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])"
            r"(?P<body>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
        ),
        ("eyj",),
    ),
    # RFC 6750 b64token after "Bearer" on the same line (hence [ \t], not \s).
    Detector(
        "bearer-token",
        re.compile(r"(?i:\bbearer)[ \t]+(?P<body>[A-Za-z0-9._~+/-]{20,}=*)"),
        ("bearer",),
        accept=_looks_random,
    ),
    # Last, so that a known kind wins: a generic `*_SECRET*=`, `*_TOKEN=`, `*PASSWORD*=`,
    # `*API_KEY*=` assignment whose value looks random (entropy).
    Detector(
        "generic-secret",
        re.compile(
            r"(?i:[A-Za-z0-9_.-]*(?:secret|token|passwd|password|api_?key|access_?key|"
            r"private_?key|credentials?)(?:[_.-][A-Za-z0-9]+)*)"
            r"""["']?[ \t]*(?:=|:=|:|=>)[ \t]*["']?"""
            r"(?P<body>[A-Za-z0-9/+_.~=-]{16,})"
        ),
        ("secret", "token", "passw", "key", "credential"),
        accept=_high_entropy,
    ),
)
