"""The parameters' choices and ranges: the page builds its controls from them."""

from __future__ import annotations

from fastapi import APIRouter

from .._schemas import Options, options

router = APIRouter()


@router.get("/api/options", summary="The parameters' choices and ranges",
            response_model=Options)
async def parameter_options():
    """Colour spaces, the range of k and the other parameters' bounds and defaults, as the
    other endpoints accept them."""
    return options()
