#!/usr/bin/env python3
"""The version, in one place: the package reads it, and meson.build runs this file for it."""

__version__ = "0.1.0"

if __name__ == "__main__":
    print(__version__)
