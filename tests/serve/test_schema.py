"""``/openapi.json`` tells the truth: schemathesis sends generated requests to every endpoint
and checks each answer against the schema (no 5xx, no undocumented status code or content
type, no body that does not match its schema)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web app needs the 'serve' extra")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the test extra) "
                                                          "checks the API against its schema")
from hypothesis import HealthCheck, settings  # noqa: E402  (hypothesis comes with it)
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Most generated requests about an image name one that exists (else all would be 404s);
# every fourth keeps its generated id, to check the 404s too.
_KEEP_GENERATED_ID = itertools.count()
_KNOWN: dict[str, str] = {}


def _app():
    from kmseg.serve import create_app

    # A small preview: segmentations with k = 32 and 50 attempts stay quick.
    return create_app(preview_pixels=4000, max_upload_bytes=200_000)


# Loaded at collection (schemathesis' from_fixture does not work with pytest 9): reading the
# schema starts the app's lifespan, which schemathesis ends after each test.
schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


def _an_image_id(api) -> str:
    """The id of an image stored in the app (uploaded again after a lifespan restart)."""
    known = _KNOWN.get("id", "none")
    if api["/api/images/{image_id}"]["GET"].Case(
            path_parameters={"image_id": known}).call().status_code != 200:
        image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        response = api["/api/images"]["POST"].Case(
            body={"file": buffer.getvalue()}, media_type="multipart/form-data").call()
        assert response.status_code == 201, response.text
        known = _KNOWN["id"] = response.json()["id"]
    return known


@schema.parametrize()
@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_schema(case):
    if "image_id" in (case.path_parameters or {}) and next(_KEEP_GENERATED_ID) % 4:
        case.path_parameters["image_id"] = _an_image_id(case.operation.schema)
    # choose-k with k_max = 32 takes seconds on two busy cores: more than the default 10 s
    case.call_and_validate(checks=CHECKS, timeout=120)
