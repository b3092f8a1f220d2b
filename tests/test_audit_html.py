"""The HTML audit report in a real headless Chromium: no console errors, no network, colours.

Chromium is Debian's (`scripts/bootstrap.sh` installs it); playwright only drives it. The
screenshot is kept in the test's temporary directory and its path printed (`pytest -rP`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from factories import audited_repo

from toolkit.cli import main

if TYPE_CHECKING:
    from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")

RGB = {"pass": "rgb(26, 127, 55)", "warn": "rgb(154, 103, 0)", "fail": "rgb(207, 34, 46)"}


def _report(tmp_path: Path) -> Path:
    """A report with all three outcomes: a fresh-enough runbook review, an overdue canary
    evaluation (warn), and a runbook step naming a keel command that does not exist (fail)."""

    def broken(data: dict[str, Any]) -> None:
        data["runbook"]["spec"]["lastReviewed"] = "2027-02-20"
        data["runbook"]["spec"]["steps"]["serve"][0]["command"] = "keel deploy Deployment/search"

    root = audited_repo(tmp_path, broken)
    out = tmp_path / "audit.html"
    code = main(
        ["audit", "--root", str(root), "--as-of", str(dt.date(2027, 3, 1)), "--format", "html",
         "--out", str(out), "--no-record"]
    )  # fmt: skip
    assert code == 1
    return out


def test_the_html_report_renders_in_chromium_without_errors_or_network(tmp_path: Path) -> None:
    report = _report(tmp_path)
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            screenshot = tmp_path / "audit.png"
            page.screenshot(path=str(screenshot), full_page=True)
            title = page.title()
            summary = page.locator("table").first.inner_text()
            colours = {
                status: page.locator(".status", has_text=status.upper()).first.evaluate(
                    "e => getComputedStyle(e).color"
                )
                for status in RGB
            }
            sections = page.locator("h2").count()
        finally:
            browser.close()
    print(f"screenshot: {screenshot}")

    assert problems == []
    assert requests == [report.as_uri()], "the page must load nothing but itself"
    assert title == "keel audit 2027-03-01: FAIL"
    assert "Deployment/search" in summary
    assert "FAIL" in summary
    assert colours == RGB
    assert sections == 1
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000


def test_the_html_report_is_one_self_contained_file(tmp_path: Path) -> None:
    text = _report(tmp_path).read_text(encoding="utf-8")

    assert "<style>" in text
    assert "<script" not in text
    assert "http://" not in text
    assert "https://" not in text
    assert "runbook.commands" in text
    assert "`deploy` is not a keel command" in text
