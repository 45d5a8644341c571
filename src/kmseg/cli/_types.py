"""Argument types of the command line: text -> value, or an :class:`argparse.ArgumentTypeError`
saying what was expected (argparse prints it as a one-line usage error)."""

from __future__ import annotations

import argparse


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def non_negative_int(text: str) -> int:
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def port(text: str) -> int:
    value = _number(text, int, "a port number from 1 to 65535")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value}")
    return value


def k_or_auto(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of clusters >= 1 or 'auto', got {text!r}") from None


def positive_float(text: str) -> float:
    value = _number(text, float, "a number > 0")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number >= 0")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = _number(text, float, "a fraction from 0 to 1")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {text}")
    return value


def k_list(text: str) -> list[int]:
    """``4``, ``4,6,10`` or ``2..16``."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split(".."))
            values = list(range(low, high + 1))
        else:
            values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected K, K,K,... or FROM..TO, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"needs values of k >= 1, got {text!r}")
    return values


def colour_list(text: str) -> list[str]:
    colours = [part.strip() for part in text.split(",") if part.strip()]
    if not colours:
        raise argparse.ArgumentTypeError("expected colours such as '#ff0000,#00ff00'")
    return colours


def band_list(text: str) -> list[int]:
    try:
        bands = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected band numbers such as 4,3,2, got {text!r}") from None
    if min(bands) < 1:
        raise argparse.ArgumentTypeError(f"band numbers start at 1, got {text!r}")
    return bands


def ct_window(text: str) -> tuple[float, float] | str:
    """``CENTRE,WIDTH`` (a CT window in the scan's units) or a named window."""
    from .._options import CT_WINDOWS, one_of

    if text in CT_WINDOWS:
        return text
    try:
        centre, width = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CENTRE,WIDTH such as 40,400 or one of {one_of(tuple(CT_WINDOWS))}, "
            f"got {text!r}") from None
    if not width > 0:
        raise argparse.ArgumentTypeError(f"the width must be > 0, got {text!r}")
    return centre, width
