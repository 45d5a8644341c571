"""``kmseg serve``: a local web app to explore a segmentation — drop a photo, drag k, export.

One static page (plain HTML, CSS and JavaScript shipped in the package: no build step, no CDN)
over a JSON API (:mod:`kmseg.serve._app`). Needs the ``serve`` extra (FastAPI and uvicorn).

Safety: the server binds to 127.0.0.1 unless told otherwise (and warns when it is not a
loopback address); uploads have a size limit and a pixel limit; images are recognised from
their content; ids are random; no path given by a client reaches the filesystem; uploads live
in a temporary folder, at most ``capacity`` of them, deleted when the server stops.
"""

from __future__ import annotations

import ipaddress
import sys

from .._errors import ParameterError

__all__ = ["create_app", "serve"]


def create_app(**options):
    """The FastAPI app (see :func:`kmseg.serve._app.create_app` for the options)."""
    _check_installed()
    from ._app import create_app as make

    return make(**options)


def serve(host: str = "127.0.0.1", port: int = 8765, *, open_browser: bool = False,
          **options) -> None:
    """Run the app with uvicorn until interrupted."""
    _check_installed()
    import uvicorn

    _check_free(host, port)
    if not _is_loopback(host):
        print(f"kmseg serve: warning: listening on {host}, not a loopback address: anyone who "
              "can reach this machine can upload images to it", file=sys.stderr)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    print(f"kmseg serve: {url} (Ctrl+C to stop)", file=sys.stderr)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(**options), host=host, port=port, log_level="warning")


def _check_free(host: str, port: int) -> None:
    """One clear error, before uvicorn starts, when the address cannot be listened on."""
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise ParameterError(f"cannot listen on {host}:{port} ({error.strerror or error})") \
            from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_installed() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ParameterError("kmseg serve needs the 'serve' extra: pip install fastapi "
                             "uvicorn python-multipart (or pip install '.[serve]' in the kmseg "
                             "folder)") from None
