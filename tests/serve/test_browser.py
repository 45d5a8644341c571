"""The page in a real browser: Playwright driving Debian's Chromium against a live server.

Upload the sample, move the k slider from 4 to 6, check the palette shows 6 swatches, click one,
download the labels PNG and check its values, save a screenshot. ``.ci/run`` installs Chromium
when it is missing; the test skips (saying why) only without it. With
``KMSEG_UPDATE_SCREENSHOT=1`` the screenshot also replaces ``docs/serve.png`` (the README's).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from live import CHROMIUM, chromium, serving, slab_scan
from PIL import Image

import kmseg

pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")
pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) drives the browser")
if CHROMIUM is None:
    pytest.skip("no Chromium (apt-get install chromium; .ci/run does it)",
                allow_module_level=True)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def server():
    yield from serving()


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_slider_palette_isolate_download_screenshot(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 820}, accept_downloads=True)
    page.goto(server + "/")
    page.click("#sample")
    page.wait_for_selector("body[data-shown-k='4']", timeout=60_000)
    assert page.locator(".swatch").count() == 4
    slider = page.locator("#k")
    slider.focus()
    for _ in range(2):  # 4 -> 5 -> 6, as a drag would
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-shown-k='6']", timeout=60_000)
    assert page.locator("#k-value").inner_text() == "6"
    assert page.locator(".swatch").count() == 6
    page.locator(".swatch").nth(2).click()
    assert page.locator(".swatch").nth(2).get_attribute("aria-pressed") == "true"
    assert page.locator("[data-what=cutout]").is_enabled()
    with page.expect_download(timeout=60_000) as download_info:
        page.click("[data-what=labels]")
    download = download_info.value
    assert download.suggested_filename == "coffee_labels.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with Image.open(saved) as image:
        labels = np.asarray(image)
    expected = kmseg.segment(kmseg.data.sample_path(), k=6).labels
    np.testing.assert_array_equal(labels, expected)
    latencies = page.evaluate("window.kmseg.latencies")
    assert [entry["k"] for entry in latencies][-1] == 6
    page.click("#choose")
    page.wait_for_selector("#choose-chart polyline", timeout=60_000)
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    with Image.open(shot) as image:
        assert image.size == (1400, 820)
    if os.environ.get("KMSEG_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, DOCS / "serve.png")
    page.close()


def test_the_controls_are_built_from_the_api(server, browser):
    """The colour spaces and the k slider's range come from GET /api/options, not the HTML."""
    from kmseg._options import DEFAULT_K, SPACES
    from kmseg.serve._schemas import WEB_MAX_K, WEB_MIN_K

    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('space').options.length > 0",
                           timeout=60_000)
    spaces = page.eval_on_selector_all("#space option", "options => options.map(o => o.value)")
    assert spaces == list(SPACES) and page.locator("#space").input_value() == "rgb"
    slider = page.locator("#k")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == (str(WEB_MIN_K),
                                                                          str(WEB_MAX_K))
    assert slider.input_value() == page.locator("#k-value").inner_text() == str(DEFAULT_K)
    page.close()


def test_an_older_answer_never_replaces_a_newer_k(server, browser):
    """Drag fast through k = 2..12: the view ends on 12, whatever order answers came in."""
    page = browser.new_page()
    page.goto(server + "/")
    page.click("#sample")
    page.wait_for_selector("body[data-shown-k='4']", timeout=60_000)
    page.evaluate("""() => {
        const slider = document.getElementById('k');
        for (let k = 2; k <= 12; k++) {
            slider.value = k;
            slider.dispatchEvent(new Event('input'));
        }
    }""")
    page.wait_for_selector("body[data-shown-k='12']", timeout=60_000)
    page.wait_for_timeout(1500)  # any late answer for an older k would land by now
    assert page.locator("body").get_attribute("data-shown-k") == "12"
    assert page.locator(".swatch").count() == 12
    page.close()


def test_errors_show_as_one_sentence(server, browser, tmp_path):
    """A 422 is a list of {loc, msg, type} (as FastAPI's own): the page shows its message."""
    flat = np.zeros((20, 20, 3), np.uint8)
    flat[:10] = 200  # two colours: the page's first segmentation (k = 4) cannot be made
    path = tmp_path / "two.png"
    Image.fromarray(flat).save(path)
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    image_id = page.evaluate("window.kmseg.state.image.id")
    sent = _post_json(f"{server}/api/images/{image_id}/segment", {"k": 4})
    assert "distinct" in sent["msg"] and sent["loc"] == ["body"]
    assert page.locator("#error").inner_text() == sent["msg"]
    # A parameter FastAPI itself refuses: "field: message".
    sent = _post_json(f"{server}/api/images/x/segment", {"k": 1})
    shown = page.evaluate("""() => api('/api/images/x/segment', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({k: 1})})
        .catch((error) => error.message)""")
    # "Input should be greater than or equal to 2" -> "k should be greater than ... 2."
    assert sent["msg"].startswith("Input should")
    assert shown == f"k {sent['msg'].removeprefix('Input ')}." and "{" not in shown
    page.close()


def _post_json(url: str, body: dict) -> dict:
    """The first item of the 422 a POST of ``body`` gets."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 422
    return json.loads(answer.value.read())["detail"][0]


def test_a_scan_slice_by_slice_with_class_volumes_and_export(server, browser, tmp_path):
    """Open a NIfTI: the classes in mL, a slider through the slices of each plane (drawn at
    their size in mm), a class isolated, the label volume exported as NIfTI."""
    import nibabel

    from kmseg.volume import segment_volume

    path = slab_scan(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 820}, accept_downloads=True)
    page.goto(server + "/")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("body[data-shown-slice='axial:6']", timeout=60_000)
    assert page.locator("body").get_attribute("data-mode") == "scan"
    assert not page.locator("#space").is_visible() and page.locator("#slice").is_visible()
    reference = segment_volume(path, 3)
    swatches = page.locator(".swatch")
    assert swatches.count() == 3
    for swatch, stats in zip(swatches.all(), reference.classes, strict=True):
        assert swatch.inner_text() == f"{stats.label}: {stats.volume_ml:.1f} mL"
    # The axial slice, upright: anterior (the second axis's high end: class 3) at the top.
    labels = np.array(page.evaluate("Array.from(window.kmseg.state.labels)")).reshape(30, 20)
    expected = reference.labels[::-1, :, 6].T[::-1]  # LAS -> RAS, then rows from A to P
    np.testing.assert_array_equal(labels, expected)
    assert labels[0, 0] == 3 and labels[-1, 0] == 1
    page.check("input[name=plane][value=coronal]")
    page.wait_for_selector("body[data-shown-slice='coronal:15']", timeout=60_000)
    ratio = page.evaluate("document.getElementById('result').style.aspectRatio")
    assert ratio.replace(" ", "") == "40/36"  # 20 voxels x 2 mm across, 12 x 3 mm up
    slider = page.locator("#slice")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-shown-slice='coronal:16']", timeout=60_000)
    assert page.locator("#slice-value").inner_text() == "17 / 30"
    swatches.nth(1).click()
    assert page.locator("#scan-downloads [data-what=mask]").is_enabled()
    with page.expect_download(timeout=60_000) as download_info:
        page.click("#scan-downloads [data-what=labels]")
    download = download_info.value
    assert download.suggested_filename == "slabs_labels.nii.gz"
    saved = tmp_path / "downloaded.nii.gz"
    download.save_as(saved)
    image = nibabel.load(saved)
    np.testing.assert_array_equal(np.asarray(image.dataobj), reference.labels)
    np.testing.assert_allclose(image.affine, np.diag([-2.0, 1.0, 3.0, 1.0]))
    page.close()


def test_the_readme_scan_screenshot(server, browser, tmp_path):
    """The shared brain T1, skull-stripped: voxels = 0 skipped, three classes, axial middle
    slice (replaces docs/serve_scan.png with KMSEG_UPDATE_SCREENSHOT=1)."""
    from conftest import shared_dir

    brain = shared_dir("med", "brain_fast") / "bet.nii.gz"
    page = browser.new_page(viewport={"width": 1400, "height": 820})
    page.goto(server + "/")
    page.wait_for_function("document.querySelectorAll('input[name=plane]').length === 3",
                           timeout=60_000)
    page.evaluate("document.getElementById('nonzero').checked = true")  # shown with a scan
    page.set_input_files("#file", str(brain))
    page.wait_for_selector("body[data-shown-slice='axial:71']", timeout=60_000)
    assert [s.inner_text().split(":")[0] for s in page.locator(".swatch").all()] == \
        ["1", "2", "3"]
    shot = tmp_path / "serve_scan.png"
    page.screenshot(path=str(shot))
    if os.environ.get("KMSEG_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, DOCS / "serve_scan.png")
    page.close()


def test_a_late_scan_answer_never_replaces_a_photo(server, browser, tmp_path, monkeypatch):
    """A scan still segmenting when the user opens a photo: its answer is dropped."""
    import time

    import kmseg.volume

    segment_volume = kmseg.volume.segment_volume

    def slow(*args, **kwargs):
        time.sleep(2.0)
        return segment_volume(*args, **kwargs)

    monkeypatch.setattr(kmseg.volume, "segment_volume", slow)
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file", str(slab_scan(tmp_path)))
    page.wait_for_function("document.body.dataset.mode === 'scan'", timeout=60_000)
    page.click("#sample")
    page.wait_for_selector("body[data-shown-k='4']", timeout=60_000)
    page.wait_for_timeout(3000)  # the scan's answer has come back by now
    assert page.evaluate("document.body.dataset.mode") == "image"
    assert page.get_attribute("body", "data-shown-slice") is None
    assert page.locator(".swatch").first.inner_text().endswith("%")
    page.close()
