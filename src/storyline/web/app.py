"""The local web UI and JSON API over a store (datasette-style: every page has a JSON twin).

Pages render the precomputed story documents (``export.stories``) and never recompute analysis.
The documents are cached per store and re-read when ``OUT/docs/_manifest.json`` changes, so a
concurrent ``storyline run`` into the same store shows up on the next request.

Example:
    >>> from storyline.web.app import create_app
    >>> app = create_app("storyline-out")        # doctest: +SKIP
    >>> serve("storyline-out", port=8000)        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import ConfigError
from ..store import MANIFEST, Store
from . import views

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
RETRIES = 3  # a concurrent run may swap parts mid-read; try again before falling back
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
ARTICLE_COLS = "article_id, path, url, outlet, published, title, byline, source_kind, text, raw_text"


class StoryCache:
    """The story documents of one store, re-read when the docs manifest changes (mtime + size).

    Lives on the app, not the module: two apps over two stores never share state.
    """

    def __init__(self, out: str | Path) -> None:
        self.root = Path(out)
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        # (docs, docs by story id, story id by article id) of one read, swapped in as one object: request
        # threads read it without the lock, so three separate attributes could mix two generations.
        self._snap: tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]] = ([], {}, {})

    def _manifest_key(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.root / "docs" / MANIFEST)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def docs(self) -> list[dict[str, Any]]:
        """Every story document, largest first (the last good read if the store is mid-update)."""
        return self._snapshot()[0]

    def _snapshot(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]]:
        key = self._manifest_key()
        if key is not None and key != self._key:
            with self._lock:
                if key != self._key:
                    self._load(key)
        return self._snap

    def _load(self, key: tuple[int, int]) -> None:
        from ..export import stories

        for attempt in range(RETRIES):
            try:
                docs = stories(Store(self.root, create=False))
            except Exception as exc:  # noqa: BLE001 - a half-written store must never break a page
                log.warning("reading stories from %s failed (%s), attempt %d", self.root, exc, attempt + 1)
                time.sleep(0.05 * (attempt + 1))
                continue
            self._snap = (docs, {d["story_id"]: d for d in docs},
                          {a["article_id"]: d["story_id"] for d in docs for a in d["articles"]})
            self._key = key
            return

    def story(self, story_id: str) -> dict[str, Any] | None:
        """One story document, or None."""
        return self._snapshot()[1].get(story_id)

    def story_of(self, article_id: str) -> dict[str, Any] | None:
        """The story document that holds ``article_id``, or None."""
        _, by_id, story_of = self._snapshot()
        sid = story_of.get(article_id)
        return by_id.get(sid) if sid else None

    def article(self, article_id: str) -> dict[str, Any] | None:
        """The stored article row (with ``raw_text``), falling back to the story document's copy."""
        for attempt in range(RETRIES):
            try:
                rows = Store(self.root, create=False).query(
                    f"select {ARTICLE_COLS} from articles where article_id = ? limit 1", [article_id])
                return rows[0] if rows else None
            except Exception as exc:  # noqa: BLE001 - see _load
                log.warning("reading article %s failed (%s), attempt %d", article_id, exc, attempt + 1)
                time.sleep(0.05 * (attempt + 1))
        doc = self.story_of(article_id)
        return next((a | {"raw_text": None} for a in doc["articles"] if a["article_id"] == article_id), None) \
            if doc else None


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["query"] = lambda params, **extra: urlencode({k: v for k, v in (params | extra).items() if v})
    env.filters["web_url"] = lambda u: u if isinstance(u, str) and u.lower().startswith(("http://", "https://")) \
        else None
    env.filters["pct"] = lambda x: f"{100 * (x or 0):.0f}%"
    env.globals["version"] = __version__
    return env


def _page(env: Environment, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**context), status_code=status)


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith((".json", ".csv"))


def _error(env: Environment, request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    return _page(env, "error.html", status, title=f"{status}", message=message)


def create_app(out: str | Path) -> FastAPI:
    """A FastAPI app serving the store at ``out``: HTML pages, their JSON twins and ``/openapi.json``.

    Args:
        out: the store folder a ``storyline run`` wrote.

    Returns:
        The app; run it with uvicorn or :func:`serve`.

    Raises:
        StoreError: ``out`` is not a storyline store.

    Example:
        >>> from fastapi.testclient import TestClient   # doctest: +SKIP
        >>> TestClient(create_app("storyline-out")).get("/stories.json").json()["count"]  # doctest: +SKIP
    """
    Store(out, create=False)  # fail fast with the fix when out is not a store
    cache = StoryCache(out)
    env = _templates()
    app = FastAPI(title="storyline", version=__version__, description="Stories found in a storyline store.")
    app.state.cache = cache
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):  # Swagger UI needs its CDN scripts
            response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No such page."
        return _error(env, request, exc.status_code, str(message))

    @app.exception_handler(ConfigError)
    async def bad_params(request: Request, exc: ConfigError) -> Response:
        return _error(env, request, 400, str(exc))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("error serving %s", request.url.path)
        return _error(env, request, 500, "Something went wrong reading the store; see the server log.")

    def listing(q: str | None, outlet: str | None, since: str | None, until: str | None,
                sort: str | None) -> dict[str, Any]:
        return views.story_list(cache.docs(), views.list_params(q, outlet, since, until, sort))

    def story_view(story_id: str) -> dict[str, Any]:
        doc = cache.story(story_id)
        if doc is None:
            raise HTTPException(404, f"No story with id {story_id!r} in this store.")
        return views.story_page(doc)

    def article_view(article_id: str) -> dict[str, Any]:
        row = cache.article(article_id)
        if row is None:
            raise HTTPException(404, f"No article with id {article_id!r} in this store.")
        return views.article_page(row, cache.story_of(article_id))

    @app.get("/stories.json", summary="Stories matching the list filters")
    def stories_json(q: str | None = None, outlet: str | None = None, since: str | None = None,
                     until: str | None = None, sort: str | None = None) -> dict[str, Any]:
        """The list page's data: summary rows plus the filters applied."""
        return listing(q, outlet, since, until, sort)

    @app.get("/stories.csv", response_class=PlainTextResponse, summary="Stories matching the filters, as CSV")
    def stories_csv(q: str | None = None, outlet: str | None = None, since: str | None = None,
                    until: str | None = None, sort: str | None = None) -> Response:
        """The list page's rows as CSV."""
        body = views.list_csv(listing(q, outlet, since, until, sort))
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="stories.csv"'})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(q: str | None = None, outlet: str | None = None, since: str | None = None,
              until: str | None = None, sort: str | None = None) -> HTMLResponse:
        view = listing(q, outlet, since, until, sort)
        return _page(env, "list.html", view=view, sorts=views.SORTS, title="Stories")

    @app.get("/story/{story_id}.json", summary="One story: document plus the page's groupings")
    def story_json(story_id: str) -> dict[str, Any]:
        """The story document (README schema) plus passage groups, speakers, figures and the matrix."""
        return story_view(story_id)

    @app.get("/story/{story_id}", response_class=HTMLResponse, include_in_schema=False)
    def story_html(story_id: str) -> HTMLResponse:
        view = story_view(story_id)
        return _page(env, "story.html", view=view, segs=views.article_segments(view), title=view["title"])

    @app.get("/article/{article_id}.json", summary="One article: text, page text and reuse links")
    def article_json(article_id: str) -> dict[str, Any]:
        """The stored article, its story, articles sharing passages and the page text line by line."""
        return article_view(article_id)

    @app.get("/article/{article_id}", response_class=HTMLResponse, include_in_schema=False)
    def article_html(article_id: str) -> HTMLResponse:
        view = article_view(article_id)
        segs: list[dict[str, Any]] = [{"text": view["article"]["text"] or "", "classes": [], "group": None,
                                       "quote": None, "figure": None, "anchors": []}]
        doc = cache.story_of(article_id)
        if doc is not None:
            segs = views.article_segments(views.story_page(doc)).get(article_id, segs)
        return _page(env, "article.html", view=view, segs=segs, title=view["article"]["title"] or article_id)

    return app


def serve(out: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the store at ``out`` on http://host:port until interrupted (binds localhost by default).

    Example:
        >>> serve("storyline-out", port=8000)  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(create_app(out), host=host, port=port, log_level="info")
