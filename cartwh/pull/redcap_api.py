"""REDCap's API as `cartwh pull` talks to it: PyCap composes every request, and every answer is
read here, the way a server's answer must be read when a night depends on it and the request
carried a secret.

- **The token never leaves.** It travels only as the `token` form field. Every message made from
  an answer (an HTTP error page, REDCap's error text, a parse error) passes `redact`, which
  withholds the token and anything shaped like one (32 or 64 hexadecimal characters), before
  it is raised, logged or stored: a server that quotes the token back (REDCap's 403 does, so do
  proxies' error pages) cannot put it in the run log, ops.run_history or Dagster's storage.
- **No redirect is followed.** requests would follow a 307 with the POST body, token included,
  to any host the answer names; a redirect is refused, naming where it pointed (origin only).
- **Limits.** A pull of a site has an overall deadline (CARTWH_REDCAP_DEADLINE, seconds): each
  request runs in a helper thread the pull stops waiting for at the deadline, whether the server
  is silent or trickles a byte at a time (a socket timeout alone is per read), and the reading of
  a body stops there too, hanging up on the server. (Limit: a server trickling its *headers*
  keeps the abandoned helper's socket until it stops or the process ends; the pull has failed by
  then.) An answer larger than CARTWH_REDCAP_MAX_MB is stopped at that size. A record export is
  streamed to a file as it arrives (memory stays flat whatever its size); the metadata answers,
  small, are kept in memory within the same cap.
- **Said as it is.** An HTML page (a login page, a proxy's error) or XML where JSON or CSV was
  asked is refused as such, with the page's title or REDCap's error text, never as a JSON
  decoding error.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cartwh import settings

TOKEN_SHAPED = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{32}){1,2}(?![0-9A-Fa-f])")
WITHHELD = "[token withheld]"
_CHUNK = 64 * 1024
_ERROR_BYTES = 64 * 1024  # of an error answer, read for its message only
_HEAD = 4096  # of an answer streamed to a file, kept to tell what it is


def redact(text: str, token: str = "") -> str:
    """`text` without the token, in any case, nor anything token-shaped."""
    text = TOKEN_SHAPED.sub(WITHHELD, text)
    return re.sub(re.escape(token), WITHHELD, text, flags=re.IGNORECASE) if token else text


class PullError(Exception):
    """A pull that could not be done; nothing was written. Its message never holds the token,
    nor anything token-shaped a server answered."""

    def __init__(self, message: object):
        super().__init__(redact(str(message)))


@dataclass(frozen=True)
class Limits:
    seconds: float  # the whole pull of one site
    answer_bytes: int  # one answer

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(settings.redcap_deadline_seconds(), settings.redcap_max_answer_bytes())


class Api:
    """One site's pull: `call(method, ...)` runs PyCap's export `method` within the limits."""

    def __init__(self, url: str, token: str, limits: Limits):
        from redcap import Project  # PyCap; imported here so that `cartwh` starts fast

        self.url, self.limits = url, limits
        self.deadline = time.monotonic() + limits.seconds
        self._project = Project(
            url,
            token,
            timeout=(min(30.0, limits.seconds), limits.seconds),  # per socket read; the deadline bounds the whole
            allow_redirects=False,
            stream=True,
            hooks={"response": self._read},
        )
        self._into: Path | None = None
        self._stopped = False

    def call(self, method: str, into: Path | None = None, **arguments):
        """PyCap's `Project.<method>(**arguments)`; with `into`, the body of its record export is
        streamed to that file and PyCap is given an empty one (it returns '')."""
        self._into = into
        return self._within_deadline(method, lambda: getattr(self._project, method)(**arguments))

    # --- the deadline ------------------------------------------------------------------------

    def _late(self, what: str) -> str:
        return (
            f"REDCap's API at {self.url} did not finish answering within the pull's deadline of "
            f"{self.limits.seconds:g} s (CARTWH_REDCAP_DEADLINE), at {what}: stopped, nothing was written"
        )

    def _within_deadline(self, what: str, work):
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["value"] = work()
            except BaseException as error:  # handed to the waiting thread
                outcome["error"] = error

        if self._stopped or time.monotonic() >= self.deadline:
            raise PullError(self._late(what))
        helper = threading.Thread(target=run, name=f"redcap-{what}", daemon=True)
        helper.start()
        helper.join(self.deadline - time.monotonic())
        if helper.is_alive():  # silent or trickling: no longer waited for; its reading stops at its next chunk
            self._stopped = True
            raise PullError(self._late(what))
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    # --- one answer --------------------------------------------------------------------------

    def _read(self, response, *args, **kwargs):
        """requests' response hook: the whole answer read, within the limits, before PyCap sees it."""
        try:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise PullError(self._redirect(response))
            if response.status_code >= 400:
                said = _error_text(response, self._stream(response, _ERROR_BYTES, None, cut=True))
                raise PullError(refusal(f"HTTP {response.status_code} {response.reason}: {said}"))
            asked = {k: v[0] for k, v in parse_qs(response.request.body or "").items()}
            into = self._into if asked.get("content") == "record" else None  # not PyCap's own metadata look-up
            head = self._stream(response, self.limits.answer_bytes, into)
            markup = _markup(response, head)
            if markup:
                raise PullError(
                    f"REDCap's API at {self.url} answered {markup}, not {asked.get('format', 'json').upper()}{_said(head)}"
                )
            if into is not None and head.lstrip().lower().startswith(b"error:"):
                raise PullError(refusal(head.decode("utf-8", "replace")))
            response._content = b"" if into is not None else head
        finally:
            response.close()
        return response

    def _stream(self, response, limit: int, into: Path | None, cut: bool = False) -> bytes:
        """The answer's body read a chunk at a time, never past the deadline, into `into` (then
        only its first bytes are returned) or memory. More than `limit` bytes: refused, or with
        `cut` the first `limit` kept (an error answer's message is at its start)."""
        size, head = 0, io.BytesIO()
        sink = open(into, "wb") if into is not None else head  # noqa: SIM115 (closed below)
        try:
            while chunk := response.raw.read1(_CHUNK):
                if self._stopped or time.monotonic() > self.deadline:
                    raise PullError(self._late("reading an answer"))
                size += len(chunk)
                if size > limit and cut:
                    break
                if size > limit:
                    raise PullError(
                        f"REDCap's API at {self.url} answered more than {limit / 2**20:g} MB "
                        f"(CARTWH_REDCAP_MAX_MB): stopped, nothing was written"
                    )
                sink.write(chunk)
                if sink is not head and head.tell() < _HEAD:
                    head.write(chunk[: _HEAD - head.tell()])
        finally:
            if sink is not head:
                sink.close()
        return head.getvalue()

    def _redirect(self, response) -> str:
        target = urlsplit(response.headers.get("Location", ""))
        where = f"{target.scheme}://{target.netloc}" if target.netloc else "another address"
        return (
            f"REDCap's API at {self.url} answered HTTP {response.status_code} (a redirect to {where}): not "
            "followed, so the token goes nowhere else; set CARTWH_REDCAP_URL to the address REDCap answers at"
        )


def refusal(said: object) -> str:
    """What REDCap (or whatever answered) said, as the pull's message."""
    text = " ".join(str(said).split())
    if "permission" in text.lower() or "token" in text.lower() or re.match(r"HTTP 40[13]\b", text):
        return f"REDCap refused the API token ({text}): check the token and the account's API export right"
    return f"REDCap's API failed: {text}"


def _markup(response, head: bytes) -> str:
    """'an HTML page ...' or 'XML' when the answer is markup (REDCap answers JSON or CSV as asked)."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    kind = response.headers.get("Content-Type", "").lower()
    if "html" in kind or start.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a login page or a proxy's page?)"
    if "xml" in kind or start.startswith(b"<"):
        return "XML"
    return ""


def _said(body: bytes) -> str:
    """What a markup answer says, for the message: REDCap's <error> or the page's <title>."""
    text = body.decode("utf-8", "replace")
    found = re.search(r"<error>(.*?)</error>", text, re.S | re.I) or re.search(
        r"<title>(.*?)</title>", text, re.S | re.I
    )
    return f": {' '.join(found.group(1).split())[:200]}" if found else ""


def _error_text(response, body: bytes) -> str:
    """The text of an error answer: JSON's "error", XML's <error>, an HTML page's title, or its first words."""
    if _markup(response, body):
        return _said(body).removeprefix(": ") or "an HTML page"
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return " ".join(text.split())[:200]
