"""`keel serve Deployment/NAME [--port 8000] [--host 127.0.0.1]`."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import click

from toolkit.cli.options import root_option


@click.command()
@click.argument("deployment")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@root_option
def serve(deployment: str, port: int, host: str, root: Path | None) -> None:
    """Serve a Deployment's API contract over HTTP until Ctrl-C.

    Loads the Deployment's model, tokenizer, adapter and quantization from this checkout and
    checks them against their manifests, as `keel reproduce` does (missing files: run
    `keel pull` first). The contract follows the Deployment's api.inputSchema: embedding
    (POST /v1/embed), classification (POST /v1/classify) or generation (POST /v1/completions,
    with "stream": true for server-sent events). GET /healthz and GET /metrics (Prometheus
    text format) are always served. Ctrl-C (SIGINT) or SIGTERM stops the server and ends
    with exit 130. See docs/serving.md.

    Examples:

    \b
      keel serve Deployment/semantic-search
      keel serve Deployment/tiny-chat --port 8080 --host 0.0.0.0
    """
    from toolkit.core.layout import find_root
    from toolkit.workflows.serve import serve_deployment

    repository = root or find_root(Path.cwd())
    previous = _stop_on_signals()
    try:
        with serve_deployment(repository, deployment, host, port) as server:
            kind = server.contract.kind
            click.echo(f"serving {deployment} ({kind}) at {server.url}; Ctrl-C to stop")
            while True:
                time.sleep(3600)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> dict[int, Any]:
    """SIGINT and SIGTERM both stop the server the way Ctrl-C does, even when the shell
    started keel with SIGINT ignored (a background job); the previous handlers, to restore."""
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, _interrupt)
    return previous
