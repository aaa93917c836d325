"""The reader study in a real browser: Playwright driving Debian's chromium (software WebGL).

Logs in, reads three cases in both arms (the NiiVue canvas renders: its screenshot is not
uniform), answers the trust question after each aided read and the SUS, then the administrator
exports the iMRMC CSV. Skipped when /usr/bin/chromium or playwright is absent.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from support.reader_study import MadeStudy, make_study

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                       "(Debian package chromium; .ci/run installs it)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[MadeStudy, str]]:
    """A 3-case study served by uvicorn in a thread; (study, base URL)."""
    import uvicorn

    from gliopet.reader.app import create_app

    made = make_study(tmp_path, n_cases=3, n_readers=1)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(made.url), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield made, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _log_in(page: object, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login button[type=submit]")


def _canvas_pixels(page: object, path: Path) -> np.ndarray:
    from PIL import Image

    box = page.locator("#gl").bounding_box()
    page.screenshot(path=str(path), clip=box)
    return np.asarray(Image.open(path).convert("RGB"))


def _changed(page: object, before: np.ndarray, path: Path) -> np.ndarray:
    page.wait_for_timeout(300)  # a few animation frames
    after = _canvas_pixels(page, path)
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0
    return after


def _check_controls(page: object, pixels: np.ndarray, tmp: Path) -> None:
    """Frame scrubbing, colour map, PET window and the FLAIR each change the picture."""
    assert page.inner_text("#frame-label") == "4 / 4"
    page.locator("#frame").fill("0")
    assert page.inner_text("#frame-label") == "1 / 4"
    pixels = _changed(page, pixels, tmp / "frame0.png")
    page.select_option("#colormap", "gray")
    pixels = _changed(page, pixels, tmp / "gray.png")
    page.fill("#pet-max", "0.2")
    page.dispatch_event("#pet-max", "change")
    pixels = _changed(page, pixels, tmp / "window.png")
    page.select_option("#mri-choice", "flair")
    page.wait_for_timeout(1500)  # the FLAIR loads
    _changed(page, pixels, tmp / "flair.png")
    assert page.evaluate("document.body.dataset.viewer") == "ready"


def _read_arm(page: object, base: str, arm: str, tmp: Path) -> None:
    for number in range(3):
        page.goto(f"{base}/")
        assert page.get_attribute("#arm", "data-arm") == arm
        page.click("#worklist a")
        page.wait_for_selector("body[data-viewer]", timeout=30_000)
        assert page.get_attribute("body", "data-viewer") == "ready", \
            page.inner_text("#viewer-status")
        pixels = _canvas_pixels(page, tmp / f"{arm}{number}.png")
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # not a blank canvas
        assert page.locator("#frame").count() == 1  # dynamic frames: the scrubber is there
        if number == 0 and arm == "unaided":
            _check_controls(page, pixels, tmp)
        assert page.locator("svg.tac polyline").count() == 2
        assert (page.locator("#ai-output").count() == 1) == (arm == "aided")
        page.check("input[name=diagnosis][value=progression]")
        page.fill("#confidence", str(40 + 10 * number))
        page.click("#answer button[type=submit]")
        if arm == "aided":
            page.check("input[name=trust][value='4']")
            page.check("input[name=would_use][value='3']")
            page.click("#trust button[type=submit]")


def test_read_three_cases_in_both_arms_and_export(served: tuple[MadeStudy, str],
                                                  tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    made, base = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        _log_in(page, base, "reader01", made.passwords["reader01"])
        _read_arm(page, base, "unaided", tmp_path)
        _read_arm(page, base, "aided", tmp_path)
        page.goto(f"{base}/")
        page.click("#sus-link")
        for item in range(1, 11):
            page.check(f"input[name=q{item}][value='{4 if item % 2 else 2}']")
        page.click("#sus button[type=submit]")
        assert page.locator("#sus-link").count() == 0
        admin = browser.new_page(accept_downloads=True)
        _log_in(admin, base, "admin", made.passwords["admin"])
        assert "3/3" in admin.inner_text("#progress")
        with admin.expect_download() as download:
            admin.click("#export-imrmc")
        text = Path(download.value.path()).read_text()
        browser.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 + 6
    assert {r["modalityID"] for r in rows} == {"truth", "unaided", "aided"}
    scores = sorted(float(r["score"]) for r in rows if r["readerID"] == "reader01")
    assert scores == [40.0, 40.0, 50.0, 50.0, 60.0, 60.0]
