"""The memory explorer page: served with a strict policy, and driven in headless Chromium.

The browser test starts a real server on a loopback port, writes memories
through the REST API (a supersede and a cause among them), then opens the page
with its URL fragment (``#key=...&q=...&open=...&as_of=...``) and reads the DOM
Chromium dumps once the page's requests are done.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.explorer import CONTENT_SECURITY_POLICY, STATIC_FILES, load_static
from hive_middleware.integrations.server.keys import AuditLog, KeyStore

from hive_middleware.config import HiveConfig
from hive_middleware.stack import HiveStack

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


def _app(tmp_path: Path) -> tuple[Any, KeyStore]:
    keys = KeyStore(tmp_path / "keys.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    config = HiveConfig(data_dir=str(tmp_path / "data"))
    return create_app(lambda: HiveStack.from_config(config), keys=keys, audit=audit), keys


# -- served files ------------------------------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_policy(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        assert 'src="static/explorer.js"' in page.text and 'href="static/explorer.css"' in page.text
        script = client.get("/static/explorer.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert client.get("/static/explorer.css").headers["content-type"].startswith("text/css")
        missing = client.get("/static/keys.sqlite")
        assert missing.status_code == 404
        assert missing.json()["error"] == "HiveNotFoundError" and "explorer.js" in missing.json()["message"]
        assert client.get("/static/..%2Fkeys.py").status_code == 404
        assert "/" not in client.get("/openapi.json").json()["paths"]


def test_static_files_load_nothing_from_elsewhere_and_never_parse_server_text_as_html() -> None:
    files = {name: data.decode("utf-8") for name, data in load_static().items()}
    assert set(files) == set(STATIC_FILES)
    for name, text in files.items():
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), name
        assert "@import" not in text, name
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in files["explorer.js"], sink
    assert "<script>" not in files["explorer.html"]  # the CSP forbids inline script


# -- headless Chromium -------------------------------------------------------------------------


@dataclass
class Element:
    """One element of the dumped DOM: its tag, attributes and text."""

    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())

    def find_all(self, tag: str) -> list[Element]:
        found = [c for c in self.children if c.tag == tag]
        for child in self.children:
            found += child.find_all(tag)
        return found


class Dom(HTMLParser):
    """The elements of a dumped page, indexed by id, plus every tag that was opened."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.by_id: dict[str, Element] = {}
        self.tags: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.tags.add(tag)
        self.stack[-1].children.append(element)
        if "id" in element.attrs:
            self.by_id[element.attrs["id"]] = element
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            element = self.stack.pop()
            self.stack[-1].parts.append(element.text)
            if element.tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)

    def __getitem__(self, element_id: str) -> Element:
        return self.by_id[element_id]


@dataclass
class Seeded:
    """A running server and what the test wrote into it."""

    base: str
    key: str
    plan: dict[str, Any]
    canary: dict[str, Any]
    incident: dict[str, Any]


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    app, keys = _app(tmp_path)
    key, _ = keys.create("explorer", scopes=["read", "write"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:

            def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
                answer = api.request(method, path, json=body)
                assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
                result: dict[str, Any] = answer.json()
                return result

            plan = call(
                "POST", "/v1/memories", {"content": "deploy with a blue-green rollout", "key": "rollout"}
            )
            time.sleep(0.05)  # the supersede is recorded some milliseconds later
            canary = call(
                "POST",
                "/v1/memories/rollout/supersede",
                {
                    "content": "deploy with a canary rollout at 5% traffic",
                    "reason": "blue-green doubled the cost",
                },
            )
            time.sleep(0.05)
            incident = call(
                "POST",
                "/v1/memories",
                {
                    "content": "deploy failed: the canary health check timed out",
                    "key": "incident",
                    "cause": [canary["id"]],
                },
            )
            call(
                "POST",
                "/v1/memories",
                {"content": "<b>deploy</b> notes <img src=x onerror=alert(1)>", "key": "markup"},
            )
        yield Seeded(base, key, plan, canary, incident)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _chromium(tmp_path: Path, name: str, *args: str) -> str:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / f'profile-{name}'}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=15000",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def _open(tmp_path: Path, seeded: Seeded, name: str, **fragment: str | int) -> Dom:
    url = f"{seeded.base}/#{urlencode({'key': seeded.key, **fragment})}"
    html = _chromium(tmp_path, name, "--dump-dom", url)
    (tmp_path / f"{name}.html").write_text(html)
    dom = Dom(html)
    assert dom.root.find_all("body")[0].attrs.get("data-state") == "ready", html
    return dom


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_explorer_searches_opens_and_travels_in_time(
    tmp_path: Path, seeded: Seeded, record_property: Any
) -> None:
    # Now: the current version of each key, the incident's cause, and markup shown as text.
    now = _open(tmp_path, seeded, "now", q="deploy", open="incident")
    assert not now["error"].text, now["error"].text
    results = now["results"].find_all("li")
    by_key = {li.attrs["data-key"]: li.text for li in results}
    assert {"rollout", "incident", "markup"} <= set(by_key), by_key
    assert "canary rollout" in by_key["rollout"] and "blue-green" not in now["results"].text
    assert all(re.search(r"\b\d\.\d{4}\b", text) for text in by_key.values()), by_key
    assert _iso(seeded.incident["recorded_at"]) in by_key["incident"]
    assert "<b>deploy</b> notes <img src=x onerror=alert(1)>" in by_key["markup"]
    assert "img" not in now.tags and "b" not in now.tags
    assert "health check timed out" in now["memory"].text
    causes = [li for li in now["why"].find_all("li") if li.attrs.get("data-kind") == "caused_by"]
    assert causes and "canary rollout" in causes[0].text, now["why"].text
    assert [li.attrs["data-id"] for li in now["history"].find_all("li")] == [seeded.incident["id"]]

    # As of a moment between the first version and its supersede: the older version is what was known.
    as_of = (seeded.plan["recorded_at"] + seeded.canary["recorded_at"]) // 2
    then = _open(tmp_path, seeded, "then", q="deploy", open="rollout", as_of=as_of)
    assert not then["error"].text, then["error"].text
    assert "blue-green" in then["memory"].text and "canary" not in then["memory"].text
    fields = dict(
        zip(
            (dt.text for dt in then["memory"].find_all("dt")),
            (dd.text for dd in then["memory"].find_all("dd")),
            strict=True,
        )
    )
    assert (
        fields["id"] == seeded.plan["id"]
        and fields["key"] == "rollout"
        and fields["recorded"] == _iso(seeded.plan["recorded_at"])
    )
    assert "[object" not in then.root.text
    versions = then["history"].find_all("li")
    assert [li.attrs["data-id"] for li in versions] == [seeded.plan["id"], seeded.canary["id"]]
    assert "blue-green doubled the cost" in versions[1].text
    assert [li.attrs["data-id"] for li in versions if "shown" in li.attrs["class"].split()] == [
        seeded.plan["id"]
    ]
    superseded = [li for li in then["why"].find_all("li") if li.attrs.get("data-kind") == "supersedes"]
    assert superseded and "blue-green" in superseded[0].text, then["why"].text
    assert "blue-green" in then["results"].text and "incident" not in then["results"].text
    slider = then["as-of"]
    assert "disabled" not in slider.attrs and int(slider.attrs["min"]) <= as_of <= int(slider.attrs["max"])
    assert then["as-of-label"].text == _iso(as_of)

    # Before anything was recorded: nothing known, said in words.
    before = _open(tmp_path, seeded, "before", open="rollout", as_of=seeded.plan["recorded_at"] - 60_000)
    assert "Nothing was known" in before["memory"].text and not before["error"].text

    # A bad key: the API's error, readable.
    refused = _open(tmp_path, seeded, "refused", q="deploy", key="hk_nope_nope")
    assert "HiveAuthError" in refused["error"].text and "401" in refused["error"].text
    assert not refused["results"].find_all("li")

    shot = tmp_path / "explorer.png"
    fragment = urlencode({"key": seeded.key, "q": "deploy", "open": "rollout", "as_of": as_of})
    _chromium(
        tmp_path, "shot", f"--screenshot={shot}", "--window-size=1200,900", f"{seeded.base}/#{fragment}"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))
    print(f"explorer screenshot: {shot}")
