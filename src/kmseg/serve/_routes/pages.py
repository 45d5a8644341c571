"""The page and the API reference (plain HTML: Swagger UI would need a CDN)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

# Beside the modules (importlib.resources gives no folder path under an editable install).
STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index():
    return FileResponse(str(STATIC / "index.html"))


@router.get("/favicon.ico", include_in_schema=False)
async def favicon():
    return FileResponse(str(STATIC / "favicon.ico"), media_type="image/x-icon")


@router.get("/docs", include_in_schema=False)
async def docs(request: Request):
    return HTMLResponse(docs_page(request.app.openapi()))


def docs_page(schema: dict) -> str:
    """The API reference as plain HTML (Swagger UI would need a CDN)."""
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            rows.append(
                f"<h3><code>{method.upper()} {html.escape(path)}</code> — "
                f"{html.escape(operation.get('summary', ''))}</h3>"
                f"<p>{html.escape(operation.get('description', ''))}</p>"
                + (f"<p>Body: {', '.join(html.escape(t) for t in body)}</p>" if body else ""))
    models = json.dumps(schema.get("components", {}).get("schemas", {}), indent=2)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>kmseg API</title>"
        "<link rel='stylesheet' href='/static/app.css'></head><body class='docs'><main>"
        f"<h1>kmseg API</h1><p>{html.escape(schema['info'].get('description', ''))}</p>"
        f"<h2>Routes</h2>{''.join(rows)}<h2>Schemas</h2>"
        # Focusable: a region that scrolls must be reachable by keyboard.
        f"<pre tabindex='0' aria-label='schemas'>{html.escape(models)}</pre>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p></main></body></html>")
