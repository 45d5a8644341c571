"""A real kmseg server on a loopback port, for the serve tests that need a socket, and the
browser tests' server and browser (each module's fixtures yield from :func:`serving` and
:func:`chromium`), and a small scan to open in the page."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def live_server(app) -> Iterator[int]:
    """Run ``app`` under uvicorn on a free loopback port (yielded) until the block ends."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serving() -> Iterator[str]:
    """A live kmseg server's address (for a module-scoped fixture), stopped after."""
    pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")
    from kmseg.serve import create_app

    with live_server(create_app()) as port:
        yield f"http://127.0.0.1:{port}"


def chromium():
    """Debian's Chromium driven by Playwright (``.ci/run`` installs it when it is missing),
    for a module-scoped fixture; skips without it."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (the test extra) drives the browser")
    if CHROMIUM is None:
        pytest.skip("no Chromium (apt-get install chromium; .ci/run does it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless=new", "--no-sandbox"])
        yield browser
        browser.close()


def slab_scan(tmp_path):
    """A 3-D test scan: three intensity slabs along the second voxel axis, 2 x 1 x 3 mm
    voxels, stored LAS (its first axis runs to the patient's left)."""
    import nibabel

    data = np.zeros((20, 30, 12), np.int16)
    data[:, 10:20], data[:, 20:] = 100, 200
    data += np.random.default_rng(0).integers(0, 5, data.shape, dtype=np.int16)
    path = tmp_path / "slabs.nii.gz"
    nibabel.save(nibabel.Nifti1Image(data, np.diag([-2.0, 1.0, 3.0, 1.0])), path)
    return path
