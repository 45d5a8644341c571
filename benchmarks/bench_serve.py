"""kmseg serve: slider latency in a real browser, and a loopback load test, in one run.

    python benchmarks/bench_serve.py [--clients 50] [--duration 20]

Latency: Playwright drives Debian's Chromium (``/usr/bin/chromium``) on the page; for the
bundled sample (0.24 MP) and for a >= 12 MP photo of ../shared/data/corpus/large (segmented on
its 0.5 MP preview), the k slider is moved one step at a time (k = 2..16 and back, twice) and each
step waits for its image; the page records each request -> image-shown time
(``window.kmseg.latencies``). Printed: median, p95 and max.

Load: ``--clients`` concurrent clients (httpx2, one connection each) each upload the sample
(retrying after a 503), then segment it with random k and colour space for ``--duration``
seconds, pausing 0.25 s after a 503. Printed: requests, answers by status, p50 / p95
latency, and whether the server still answers afterwards. A 503 (queue full) is a clean
refusal; a 500 or a dropped connection is a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

LARGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "large"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--photo", default=None,
                        help="the large photo (default: the first >= 12 MP one of corpus/large)")
    args = parser.parse_args()
    url, stop = start_server()
    try:
        print("## kmseg serve benchmark\n")
        print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"os.cpu_count() = {os.cpu_count()}; command: `python benchmarks/bench_serve.py "
              f"{' '.join(sys.argv[1:])}`")
        print(f"- load average at start: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        latency_table(url, args.photo or large_photo())
        load_table(url, args.clients, args.duration)
        print(f"\n- load average at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        stop()
    return 0


def start_server():
    import uvicorn

    from kmseg.serve import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop():
        server.should_exit = True
        thread.join(timeout=30)

    return f"http://127.0.0.1:{port}", stop


def large_photo() -> str:
    import kmseg

    for path in sorted(LARGE.glob("*.jpg")):
        if np.prod(kmseg.load_image(path).pixels.shape[:2]) >= 12e6:
            return str(path)
    raise SystemExit(f"no >= 12 MP photo in {LARGE}")


def latency_table(url: str, photo: str) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    steps = list(range(2, 17)) + list(range(15, 1, -1))
    steps = steps + steps[1:]
    print("### Slider latency (request -> image shown, in the browser)\n")
    print("| image | preview | steps | median (ms) | p95 (ms) | max (ms) | server median (ms) |")
    print("|---|---|---|---|---|---|---|")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium,
                                             args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/")
        for name, opener in (("bundled sample", lambda: page.click("#sample")),
                             (Path(photo).name,
                              lambda: page.set_input_files("#file", photo))):
            page.evaluate("""() => { window.kmseg.latencies = [];
                document.body.dataset.shownK = ''; document.getElementById('k').value = 4;
                document.getElementById('k-value').textContent = 4; }""")
            opener()
            page.wait_for_selector("body[data-shown-k='4']", timeout=120_000)
            preview = page.locator("#image-info").inner_text()
            page.evaluate("window.kmseg.latencies = []")
            slider = page.locator("#k")
            for k in steps:
                slider.evaluate("(s, k) => { s.value = k; s.dispatchEvent(new Event('input')); }",
                                k)
                page.wait_for_selector(f"body[data-shown-k='{k}']", timeout=60_000)
            shown = page.evaluate("window.kmseg.latencies")
            ms = [entry["ms"] for entry in shown]
            server = [entry["server_ms"] for entry in shown]
            size = preview.split("(preview ")[-1].rstrip(")") if "preview" in preview else \
                preview.split(": ")[1].split(",")[0]
            print(f"| {name} | {size} | {len(ms)} | {statistics.median(ms):.0f} | "
                  f"{percentile(ms, 95):.0f} | {max(ms):.0f} | {statistics.median(server):.0f} |")
        browser.close()
    print()


def load_table(url: str, clients: int, duration: float) -> None:
    import httpx2 as httpx

    from kmseg.data import sample_path

    data = Path(sample_path()).read_bytes()
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    served: set[int] = set()

    def count(key: str) -> None:
        statuses[key] = statuses.get(key, 0) + 1

    async def upload(session, end: float) -> str | None:
        """The sample's id; a 503 (queue full) is retried after a pause, as the page would."""
        while time.monotonic() < end:
            try:
                response = await session.post(
                    "/api/images", files={"file": ("coffee.jpg", data, "image/jpeg")})
            except httpx.HTTPError as error:
                count(f"upload {type(error).__name__}")
                return None
            count(f"upload {response.status_code}")
            if response.status_code == 201:
                return response.json()["id"]
            if response.status_code != 503:
                return None
            await asyncio.sleep(0.25)
        return None

    async def client(index: int) -> None:
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=url, timeout=120) as session:
            end = time.monotonic() + duration
            image_id = await upload(session, end)
            if image_id is not None:
                served.add(index)
            while image_id is not None and time.monotonic() < end:
                body = {"k": rng.randint(2, 16), "space": rng.choice(["rgb", "lab"])}
                start = time.perf_counter()
                try:
                    answer = await session.post(f"/api/images/{image_id}/segment", json=body)
                except httpx.HTTPError as error:
                    count(type(error).__name__)
                    continue
                count(str(answer.status_code))
                if answer.status_code == 200:
                    assert answer.json()["k"] == body["k"]
                    latencies.append((time.perf_counter() - start) * 1000)
                elif answer.status_code == 503:
                    await asyncio.sleep(0.25)  # refused cleanly: back off
                elif answer.status_code == 404:  # forgotten (store full): upload again
                    image_id = await upload(session, end)

    async def run_all() -> None:
        await asyncio.gather(*(client(i) for i in range(clients)))

    start = time.perf_counter()
    asyncio.run(run_all())
    wall = time.perf_counter() - start
    alive = httpx.post(url + "/api/sample", timeout=30).status_code
    requests = sum(number for key, number in statuses.items() if not key.startswith("upload"))
    clean = {"200", "201", "404", "409", "503"}
    failures = sum(number for key, number in statuses.items()
                   if key.split()[-1] not in clean)
    print(f"### Load test: {clients} clients on loopback for {duration:.0f} s\n")
    print("| clients (got an image in) | segment requests | answers by status | failures (5xx "
          "but 503, errors) | p50 (ms) | p95 (ms) | server alive after |")
    print("|---|---|---|---|---|---|---|")
    by_status = ", ".join(f"{key}: {count}" for key, count in sorted(statuses.items()))
    print(f"| {clients} ({len(served)}) | {requests} | {by_status} | {failures} | "
          f"{statistics.median(latencies):.0f} | {percentile(latencies, 95):.0f} | "
          f"{'yes' if alive == 201 else f'no ({alive})'} |")
    print(f"\n- {wall:.1f} s in all; {len(latencies) / wall:.1f} segmentations per second")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
