"""The web app's JSON API, every endpoint and every error, through FastAPI's test client."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from importlib.resources import files

import numpy as np
import pytest
from PIL import Image

import kmseg
from kmseg._spatial import shrink
from kmseg.io import LoadedImage

pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")


@pytest.fixture
def make_client():
    """A function: app options -> TestClient (closed at the end of the test)."""
    from fastapi.testclient import TestClient

    from kmseg.serve import create_app

    clients = []

    def make(**options):
        client = TestClient(create_app(**options))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def photo() -> np.ndarray:
    """The sample photo at 240 x 160: real colours, quick to segment."""
    return np.asarray(Image.open(kmseg.data.sample_path()).resize((240, 160)))


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def upload(client, data: bytes, name: str = "photo.png"):
    return client.post("/api/images", files={"file": (name, data, "application/octet-stream")})


def message(response) -> str:
    """An error's text: ``detail``, or the messages of a 422's list of {loc, msg, type}."""
    detail = response.json()["detail"]
    if response.status_code == 422:
        assert isinstance(detail, list)  # the schema's HTTPValidationError, as FastAPI's own
        assert all({"loc", "msg", "type"} <= set(item) for item in detail)
        return "; ".join(item["msg"] for item in detail)
    assert isinstance(detail, str)
    return detail


def labels_of(result: dict) -> np.ndarray:
    return decode_png(base64.b64decode(result["labels_png"].split(",", 1)[1]))


def nearest(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Brute force: index of the nearest centre of every pixel (RGB distances)."""
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(float)
    distances = ((flat[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1).reshape(pixels.shape[:2])


def test_upload_then_segment_gives_nearest_centre_labels_and_shares(client, photo):
    meta = upload(client, png_bytes(photo), "my photo.png")
    assert meta.status_code == 201
    info = meta.json()
    assert (info["width"], info["height"], info["name"]) == (240, 160, "my_photo")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", info["id"])
    assert client.get(f"/api/images/{info['id']}").json() == info
    preview = decode_png(client.get(f"/api/images/{info['id']}/preview.png").content)
    np.testing.assert_array_equal(preview[..., :3], photo)  # small: the preview is the photo
    result = client.post(f"/api/images/{info['id']}/segment", json={"k": 5}).json()
    labels = labels_of(result)
    assert result["k"] == 5 and labels.shape == (160, 240)
    centres = np.array([entry["center"] for entry in result["palette"]])
    np.testing.assert_array_equal(labels, nearest(photo, centres))
    shares = np.bincount(labels.ravel(), minlength=5) / labels.size
    np.testing.assert_allclose([entry["share"] for entry in result["palette"]], shares)
    # The same k-means as the library's.
    expected = kmseg.segment(photo, k=5)
    np.testing.assert_allclose(centres, expected.centers)
    assert [entry["hex"] for entry in result["palette"]] == expected.hex_colors


def test_sample_auto_k_regions_and_new_k_from_the_cache(client):
    info = client.post("/api/sample").json()
    assert (info["width"], info["height"], info["name"]) == (600, 400, "coffee")
    path = f"/api/images/{info['id']}/segment"
    auto = client.post(path, json={"k": "auto"}).json()
    assert auto["k"] == kmseg.choose_k(kmseg.data.sample_path()).k
    regions = client.post(path, json={"k": 5, "regions": True}).json()
    assert regions["n_regions"] >= 5
    first = client.post(path, json={"k": 7, "space": "lab", "seed": 3}).json()
    again = client.post(path, json={"k": 7, "space": "lab", "seed": 3}).json()
    assert first["palette"] == again["palette"] and first["labels_png"] == again["labels_png"]


def test_each_space_is_checked_against_the_image_even_from_the_cache(client, photo):
    """A 4-band raster: rgb and auto cluster its bands; Lab is refused with kmseg's message
    after rgb's request cached the histogram (it once went on to a 500)."""
    import tifffile

    bands = np.stack([*np.moveaxis(photo, -1, 0), photo[..., 1]]).astype(np.uint16) * 100
    data = io.BytesIO()
    tifffile.imwrite(data, bands, photometric="minisblack", planarconfig="separate")
    path = f"/api/images/{upload(client, data.getvalue(), 'rgbn.tif').json()['id']}/segment"
    assert client.post(path, json={"k": 3, "space": "rgb"}).status_code == 200
    refused = client.post(path, json={"k": 3, "space": "lab"})
    assert refused.status_code < 500 and "needs an RGB or gray image" in message(refused)
    auto = client.post(path, json={"k": 3, "space": "auto"})
    assert auto.status_code == 200 and auto.json()["space"] == "rgb"


def test_a_large_image_is_segmented_on_its_preview_and_exported_at_full_size(make_client,
                                                                            photo):
    client = make_client(preview_pixels=10_000)
    image_id = upload(client, png_bytes(photo)).json()["id"]
    info = client.get(f"/api/images/{image_id}").json()
    assert info["preview_width"] * info["preview_height"] <= 10_000
    result = client.post(f"/api/images/{image_id}/segment", json={"k": 4}).json()
    preview = shrink(LoadedImage(photo, None, None, "x", ""), 10_000).pixels
    assert labels_of(result).shape == preview.shape[:2]
    centres = np.array([entry["center"] for entry in result["palette"]])
    exported = client.post(f"/api/images/{image_id}/export", json={"k": 4, "what": "labels"})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="photo_labels.png"'
    full = decode_png(exported.content)
    np.testing.assert_array_equal(full, nearest(photo, centres))  # the preview's palette
    painted = decode_png(client.post(f"/api/images/{image_id}/export",
                                     json={"k": 4, "what": "segmented"}).content)
    np.testing.assert_array_equal(painted, np.rint(centres).astype(np.uint8)[full])
    cutout = decode_png(client.post(f"/api/images/{image_id}/export",
                                    json={"k": 4, "what": "cutout", "cluster": 2}).content)
    assert cutout.shape == (160, 240, 4)
    np.testing.assert_array_equal(cutout[..., 3] > 0, full == 2)
    np.testing.assert_array_equal(cutout[full == 2][:, :3], photo[full == 2])
    report = client.post(f"/api/images/{image_id}/export", json={"k": 4, "what": "report"})
    assert report.json()["k"] == 4 and report.json()["source"] == "photo"
    assert report.json()["sizes"] == np.bincount(full.ravel(), minlength=4).tolist()


def test_choose_k_and_colours(client, photo):
    image_id = upload(client, png_bytes(photo)).json()["id"]
    choice = client.post(f"/api/images/{image_id}/choose-k", json={"k_max": 8}).json()
    expected = kmseg.choose_k(photo, ks=range(2, 9))
    assert choice["ks"] == list(range(2, 9)) and choice["k"] == expected.k
    np.testing.assert_allclose(choice["compactness"], expected.compactness)
    colours = client.get(f"/api/images/{image_id}/colors?n=500").json()["colors"]
    assert len(colours) == 500 and all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    present = {"#{:02x}{:02x}{:02x}".format(*p) for p in photo.reshape(-1, 3).tolist()}
    assert set(colours) <= present


@pytest.mark.parametrize(("data", "status", "expected"), [
    (b"not an image at all", 415, "not an image"),
    (b"", 422, "empty upload"),
    (b"GIF89a" + b"\x00" * 20, 415, "bad.png"),
])
def test_bad_uploads_are_refused_with_a_clear_message(client, data, status, expected):
    response = upload(client, data, "bad.png")
    assert response.status_code == status
    assert expected in message(response)


def test_upload_size_and_pixel_limits(make_client, photo):
    small = make_client(max_upload_bytes=1000)
    response = upload(small, png_bytes(photo))
    assert response.status_code == 413 and "1,000 bytes" in response.json()["detail"]
    bomb = make_client(max_pixels=10_000)  # 240 x 160 = 38 400 pixels
    response = upload(bomb, png_bytes(photo), "big.png")
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "big.png: 240x160 = 38,400 pixels is more than this server accepts (10,000" in detail
    assert "--max-pixels" not in detail and "max_pixels" not in detail
    assert not any(bomb.app.state.store.folder.iterdir())  # a refused upload is not kept
    assert bomb.post("/api/images", data={"other": "x"}).status_code == 422  # no file field


def test_unknown_ids_and_paths_never_reach_the_filesystem(client, photo):
    image_id = upload(client, png_bytes(photo)).json()["id"]
    for bad in ("abc", "..%2F..%2Fetc%2Fpasswd", image_id[:-1] + "!", "A" * 22):
        assert client.get(f"/api/images/{bad}").status_code == 404
        assert client.post(f"/api/images/{bad}/segment", json={"k": 3}).status_code == 404
        assert client.get(f"/api/images/{bad}/preview.png").status_code == 404
        assert client.post(f"/api/images/{bad}/export", json={}).status_code == 404
        assert client.post(f"/api/images/{bad}/choose-k", json={}).status_code == 404
        assert client.get(f"/api/images/{bad}/colors").status_code == 404
    assert client.get("/static/../_app.py").status_code == 404


@pytest.mark.parametrize("body", [{"k": 1}, {"k": 33}, {"k": "many"}, {"space": "hsv"},
                                  {"attempts": 0}, {"seed": -1}, {"client": "a/b"}])
def test_bad_parameters_are_422(client, photo, body):
    image_id = upload(client, png_bytes(photo)).json()["id"]
    assert client.post(f"/api/images/{image_id}/segment", json=body).status_code == 422


def test_export_errors(client, photo):
    image_id = upload(client, png_bytes(photo)).json()["id"]
    path = f"/api/images/{image_id}/export"
    response = client.post(path, json={"k": 3, "what": "cutout", "cluster": 5})
    assert response.status_code == 422 and "cluster 5 does not exist" in message(response)
    assert client.post(path, json={"k": 3, "what": "everything"}).status_code == 422
    # k larger than the colours of a two-colour image: kmseg's own message
    flat = np.zeros((20, 20, 3), np.uint8)
    flat[:10] = 200
    two = upload(client, png_bytes(flat)).json()["id"]
    response = client.post(f"/api/images/{two}/segment", json={"k": 3})
    assert response.status_code == 422 and "distinct" in message(response)


def test_a_stale_request_of_the_same_client_is_dropped(client, photo):
    image_id = upload(client, png_bytes(photo)).json()["id"]
    path = f"/api/images/{image_id}/segment"
    assert client.post(path, json={"k": 6, "client": "tab1", "seq": 5}).status_code == 200
    stale = client.post(path, json={"k": 4, "client": "tab1", "seq": 3})
    assert stale.status_code == 409
    assert client.post(path, json={"k": 4, "client": "tab2", "seq": 3}).status_code == 200


def test_a_full_queue_answers_503_and_the_server_stays_up(make_client, photo, monkeypatch):
    from kmseg.serve import _work

    client = make_client(workers=1, max_pending=2)
    image_id = upload(client, png_bytes(photo)).json()["id"]
    original = _work.segment

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(_work, "segment", slow)
    codes: list[int] = []

    def request(k):
        codes.append(client.post(f"/api/images/{image_id}/segment", json={"k": k}).status_code)

    threads = [threading.Thread(target=request, args=(2 + i % 5,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(set(codes)) == [200, 503] and len(codes) == 8
    monkeypatch.setattr(_work, "segment", original)
    assert client.post(f"/api/images/{image_id}/segment", json={"k": 3}).status_code == 200


def test_least_recently_used_images_are_forgotten_and_deleted(make_client, photo):
    client = make_client(capacity=2)
    ids = [upload(client, png_bytes(np.roll(photo, i, axis=1))).json()["id"] for i in range(3)]
    assert client.get(f"/api/images/{ids[0]}").status_code == 404
    assert all(client.get(f"/api/images/{i}").status_code == 200 for i in ids[1:])
    folder = client.app.state.store.folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(ids[1:])
    client.__exit__(None, None, None)  # the server stops: its uploads go
    assert not folder.exists()


def test_the_page_and_the_docs_need_no_internet(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    static = files("kmseg.serve") / "static"
    for name in ("index.html", "app.js", "app.css"):
        text = (static / name).read_text()
        assert client.get(f"/static/{name}").status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name
    docs = client.get("/docs").text
    for endpoint in ("POST /api/images", "POST /api/images/{image_id}/segment",
                     "POST /api/images/{image_id}/export", "GET /api/images/{image_id}/colors"):
        assert endpoint in docs
    assert "http" not in docs.split("<body", 1)[1].replace("/openapi.json", "")
    schema = client.get("/openapi.json").json()
    assert "/api/images/{image_id}/segment" in schema["paths"]


def test_the_options_are_kmseg_s_and_the_schemas(client):
    """``GET /api/options`` sends the choices of kmseg._options and the bounds the schemas
    enforce: the page builds its controls from it."""
    from kmseg._options import DEFAULT_ATTEMPTS, DEFAULT_K, SPACES
    from kmseg.serve._schemas import WEB_MAX_ATTEMPTS, WEB_MAX_K, WEB_MIN_K

    options = client.get("/api/options").json()
    assert options["space"] == {"choices": list(SPACES), "default": "rgb"}
    assert options["k"] == {"min": WEB_MIN_K, "max": WEB_MAX_K, "default": DEFAULT_K}
    assert options["attempts"] == {"min": 1, "max": WEB_MAX_ATTEMPTS, "default": DEFAULT_ATTEMPTS}
    assert options["what"]["choices"] == ["labels", "segmented", "cutout", "report"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["SegmentParams"]["properties"]["space"]["enum"] == list(SPACES)
    assert schema["ChooseParams"]["properties"]["space"]["enum"] == list(SPACES)
    assert schema["ChooseParams"]["properties"]["k_max"]["maximum"] == WEB_MAX_K


def test_the_ranges_sent_are_the_ones_accepted(client, photo):
    options = client.get("/api/options").json()
    image_id = upload(client, png_bytes(photo)).json()["id"]
    path = f"/api/images/{image_id}/segment"
    k, attempts = options["k"], options["attempts"]
    assert client.post(path, json={"k": k["min"] - 1}).status_code == 422
    assert client.post(path, json={"k": k["max"] + 1}).status_code == 422
    assert client.post(path, json={"attempts": attempts["max"] + 1}).status_code == 422
    for space in options["space"]["choices"]:
        body = {"k": k["min"], "space": space, "attempts": attempts["min"]}
        assert client.post(path, json=body).status_code == 200, space


def test_the_host_warning_and_the_cli(capsys):
    from kmseg.serve import _is_loopback

    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5")
    from kmseg.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.open) == ("127.0.0.1", 8765, False)
    assert json.dumps(vars(args), default=str)


def test_the_command_serves_warns_off_loopback_and_stops_cleanly(tmp_path):
    """``kmseg serve`` as a user starts it: answers, warns when not on loopback, stops on
    Ctrl+C (SIGINT) with status 0 and deletes its uploads."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "kmseg", "serve", "--host", "0.0.0.0",
                                "--port", str(port)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/sample", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 201
        assert len(list(tmp_path.glob("kmseg-serve-*/*"))) == 1
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "warning: listening on 0.0.0.0, not a loopback address" in err
    assert not list(tmp_path.glob("kmseg-serve-*"))


def test_a_busy_port_is_one_clear_error():
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "kmseg", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"kmseg: error: cannot listen on 127.0.0.1:{port} (Address already in use)"]
