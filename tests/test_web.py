"""The web UI: JSON twins, filters, 404s, reloads, escaping, and a real browser (Debian chromium)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import storyline
from storyline.web import create_app, views

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "seeds"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built from the example corpus (plus the seed pages when ../shared is there)."""
    out = tmp_path_factory.mktemp("web") / "store"
    inputs = [str(CORPUS)] + ([str(SEEDS)] if SEEDS.is_dir() else [])
    storyline.run(inputs, out=out)
    return out


@pytest.fixture(scope="module")
def client(store: Path) -> TestClient:
    return TestClient(create_app(store))


@pytest.fixture(scope="module")
def xss_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose titles, outlets, urls, text and quotes carry script payloads."""
    folder = tmp_path_factory.mktemp("xss")
    body = (f"Officials said the Kestrel dam was safe on Monday. {SCRIPT}\n\n"
            f"The mayor said {IMG} nothing else was known about the dam or the reservoir tonight.\n\n"
            f"\"We are watching the water {SCRIPT} every hour,\" said Mayor Petra Linden of Lowbridge.")
    records = [
        {"id": "x1", "url": "javascript:window.__xss=1", "outlet": f"Evil {IMG}", "date": "2025-03-05",
         "title": f"Dam report {SCRIPT} {IMG}", "text": body},
        {"id": "x2", "url": "https://copy.example/dam", "outlet": "copy.example", "date": "2025-03-06",
         "title": f"Reprint {IMG}", "text": body + "\n\nThis reprint adds one closing line about the dam."},
    ]
    src = folder / "pages.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    storyline.run([str(src)], out=folder / "store")
    return folder / "store"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(out: Path) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(out), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[str]:
    yield from _serve(store)


@pytest.fixture(scope="module")
def xss_server(xss_store: Path) -> Iterator[str]:
    yield from _serve(xss_store)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian chromium driven by Playwright (skips when either is missing)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()


def _shared_story(client: TestClient) -> dict[str, Any]:
    """The first story with a passage carried by two articles."""
    for row in client.get("/stories.json").json()["stories"]:
        doc = client.get(f"/story/{row['story_id']}.json").json()
        if any(len({c["article_id"] for c in g["carriers"]}) > 1 for g in doc["passage_groups"]):
            return doc
    pytest.fail("no story with a shared passage in the example corpus")


# ---------------------------------------------------------------- JSON twins and pages


def test_web_stories_json_lists_every_story(client: TestClient, store: Path) -> None:
    docs = storyline.open(store).stories()
    body = client.get("/stories.json").json()
    assert body["count"] == body["total"] == len(docs)
    assert {r["story_id"] for r in body["stories"]} == {d["story_id"] for d in docs}
    assert set(body["stories"][0]) == set(views.SUMMARY)
    sizes = [r["size"] for r in body["stories"]]
    assert sizes == sorted(sizes, reverse=True)


def test_web_list_filters_search_outlet_dates_and_sort(client: TestClient) -> None:
    rows = client.get("/stories.json").json()["stories"]
    target = rows[0]
    word = target["title"].split()[0]
    found = client.get("/stories.json", params={"q": word.upper()}).json()["stories"]
    assert target["story_id"] in {r["story_id"] for r in found}
    assert client.get("/stories.json", params={"q": "zzqx-no-such-words"}).json()["count"] == 0
    outlet = target["outlets"][0]
    by_outlet = client.get("/stories.json", params={"outlet": outlet}).json()["stories"]
    assert by_outlet and all(outlet in r["outlets"] for r in by_outlet)
    titles = [r["title"].casefold() for r in client.get("/stories.json", params={"sort": "title"}).json()["stories"]]
    assert titles == sorted(titles)
    day = target["first_seen"][:10]
    ranged = client.get("/stories.json", params={"since": day, "until": day}).json()["stories"]
    assert target["story_id"] in {r["story_id"] for r in ranged}
    assert all(r["first_seen"][:10] <= day <= r["last_seen"][:10] for r in ranged)
    assert client.get("/stories.json", params={"since": "2999-01-01"}).json()["count"] == 0


@pytest.mark.parametrize("url", ["/?sort=bogus", "/stories.json?sort=bogus", "/stories.json?since=March"])
def test_web_bad_list_params_name_the_fix(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400
    assert "size, date, title" in r.text or "2025-03-04" in r.text


def test_web_csv_is_the_json_view(client: TestClient) -> None:
    params = {"sort": "title"}
    rows = client.get("/stories.json", params=params).json()["stories"]
    r = client.get("/stories.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0].split(",") == list(views.SUMMARY)
    assert [line.split(",")[0] for line in lines[1:]] == [row["story_id"] for row in rows]


def test_web_list_page_links_downloads_of_the_current_view(client: TestClient) -> None:
    html = client.get("/", params={"q": "dam", "sort": "date"}).text
    assert 'href="/stories.csv?q=dam&amp;sort=date"' in html
    assert 'href="/stories.json?q=dam&amp;sort=date"' in html


def test_web_story_json_is_the_document_plus_page_groupings(client: TestClient, store: Path) -> None:
    doc = _shared_story(client)
    stored = storyline.open(store).story(doc["story_id"])
    assert {k: doc[k] for k in stored} == stored
    assert [g["fact_id"] for g in doc["passage_groups"]] == \
        [f["fact_id"] for f in stored["facts"] if f["kind"] == "passage"]
    assert len(doc["matrix"]["rows"]) == len(stored["facts"])
    assert all(len(r["cells"]) == len(stored["outlets"]) for r in doc["matrix"]["rows"])
    assert {c for r in doc["matrix"]["rows"] for c in r["cells"]} <= {"reported", "only here", "conflict", "omitted"}
    assert sum(len(q["carriers"]) for s in doc["speakers"] for q in s["quotes"]) == len(stored["quotes"])
    assert doc["figure_conflicts"] == sum(f["conflict"] for f in doc["figure_rows"])


def test_web_story_page_shows_what_the_json_holds(client: TestClient) -> None:
    doc = _shared_story(client)
    html = client.get(f"/story/{doc['story_id']}").text
    for a in doc["articles"]:
        assert f'data-article="{a["article_id"]}"' in html
    for g in doc["passage_groups"]:
        assert html.count(f'class="pg pg-{g["colour"]}" data-group="{g["fact_id"]}"') >= len(g["carriers"])
    for e in doc["copy_graph"]:
        assert e["reason"] in html
    assert html.count('class="quote-link"') == sum(len(s["quotes"]) for s in doc["speakers"])
    assert html.count('class="cell cell-') == sum(len(r["cells"]) for r in doc["matrix"]["rows"])


def test_web_article_json_has_reuse_links_and_page_lines(client: TestClient) -> None:
    doc = _shared_story(client)
    aid = doc["passage_groups"][0]["carriers"][0]["article_id"]
    body = client.get(f"/article/{aid}.json").json()
    assert body["article"]["article_id"] == aid and body["story"]["story_id"] == doc["story_id"]
    others = {c["article_id"] for g in doc["passage_groups"] for c in g["carriers"]} - {aid}
    assert others <= {r["article_id"] for r in body["reuse"]}
    lines = body["raw_lines"]
    assert "\n".join(line["text"] for line in lines).strip() == body["article"]["raw_text"].strip()
    assert any(line["kept"] for line in lines)
    html = client.get(f"/article/{aid}").text
    assert 'id="toggle-raw"' in html and 'id="raw" hidden' in html
    for r in body["reuse"]:
        assert f'href="/article/{r["article_id"]}"' in html


@pytest.mark.parametrize("url", ["/story/no-such-story", "/article/no-such-article", "/nowhere"])
def test_web_unknown_ids_give_a_404_page(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text and "story list" in r.text
    j = client.get(url + ".json") if url != "/nowhere" else client.get("/story/no-such-story.json")
    assert j.status_code == 404 and j.headers["content-type"] == "application/json"
    assert "error" in j.json()


def test_web_openapi_lists_the_json_twins(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/stories.json", "/stories.csv", "/story/{story_id}.json", "/article/{article_id}.json"} <= set(paths)


def test_web_pages_send_a_content_security_policy(client: TestClient) -> None:
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp


def test_web_reloads_when_the_store_changes_and_survives_a_broken_manifest(tmp_path: Path) -> None:
    out = tmp_path / "store"
    storyline.run([str(CORPUS / "01_wire_dam.txt")], out=out)
    c = TestClient(create_app(out))
    before = c.get("/stories.json").json()["total"]
    storyline.run([str(CORPUS)], out=out)  # a later run adds articles to the same store
    after = c.get("/stories.json").json()["total"]
    assert after == len(storyline.open(out).stories()) > before
    manifest = out / "docs" / "_manifest.json"
    manifest.write_text('{"parts": ["part-missing.parquet"], "rows": 1}', encoding="utf-8")  # mid-update store
    r = c.get("/stories.json")
    assert r.status_code == 200 and r.json()["total"] == after
    shutil.rmtree(out / "docs")
    assert c.get("/").status_code == 200


@pytest.mark.parametrize("marks", [
    [],
    [{"kind": "passage", "start": 2, "end": 9, "group": "g1", "colour": 1, "anchor": "p-a-2"},
     {"kind": "quote", "start": 5, "end": 14, "anchor": "q-a-5"},
     {"kind": "unique", "start": 12, "end": 30},
     {"kind": "figure", "start": -3, "end": 99, "anchor": "f-a-0", "conflict": True}],
])
def test_web_segments_cover_the_text_once(marks: list[dict[str, Any]]) -> None:
    text = "0123456789abcdefghij<b>&"
    segs = views.segments(text, marks)
    assert "".join(s["text"] for s in segs) == text
    assert all(s["text"] for s in segs)
    if marks:
        assert segs[1]["group"] == "g1" and "pg-1" in segs[1]["classes"]
        assert any(s["quote"] == "q-a-5" and s["group"] == "g1" for s in segs)
        assert all("fig-conflict" in s["classes"] for s in segs)


def test_web_scraped_markup_is_escaped_in_html(xss_store: Path) -> None:
    c = TestClient(create_app(xss_store))
    story_id = c.get("/stories.json").json()["stories"][0]["story_id"]
    doc = c.get(f"/story/{story_id}.json").json()
    pages = ["/", f"/story/{story_id}"] + [f"/article/{a['article_id']}" for a in doc["articles"]]
    for url in pages:
        html = c.get(url).text
        assert "<script>window" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html, url
        assert 'href="javascript:' not in html, url


# ---------------------------------------------------------------- in a real browser


def test_web_browser_list_story_quote_and_back(page: Any, server: str, client: TestClient) -> None:
    doc = _shared_story(client)
    page.goto(server + "/")
    link = page.locator(f'a.story-link[href="/story/{doc["story_id"]}"]')
    assert link.is_visible()
    link.click()
    page.wait_for_url(f"**/story/{doc['story_id']}")
    cols = page.locator("article.col")
    assert cols.count() == len(doc["articles"]) >= 2
    group = next(g for g in doc["passage_groups"] if len({c["article_id"] for c in g["carriers"]}) > 1)
    ids = list(dict.fromkeys(c["article_id"] for c in group["carriers"]))[:2]
    first = page.locator(f'article.col[data-article="{ids[0]}"] .text .pg[data-group="{group["fact_id"]}"]').first
    second = page.locator(f'article.col[data-article="{ids[1]}"] .text .pg[data-group="{group["fact_id"]}"]').first
    first.scroll_into_view_if_needed()
    assert first.is_visible()
    colour = next(c for c in first.get_attribute("class").split() if c.startswith("pg-"))
    assert colour in second.get_attribute("class").split()
    assert first.evaluate("e => getComputedStyle(e).backgroundColor") == \
        second.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    first.click()
    assert "active" in second.get_attribute("class").split()
    if doc["speakers"]:
        quote = page.locator("a.quote-link").first
        target = quote.get_attribute("data-quote")
        quote.click()
        seg = page.locator(f'.text .qt[data-quote="{target}"]').first
        assert "flash" in seg.get_attribute("class").split()
        assert seg.is_visible()
        assert seg.evaluate("e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight }")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-story.png"), full_page=True)
    page.click("#back")
    page.wait_for_url(server + "/")
    assert page.locator("a.story-link").count() == client.get("/stories.json").json()["count"]
    assert page.js_errors == []


def test_web_browser_article_toggles_the_page_text(page: Any, server: str, client: TestClient) -> None:
    doc = _shared_story(client)
    aid = doc["articles"][0]["article_id"]
    page.goto(f"{server}/article/{aid}")
    assert page.locator("#clean").is_visible() and not page.locator("#raw").is_visible()
    page.click("#toggle-raw")
    assert page.locator("#raw").is_visible() and not page.locator("#clean").is_visible()
    assert page.locator("#raw .kept").count() >= 1
    assert page.get_attribute("#toggle-raw", "aria-pressed") == "true"
    assert page.js_errors == []


def test_web_browser_phone_width_stacks_columns(browser: Any, server: str, client: TestClient) -> None:
    doc = _shared_story(client)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        pg = context.new_page()
        pg.goto(f"{server}/story/{doc['story_id']}")
        boxes = [pg.locator("article.col").nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["x"] == boxes[1]["x"] and boxes[1]["y"] > boxes[0]["y"]
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "web-story-phone.png"))
    finally:
        context.close()


def test_web_browser_payloads_stay_text(page: Any, xss_server: str, xss_store: Path) -> None:
    docs = storyline.open(xss_store).stories()
    doc = docs[0]
    urls = ["/", f"/story/{doc['story_id']}"] + [f"/article/{a['article_id']}" for a in doc["articles"]]
    for url in urls:
        page.goto(xss_server + url)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", url
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0, url
        assert SCRIPT in page.locator("main").inner_text(), url
    page.goto(f"{xss_server}/story/{doc['story_id']}")
    assert IMG in page.locator("h1").inner_text()
    assert page.evaluate("typeof window.__xss") == "undefined"
