"""The local web UI: ``create_app(out)`` for a FastAPI app, ``serve(out)`` to run it with uvicorn.

Example:
    >>> from storyline.web import serve
    >>> serve("storyline-out", host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from .app import create_app, serve

__all__ = ["create_app", "serve"]
