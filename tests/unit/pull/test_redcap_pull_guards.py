"""`cartwh pull` against a server that misbehaves (issue 28; cartwh/pull/redcap_api.py): a server that
quotes the token back in every way REDCap and proxies do (403, an error with HTTP 200, a 500 HTML
page), one that redirects elsewhere, one that trickles, one that answers too much, and HTML or XML
where JSON was asked. Every case ends in a PullError holding no token, with nothing written;
limits are checked by the bytes the server got to send, never by the clock. The whole night's
files searched for the token: tests/e2e/test_night_secrets.py."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from cartwh.contract.redcap import DICTIONARY_PATH, REPEATING_FORMS
from cartwh.pull.redcap import Connection, PullError, pull
from cartwh.pull.redcap_api import Limits, redact
from tests.fake_redcap import TOKEN, TOKEN_ECHOES, Answer, Project, Server

FIRST = datetime(2026, 1, 5, 2, 0, 0)
ROOMY = Limits(seconds=120, answer_bytes=2**30)


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory, generated) -> Path:
    root = tmp_path_factory.mktemp("demo")
    generated(root)
    [export] = (root / "redcap").glob("*.csv")
    return export


@pytest.fixture
def project(demo_export, monkeypatch) -> Project:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return Project.classic(DICTIONARY_PATH, demo_export, REPEATING_FORMS)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _refused(project: Project, tmp_path: Path, limits: Limits = ROOMY) -> str:
    """The message of the pull that failed; nothing of it written (landing, state)."""
    with Server(project) as url, pytest.raises(PullError) as raised:
        pull(Connection(url, TOKEN), "HUVR", tmp_path / "landing", tmp_path / "archive", now=FIRST, limits=limits)
    assert _files(tmp_path / "landing") == [] and _files(tmp_path / "archive") == []
    message = str(raised.value)
    assert TOKEN.lower() not in message.lower() and "\n" not in message
    return message


def test_redaction_withholds_the_token_and_anything_shaped_like_one():
    other = "ABCDEF0123456789ABCDEF0123456789"
    text = f"token={TOKEN.lower()}, super token {other * 2}, md5-free text 0123, {other}"
    assert redact(text, TOKEN) == (
        "token=[token withheld], super token [token withheld], md5-free text 0123, [token withheld]"
    )


@pytest.mark.parametrize("case", TOKEN_ECHOES)
def test_a_server_quoting_the_token_gets_a_message_without_it(project, tmp_path, case):
    project.misbehave = TOKEN_ECHOES[case]
    message = _refused(project, tmp_path)
    if case == "500 HTML":  # a page is named by its title
        assert message == "REDCap's API failed: HTTP 500 Internal Server Error: 500 Internal Server Error"
    else:  # REDCap's own text, the token withheld
        assert message.startswith("REDCap refused the API token (") and "[token withheld]" in message


def test_a_redirect_is_not_followed_and_the_other_host_hears_nothing(project, tmp_path, demo_export):
    elsewhere = Project.classic(DICTIONARY_PATH, demo_export, REPEATING_FORMS)
    with Server(elsewhere) as other_url:
        project.misbehave = lambda form: Answer(307, {"Location": other_url, "Content-Length": "0"})
        message = _refused(project, tmp_path)
    origin = other_url.split("/redcap")[0]
    assert (
        message.startswith("REDCap's API at ")
        and f"answered HTTP 307 (a redirect to {origin}): not followed" in message
    )
    assert elsewhere.requests == []  # the token went nowhere else


@pytest.mark.parametrize(
    "content_type, body, said",
    [
        (
            "text/html; charset=utf-8",
            "<!DOCTYPE html>\n<html><head><title>Log In | REDCap</title></head><body><form>...</form></body></html>",
            "answered an HTML page (a login page or a proxy's page?), not JSON: Log In | REDCap",
        ),
        (
            "text/xml",
            '<?xml version="1.0" encoding="UTF-8" ?>\n<hash>\n  <error>The API is disabled for this project</error>\n</hash>',
            "answered XML, not JSON: The API is disabled for this project",
        ),
    ],
)
def test_html_or_xml_for_json_is_said_as_such(project, tmp_path, content_type, body, said):
    project.misbehave = lambda form: Answer(200, {"Content-Type": content_type}, [body.encode()])
    message = _refused(project, tmp_path)
    assert said in message and "Expecting value" not in message


def _records_answer(pieces, pause: float = 0.0, raw: bool = False) -> Callable:
    """The export of all records misbehaves; everything else answers as REDCap does."""
    return lambda form: (
        Answer(200, {"Content-Type": "text/csv"}, pieces, pause, raw)
        if form.get("content") == "record" and "exportSurveyFields" in form
        else None
    )


def test_a_trickling_server_is_stopped_at_the_deadline(project, tmp_path):
    # 4,000 bytes a byte at a time, 10 ms apart: 40 s if nobody stopped it; the deadline is 1 s.
    total = 4000
    project.misbehave = _records_answer((b"x" for _ in range(total)), pause=0.01)
    message = _refused(project, tmp_path, Limits(seconds=1, answer_bytes=2**30))
    assert "did not finish answering within the pull's deadline of 1 s (CARTWH_REDCAP_DEADLINE)" in message
    assert project.stopped.wait(60)  # the server saw the pull hang up ...
    assert project.bytes_sent < total  # ... before it had sent everything


def test_a_server_trickling_its_headers_is_no_longer_waited_for_at_the_deadline(project, tmp_path):
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Padding-%d: %s\r\n" % (i, b"y" * 60) for i in range(60))
    project.misbehave = _records_answer((head[i : i + 1] for i in range(len(head))), pause=0.01, raw=True)
    message = _refused(project, tmp_path, Limits(seconds=1, answer_bytes=2**30))
    assert "within the pull's deadline of 1 s" in message
    assert project.bytes_sent < len(head)  # the pull gave up while the server still had headers to send


def test_an_oversized_answer_is_stopped_at_its_cap(project, tmp_path):
    row = b"1,,,huvr\n" * 1000  # 9 kB
    total = 5000  # pieces: 45 MB if nobody stopped it; the cap is 1 MB
    project.misbehave = _records_answer(row for _ in range(total))
    message = _refused(project, tmp_path, Limits(seconds=120, answer_bytes=2**20))
    assert "answered more than 1 MB (CARTWH_REDCAP_MAX_MB): stopped, nothing was written" in message
    assert project.stopped.wait(60) and project.bytes_sent < 10 * 2**20  # what the socket buffers held, at most


def test_a_large_record_export_goes_to_disk_not_memory(project, tmp_path):
    # 200 records of 100 rows (instances of a repeating form) with a long text each: about 7 MB
    header = ",".join(project.header).encode() + b"\n"
    cells = [""] * (len(project.header) - 3)
    row = lambda n: (f"{n // 100},{'x' * 300}," + ",".join(cells) + ",huvr\n").encode()  # noqa: E731
    rows = 20_000
    body = header + b"".join(row(n) for n in range(rows))
    project.misbehave = _records_answer(body[i : i + 65536] for i in range(0, len(body), 65536))
    tracemalloc.start()
    try:
        with Server(project) as url:
            report = pull(Connection(url, TOKEN), "HUVR", tmp_path / "landing", tmp_path / "archive", now=FIRST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.rows, report.records_changed) == (rows, 200)
    assert (tmp_path / "landing" / report.records_file).read_bytes() == body
    assert peak < len(body) / 10  # the answer was never held whole (it took 30 times its size before)
    assert not list((tmp_path / "landing" / "redcap").glob(".*"))  # the pull's own folder is gone


def test_a_pulled_setup_naming_an_unknown_form_writes_nothing(project, tmp_path):
    project.repeating = [{"event_name": "", "form_name": "toxicity; DROP TABLE x", "custom_form_label": ""}]
    message = _refused(project, tmp_path)
    assert "repeating form 'toxicity; DROP TABLE x' is not in the data dictionary" in message
