"""Headless Chromium driven over the DevTools protocol, with the network off, for the test that
every HTML output opens offline as a file.

Two locks on the network: Chromium resolves no host name (`--host-resolver-rules`) and the page
is emulated offline (`Network.emulateNetworkConditions`). Neither is trusted alone: every request
the page makes is recorded (`Network.requestWillBeSent`), with every failed load, JavaScript
exception and console error, so a test can assert that nothing but file:// (and inline data:)
was even asked for. Uses `websockets` (already a dependency of Dagster's webserver), nothing
that downloads a browser of its own.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
COUNTED = ("table", "svg", "img")


@dataclass
class PageLoad:
    url: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # elements per selector of COUNTED
    broken_images: list[str] = field(default_factory=list)

    @property
    def external(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


class Chromium:
    """One headless browser; `load` opens each page in a fresh tab."""

    def __init__(self, executable: str):
        self._profile = tempfile.mkdtemp(prefix="cartwh-chromium-")
        self._process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                "--window-size=1280,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._closing = contextlib.ExitStack()  # websockets wants its connection used as a context
        self._ws = self._closing.enter_context(connect(self._endpoint(), max_size=None, open_timeout=30))
        self._ids = itertools.count(1)

    def _endpoint(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return found.group(1)
            if not line and self._process.poll() is not None:
                break
        raise RuntimeError("Chromium did not open its DevTools endpoint")

    def _send(
        self, method: str, params: dict | None = None, session: str | None = None, events: list | None = None
    ) -> dict:
        """Send one command and wait for its answer; events received meanwhile go to `events`."""
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if events is not None and "method" in reply:
                events.append(reply)

    def _drain(self, events: list, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = json.loads(self._ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in reply:
                events.append(reply)

    def load(
        self, path: Path, expect: str, screenshot: Path | None = None, fragment: str = "", timeout: float = 30
    ) -> PageLoad:
        """Open `path` as a file:// URL (with `fragment`, e.g. a route of a one-page app) and wait
        until its text contains `expect` (pages drawn by JavaScript render after the load event),
        then report what it requested and shows."""
        url = Path(path).resolve().as_uri() + fragment
        events: list[dict] = []
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            for domain in ("Network", "Page", "Runtime", "Log"):
                self._send(f"{domain}.enable", session=session, events=events)
            self._send(
                "Network.emulateNetworkConditions",
                {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
                session=session,
                events=events,
            )
            self._send("Page.navigate", {"url": url}, session=session, events=events)
            page = PageLoad(url)
            deadline = time.monotonic() + timeout
            while True:
                self._drain(events, 0.5)
                page.text = self._evaluate("document.body ? document.body.innerText : ''", session, events)
                if expect in page.text or time.monotonic() > deadline:
                    break
            self._drain(events, 1.0)  # whatever the page still requests once drawn
            page.counts = {
                s: self._evaluate(f"document.querySelectorAll('{s}').length", session, events) for s in COUNTED
            }
            page.broken_images = self._evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)",
                session,
                events,
            )
            if screenshot:
                shot = self._send("Page.captureScreenshot", {"format": "png"}, session=session, events=events)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            _record(page, events)
            return page
        finally:
            self._send("Target.closeTarget", {"targetId": target})

    def _evaluate(self, expression: str, session: str, events: list):
        result = self._send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session, events=events
        )
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self._closing.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            shutil.rmtree(self._profile, ignore_errors=True)


def _record(page: PageLoad, events: list[dict]) -> None:
    urls = {}
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            page.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            page.failed.append(
                f"{urls.get(params['requestId'], '?')}: {params.get('errorText') or params.get('blockedReason')}"
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            page.errors.append((details.get("exception") or {}).get("description") or details.get("text", ""))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            page.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            page.errors.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
