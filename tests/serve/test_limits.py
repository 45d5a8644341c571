"""The server's limits: too many pixels is a 413 whatever the format, and a body over the size
limit is refused as soon as that is known, before the rest of it is read."""

from __future__ import annotations

import io
import json
import re
import select
import socket
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from live import live_server
from PIL import Image

import kmseg

pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")

LIMIT = 1_000_000  # max_upload_bytes of the live server


@pytest.fixture
def client():
    from fastapi.testclient import TestClient

    from kmseg.serve import create_app

    with TestClient(create_app(max_upload_bytes=LIMIT)) as client:
        yield client


def upload(client, data: bytes, name: str):
    return client.post("/api/images", files={"file": (name, data, "application/octet-stream")})


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header (IHDR, with a valid CRC) claims ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"IHDR")
    struct.pack_into(">II", data, start + 4, width, height)
    struct.pack_into(">I", data, start + 17, zlib.crc32(bytes(data[start:start + 17])))
    return bytes(data)


def avif_claiming(width: int, height: int) -> bytes:
    """A small AVIF whose 'ispe' box claims ``width`` x ``height`` (encoding a real 17000 x
    17000 AVIF takes 20 s and 6 GB; the reader sees the same header either way)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "AVIF")
    data = bytearray(buffer.getvalue())
    ispe = data.index(b"ispe")  # box type, then version/flags (4 bytes), width, height
    assert struct.unpack_from(">II", data, ispe + 8) == (64, 64)
    struct.pack_into(">II", data, ispe + 8, width, height)
    return bytes(data)


@pytest.mark.parametrize(("make", "side"), [
    pytest.param(png_claiming, 17000, id="png-17000"),
    pytest.param(avif_claiming, 12000, id="avif-12000"),
    pytest.param(avif_claiming, 17000, id="avif-17000"),  # over libavif's own limit too
])
def test_an_image_with_too_many_pixels_is_413_with_its_size_and_the_limit(client, make, side):
    data = make(side, side)
    assert len(data) < 10_000  # the upload is small: only its pixel count is over
    response = upload(client, data, "huge.img")
    assert response.status_code == 413, response.json()
    detail = response.json()["detail"]
    assert f"{side}x{side} = {side * side:,} pixels" in detail
    assert f"more than this server accepts ({client.app.state.store.max_pixels:,} pixels)" \
        in detail
    assert "--" not in detail and "max_pixels" not in detail  # no CLI flag, no Python name
    assert not any(client.app.state.store.folder.iterdir())


def test_the_pixel_limit_is_recognised_by_the_error_class_not_its_words(client, monkeypatch):
    """Any ImageTooLargeError is a 413, whatever its message says (a reader that words it
    otherwise, e.g. a future format's, must not turn it into a 415)."""
    from kmseg.serve import _store

    def too_large(path, **options):
        raise kmseg.ImageTooLargeError(f"{path}: 30000x20000 = 600,000,000 pixels, too many",
                                       "30000x20000 = 600,000,000 pixels")

    monkeypatch.setattr(_store, "load_image", too_large)
    response = upload(client, b"whatever", "big.png")
    assert response.status_code == 413
    limit = client.app.state.store.max_pixels
    assert response.json()["detail"] == (
        f"big.png: 30000x20000 = 600,000,000 pixels is more than this server accepts "
        f"({limit:,} pixels)")


def test_a_json_body_over_its_limit_is_413(client):
    """Parameters take well under 1 kB: a megabyte of them is refused, not parsed."""
    image_id = client.post("/api/sample").json()["id"]
    body = b'{"k": 3, "client": "' + b"a" * 2**20 + b'"}'
    response = client.post(f"/api/images/{image_id}/segment", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert re.fullmatch(r"request body larger than [\d,]+ bytes", response.json()["detail"])


# A live server: only a real socket shows what is read before the answer.

@pytest.fixture
def server_port():
    """Port of a live kmseg server (max_upload_bytes = LIMIT) on loopback."""
    from kmseg.serve import create_app

    with live_server(create_app(max_upload_bytes=LIMIT)) as port:
        yield port


@pytest.fixture
def spooled(monkeypatch) -> list[int]:
    """Bytes written to each temporary file Starlette's multipart parser spools to."""
    from tempfile import SpooledTemporaryFile

    import starlette.formparsers

    sizes: list[int] = []

    class Recording(SpooledTemporaryFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.index = len(sizes)
            sizes.append(0)

        def write(self, data):
            sizes[self.index] += len(data)
            return super().write(data)

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", Recording)
    return sizes


BOUNDARY = "kmsegtestboundary"
PART = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n").encode()


def request_head(extra: str) -> bytes:
    return (f"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}\r\n").encode()


def send_until_answered(port: int, head: bytes, body: Iterator[bytes]) -> tuple[int, bytes]:
    """Send ``head``, then ``body`` for as long as the server reads it without answering.

    Returns the number of body bytes the socket took and the answer (read until the server
    closes the connection, as it must after refusing a body it did not read).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.sendall(head)
        sock.setblocking(False)
        sent, pending = 0, b""
        while True:
            readable, writable, _ = select.select([sock], [sock], [], 60)
            if readable:
                break
            if not writable:
                pytest.fail("the server neither reads the body nor answers")
            pending = pending or next(body, b"")
            if not pending:  # the body is over and the server has not answered yet
                select.select([sock], [], [], 60)
                break
            try:
                count = sock.send(pending)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            sent, pending = sent + count, pending[count:]
        sock.settimeout(60)
        answer = b""
        try:
            while piece := sock.recv(65536):
                answer += piece
        except ConnectionResetError:
            pass
        return sent, answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def refusal(answer: bytes) -> str:
    """The detail of a 413 answer, checking it closes the connection."""
    head, body = answer.split(b"\r\n\r\n", 1)
    assert status_of(answer) == 413 and b"connection: close" in head.lower()
    return json.loads(body)["detail"]


def test_a_declared_length_over_the_limit_is_refused_before_any_body(server_port, spooled):
    head = request_head("Content-Length: 2000000000\r\n")
    sent, answer = send_until_answered(server_port, head, iter([]))  # the body never comes
    assert sent == 0
    assert refusal(answer) == f"upload larger than {LIMIT:,} bytes"
    assert spooled == []


def test_a_streamed_body_is_refused_once_past_the_limit_not_read_to_its_end(server_port,
                                                                           spooled):
    """A chunked upload (no declared length) that would go on for 256 MB: the 413 comes
    once the bytes received pass the limit, and the spool never holds much more than it."""
    total = 256 * 2**20
    piece = b"\0" * 2**16

    def chunked() -> Iterator[bytes]:
        yield b"%x\r\n%s\r\n" % (len(PART), PART)
        for _ in range(total // len(piece)):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)

    sent, answer = send_until_answered(server_port, request_head("Transfer-Encoding: chunked\r\n"),
                                       chunked())
    assert refusal(answer) == f"upload larger than {LIMIT:,} bytes"
    # Kernel socket buffers on both sides hold a few MB the server never reads.
    assert sent < LIMIT + 32 * 2**20 < total / 4
    assert max(spooled, default=0) <= LIMIT + 2 * len(piece)


def test_an_upload_within_the_limit_still_goes_through_the_live_server(server_port):
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(buffer, "PNG")
    body = PART + buffer.getvalue() + f"\r\n--{BOUNDARY}--\r\n".encode()
    sent, answer = send_until_answered(
        server_port, request_head(f"Content-Length: {len(body)}\r\nConnection: close\r\n"),
        iter([body]))
    assert sent == len(body) and status_of(answer) == 201
