"""The page on a phone (390 px), a tablet (768 px) and a desktop (1440 px), in real Chromium.

At each width: upload a real photo, change k (a touch drag on the phone and the tablet, the
keyboard on the desktop), isolate a cluster (a tap, or a click), export the labels, and check the
layout (no sideways scroll, the images' widths, nothing overlapping) and an axe-core scan (no
serious or critical violations). The screenshots are kept as test artifacts in
``$KMSEG_ARTIFACTS`` (default ``build/test-artifacts``). Also: the keyboard reaches every control
with a visible focus, a busy indicator while work runs, a new file never shows an older result,
an invalid value is said next to its control, the choose-k panel, the colour chart, the favicon.
"""

from __future__ import annotations

import colorsys
import io
import os
import urllib.request
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
ARTIFACTS = Path(os.environ.get("KMSEG_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
# name: (width, height, touch)
SCREENS = {"phone": (390, 844, True), "tablet": (768, 1024, True), "desktop": (1440, 900, False)}
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def server():
    yield from serving()


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def _page(browser, screen: str, server: str):
    width, height, touch = SCREENS[screen]
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch,
                                  is_mobile=screen == "phone", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    return context, page, errors


def _upload_photo(page) -> None:
    page.set_input_files("#file", str(kmseg.data.sample_path()))
    page.wait_for_selector("body[data-shown-k='4']", timeout=TIMEOUT)


def _boxes(page) -> dict[str, dict]:
    """Bounding boxes of the page's parts that must not overlap, and the two images."""
    return page.evaluate("""() => Object.fromEntries(
        ['header', '#stage', '#controls', '#side', '#original', '#result'].map((selector) =>
            [selector, document.querySelector(selector).getBoundingClientRect().toJSON()]))""")


def _overlap(a: dict, b: dict) -> float:
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return max(0.0, width) * max(0.0, height)


def _check_layout(page, screen: str) -> None:
    width = SCREENS[screen][0]
    # Against the screen's width: on a phone Chromium widens innerWidth to fit wide content.
    sideways = page.evaluate("document.documentElement.scrollWidth") - width
    assert sideways <= 0, f"{screen}: the page scrolls {sideways} px sideways"
    boxes = _boxes(page)
    parts = ["header", "#stage", "#controls", "#side"]
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert _overlap(boxes[a], boxes[b]) == 0, f"{screen}: {a} overlaps {b}"
    assert _overlap(boxes["#original"], boxes["#result"]) == 0
    for image in ("#original", "#result"):
        shown = boxes[image]["width"]
        assert boxes[image]["right"] <= width + 0.5
        if screen == "phone":  # the images take the width (one above the other)
            assert shown >= 0.9 * width and shown >= 350, f"{image} is {shown} px wide"
        elif screen == "tablet":  # side by side, each about half of it
            assert shown >= 0.45 * width, f"{image} is {shown} px wide"
        else:
            assert shown >= 0.25 * width, f"{image} is {shown} px wide"


def _axe(page, screen: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [f"{v['id']} ({v['impact']}): {v['help']}; e.g. {v['nodes'][0]['target']}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{screen}: axe-core found:\n" + "\n".join(bad)


def _touch_drag(page, context, selector: str, fraction: float) -> None:
    """Drag a range input's thumb with one finger to ``fraction`` of its track."""
    slider = page.locator(selector)
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    value = float(slider.input_value())
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    thumb = box["x"] + box["width"] * (value - low) / (high - low)
    target = box["x"] + box["width"] * fraction
    y = box["y"] + box["height"] / 2
    cdp = context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": thumb, "y": y}]})
    for x in np.linspace(thumb, target, 8)[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                              "touchPoints": [{"x": float(x), "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@pytest.mark.parametrize("screen", list(SCREENS))
def test_upload_k_isolate_export_at_each_width(server, browser, screen, tmp_path):
    context, page, errors = _page(browser, screen, server)
    _upload_photo(page)
    _check_layout(page, screen)
    if SCREENS[screen][2]:
        _touch_drag(page, context, "#k", 0.3)
    else:
        page.locator("#k").focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
    k = int(page.input_value("#k"))
    assert k != 4
    page.wait_for_selector(f"body[data-shown-k='{k}']", timeout=TIMEOUT)
    assert page.locator(".swatch").count() == k
    swatch = page.locator(".swatch").nth(1)
    if SCREENS[screen][2]:
        swatch.tap()
    else:
        swatch.click()
    assert swatch.get_attribute("aria-pressed") == "true"
    assert page.evaluate("window.kmseg.state.selected") == 1
    # Isolated: only cluster 1's pixels are drawn, the rest is transparent.
    alpha = np.array(page.evaluate("""() => { const c = document.getElementById('result');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                          .filter((_, i) => i % 4 === 3)); }"""))
    labels = np.array(page.evaluate("Array.from(window.kmseg.state.labels)"))
    np.testing.assert_array_equal(alpha > 0, labels == 1)
    with page.expect_download(timeout=TIMEOUT) as download_info:
        page.locator("#downloads [data-what=labels]").click()
    saved = tmp_path / "labels.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as image:
        np.testing.assert_array_equal(np.asarray(image),
                                      kmseg.segment(kmseg.data.sample_path(), k=k).labels)
    _check_layout(page, screen)
    _axe(page, screen)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"serve_{screen}.png"), full_page=True)
    assert not errors
    context.close()


# A control's name for the test: a radio group is one stop of the Tab key (arrows move in it).
NAME = """(e) => e.type === 'radio' ? `radio:${e.name}`
                 : e.id || e.dataset.what || e.textContent.trim()"""


def test_every_control_is_reached_by_the_keyboard_with_a_visible_focus(server, browser):
    context, page, errors = _page(browser, "desktop", server)
    _upload_photo(page)
    wanted = set(page.evaluate(f"""() => Array.from(document.querySelectorAll(
        'button, input, select, a[href]')).filter((e) => e.offsetParent !== null && !e.disabled)
        .map({NAME})"""))
    # Enter on the focused "Open image" button opens the file input (its chooser is the
    # browser's: whether headless Chromium shows it depends on the window's focus).
    page.evaluate("""() => document.getElementById('file').addEventListener('click',
        (event) => { window.fileOpened = true; event.preventDefault(); })""")
    page.locator("#open-file").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("window.fileOpened") is True
    # The arrow keys move through a radio group: the split view shows its labelled slider.
    page.locator("input[name=view][value=side]").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("input[name=view][value=split]").is_checked()
    assert page.get_by_label("split position").is_visible()
    wanted.add("split")
    # From the top of the page, Tab goes through every control (then out of the page).
    page.locator("h1").click()
    reached, styles = set(), []
    for _ in range(len(wanted) + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate(f"""() => {{ const e = document.activeElement;
            const style = getComputedStyle(e);
            return [({NAME})(e), style.outlineStyle, parseFloat(style.outlineWidth)]; }}""")
        reached.add(focused[0])
        styles.append(focused)
    assert "open-file" in reached and "sample" in reached
    assert wanted <= reached, f"not reached by Tab: {wanted - reached}"
    for name, style, width in styles:
        if name in wanted:
            assert style != "none" and width >= 2, f"{name}: no visible focus"
    assert not errors
    context.close()


class _Held:
    """Requests to URLs matching a pattern, the first ``count`` held in flight until released
    (a slow answer, on demand); the later ones go through."""

    def __init__(self, page, pattern: str, count: int = 1) -> None:
        self.page, self.routes, self.count = page, [], count
        page.route(pattern, self._handle)

    def _handle(self, route) -> None:
        if len(self.routes) < self.count:
            self.routes.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        for route in self.routes:
            route.continue_()


def _watch_busy(page) -> None:
    page.evaluate("""() => { window.busyLog = [];
        new MutationObserver(() => window.busyLog.push([document.body.dataset.busy || '',
                                                        document.getElementById('busy').innerText]))
            .observe(document.body, {attributes: true, subtree: true, childList: true}); }""")


def _ends_idle_and_consistent(page) -> None:
    """No request left in flight, the stage not faded, and every result drawn was drawn under
    its own file's name."""
    page.wait_for_function("window.kmseg.state.busy === 0", timeout=TIMEOUT)
    assert page.get_attribute("#stage", "aria-busy") == "false"
    assert "busy" not in page.get_attribute("#stage", "class")
    renders = page.evaluate("window.kmseg.renders")
    assert renders and all(r["shown"] == r["of"] for r in renders), renders


def test_a_new_file_never_shows_an_older_result(server, browser, tmp_path):
    """A photo's segmentation still on its way when the next photo is opened: the page clears
    at once, shows the spinner, drops the late answer, and shows the new photo's own result."""
    big = np.asarray(Image.open(kmseg.data.sample_path()).convert("RGB").resize((1800, 1200)))
    path = tmp_path / "second.png"
    Image.fromarray(big[::-1].copy()).save(path)
    context, page, errors = _page(browser, "desktop", server)
    _upload_photo(page)
    held = _Held(page, "**/api/images/*/segment")
    page.check("#auto")  # k = auto for the first photo: held in flight
    page.wait_for_function("window.kmseg.state.busy > 0", timeout=TIMEOUT)
    _watch_busy(page)
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.getElementById('image-info').innerText"
                           ".startsWith('opening second.png')", timeout=TIMEOUT)
    assert page.evaluate("window.kmseg.state.result") is None
    assert page.locator(".swatch").count() == 0
    blank = page.evaluate("""() => { const c = document.getElementById('result');
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                .every((v, i) => i % 4 !== 3 || v === 0); }""")
    assert blank
    held.release()  # the first photo's answer comes back now, late
    page.wait_for_function("document.body.dataset.shownK && window.kmseg.state.busy === 0",
                           timeout=TIMEOUT)
    busy = page.evaluate("window.busyLog")
    assert ["true", "working…"] in [[flag, text.strip()] for flag, text in busy]
    assert page.locator("#image-info").inner_text().startswith("second: 1800 \u00d7 1200")
    _ends_idle_and_consistent(page)
    assert not errors
    context.close()


def test_a_late_scan_answer_never_shows_under_a_photo(server, browser, tmp_path):
    """A scan whose segmentation is still on its way when a photo is opened: its slice and
    classes never show, and the stage is not left faded."""
    context, page, errors = _page(browser, "desktop", server)
    held = _Held(page, "**/api/volumes/*/segment")
    page.set_input_files("#file", str(slab_scan(tmp_path)))
    page.wait_for_function("document.body.dataset.mode === 'scan' && window.kmseg.state.busy",
                           timeout=TIMEOUT)
    photo_upload = _Held(page, "**/api/images")  # the photo still uploading when the scan answers
    page.set_input_files("#file", str(kmseg.data.sample_path()))
    page.wait_for_function("document.getElementById('image-info').innerText"
                           ".startsWith('opening coffee')", timeout=TIMEOUT)
    held.release()
    page.wait_for_timeout(1000)  # the scan's answer is back by now, and dropped
    assert page.locator(".swatch").count() == 0 and page.get_attribute(
        "body", "data-shown-slice") is None
    photo_upload.release()
    page.wait_for_selector("body[data-shown-k='4']", timeout=TIMEOUT)
    assert page.evaluate("document.body.dataset.mode") == "image"
    _ends_idle_and_consistent(page)
    assert not errors
    context.close()


def test_an_invalid_value_is_one_sentence_next_to_its_control(server, browser):
    context, page, errors = _page(browser, "desktop", server)
    _upload_photo(page)
    page.fill("#attempts", "-5")
    page.fill("#seed", "1.5")
    page.locator("#seed").dispatch_event("change")
    page.locator("#seed-error").wait_for(state="visible", timeout=TIMEOUT)
    message = page.locator("#attempts-error")
    assert message.is_visible()
    options = page.evaluate("window.kmseg.state.options")
    high = options["attempts"]["max"]
    assert message.inner_text() == f"Attempts should be a whole number from 1 to {high}."
    assert page.locator("#seed-error").inner_text() == (
        f"Seed should be a whole number from {options['seed']['min']} to "
        f"{options['seed']['max']}.")  # every wrong field at once
    page.fill("#seed", "0")
    assert page.get_attribute("#attempts", "aria-invalid") == "true"
    assert page.locator("#error").is_hidden()
    # Below the field, not somewhere else on the page.
    field, said = page.locator("#attempts").bounding_box(), message.bounding_box()
    assert 0 <= said["y"] - (field["y"] + field["height"]) < 40
    page.fill("#attempts", "3")
    page.locator("#attempts").dispatch_event("change")
    message.wait_for(state="hidden", timeout=TIMEOUT)
    assert page.get_attribute("#attempts", "aria-invalid") == "false"
    assert not errors
    context.close()


def test_choose_k_shows_every_criterion_and_applies_the_recommendation(server, browser):
    from kmseg._choose_k import choose_k

    context, page, errors = _page(browser, "desktop", server)
    _upload_photo(page)
    page.click("#choose")
    use = page.locator("#use-k")
    use.wait_for(state="visible", timeout=TIMEOUT)
    image_id = page.evaluate("window.kmseg.state.image.id")
    headers = page.eval_on_selector_all("#choose-table th[scope=col]",
                                        "cells => cells.map((c) => c.textContent)")
    assert headers == ["k", "SSE", "PSNR dB", "ΔE", "silh.", "CH", "DB"]
    rows = page.eval_on_selector_all("#choose-table tbody tr",
                                     "rows => rows.map((r) => r.cells[0].textContent)")
    options = page.evaluate("window.kmseg.state.options")
    assert rows == [str(k) for k in range(2, options["k_max"]["default"] + 1)]
    preview = np.asarray(Image.open(urllib.request.urlopen(
        f"{server}/api/images/{image_id}/preview.png")).convert("RGB"))
    expected = choose_k(preview, ks=range(2, options["k_max"]["default"] + 1), seed=0)
    assert use.inner_text() == f"Use k = {expected.k}"
    assert page.locator("#choose-table tr.recommended th").inner_text() == str(expected.k)
    use.click()
    page.wait_for_selector(f"body[data-shown-k='{expected.k}']", timeout=TIMEOUT)
    assert page.input_value("#k") == str(expected.k)
    assert page.locator("#choose-chart polyline").count() == 1
    assert not errors
    context.close()


def test_the_colour_chart_marks_each_centre(server, browser):
    """Each cluster centre is drawn at its hue (across) and lightness (up) in its colour."""
    context, page, errors = _page(browser, "desktop", server)
    _upload_photo(page)
    page.wait_for_function("window.kmseg.state.colours.length > 0", timeout=TIMEOUT)
    canvas = page.evaluate("""() => { const c = document.getElementById('colors');
        return [c.width, c.height, Array.from(c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data)]; }""")
    width, height, data = canvas
    pixels = np.array(data, dtype=np.uint8).reshape(height, width, 4)
    palette = page.evaluate("window.kmseg.state.result.palette")
    left, right, top, bottom = 36, 16, 8, 30  # the chart's margins
    found = 0
    for entry in palette:
        rgb = [int(entry["hex"][i:i + 2], 16) for i in (1, 3, 5)]
        hue, lightness, _ = colorsys.rgb_to_hls(*(v / 255 for v in rgb))
        x = left + hue * (width - left - right)
        y = top + (1 - lightness) * (height - top - bottom)
        centre = pixels[round(y), round(x)]
        found += bool(np.all(np.abs(centre[:3].astype(int) - rgb) <= 2) and centre[3] == 255)
    assert found >= len(palette) - 1  # one centre may hide under a neighbour
    axis = pixels[top:height - bottom, left]  # the lightness axis: a gray line, drawn
    assert (axis[:, 3] > 0).mean() > 0.9
    assert not errors
    context.close()


def test_the_favicon(server):
    with urllib.request.urlopen(f"{server}/favicon.ico", timeout=30) as answer:
        assert answer.headers["Content-Type"] == "image/x-icon"
        body = answer.read()
    with Image.open(io.BytesIO(body)) as icon:
        assert icon.format == "ICO"


def test_a_scan_on_a_phone(server, browser, tmp_path):
    """Image and classes one above the other at the full width, the slice slider dragged by a
    finger, a failed slice said and then cleared by the next, no serious axe-core issue."""
    context, page, errors = _page(browser, "phone", server)
    page.set_input_files("#file", str(slab_scan(tmp_path)))
    page.wait_for_selector("body[data-shown-slice='axial:6']", timeout=TIMEOUT)
    _check_layout(page, "phone")
    _axe(page, "phone")
    failing = "**/api/volumes/*/axial/*/scan.png"
    page.route(failing, lambda route: route.abort())  # the slices dragged to cannot be read
    _touch_drag(page, context, "#slice", 0.9)
    page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT)
    shown = int(page.input_value("#slice"))
    assert shown > 6
    assert page.locator("#error").inner_text() == f"slice {shown + 1} could not be shown"
    page.unroute(failing)
    page.locator("#slice").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"body[data-shown-slice='axial:{shown - 1}']", timeout=TIMEOUT)
    assert page.locator("#error").is_hidden()
    _ends_idle_and_consistent(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve_phone_scan.png"), full_page=True)
    assert not errors
    context.close()


def test_the_api_page_passes_axe(server, browser):
    context, page, errors = _page(browser, "desktop", server)
    page.goto(server + "/docs")
    assert page.locator("main h1").inner_text() == "kmseg API"
    _axe(page, "desktop")
    assert not errors
    context.close()
