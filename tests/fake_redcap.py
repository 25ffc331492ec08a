"""A small REDCap API server for the tests of `cartwh pull`: loopback only, one project in memory.

It answers the API methods the pull uses as REDCap documents them (API help page, "Export ..."):
every request is a POST of form fields with `token` and `content`; `format` (csv, json, xml)
chooses the answer's shape; a wrong token gets HTTP 403 with REDCap's error text, in JSON when
JSON was asked for and in REDCap's default XML otherwise; `content=record` honours `fields[n]`,
`records[n]` and `dateRangeBegin` ("YYYY-MM-DD HH:MM:SS", records created or modified after it).
A project is made from files REDCap wrote: REDCapR's longitudinal test project
(../shared/real-exports/redcap/longitudinal), or a dictionary and a record export of any project.
`Project.misbehave` lets a test answer as a broken or hostile server would (an `Answer` of its
own: any status and headers, a body sent a piece at a time, even the status line itself).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

TOKEN = "0123456789ABCDEF0123456789ABCDEF"
_UI_TO_API = {
    "Variable / Field Name": "field_name",
    "Form Name": "form_name",
    "Section Header": "section_header",
    "Field Type": "field_type",
    "Field Label": "field_label",
    "Choices, Calculations, OR Slider Labels": "select_choices_or_calculations",
    "Field Note": "field_note",
    "Text Validation Type OR Show Slider Number": "text_validation_type_or_show_slider_number",
    "Text Validation Min": "text_validation_min",
    "Text Validation Max": "text_validation_max",
    "Identifier?": "identifier",
    "Branching Logic (Show field only if...)": "branching_logic",
    "Required Field?": "required_field",
    "Custom Alignment": "custom_alignment",
    "Question Number (surveys only)": "question_number",
    "Matrix Group Name": "matrix_group_name",
    "Matrix Ranking?": "matrix_ranking",
    "Field Annotation": "field_annotation",
}
NO_RIGHTS = "You do not have permissions to use the API"


@dataclass
class Answer:
    """What a misbehaving server sends: `pieces` one after another, `pause` seconds apart; with
    `raw`, the pieces are the whole answer from its status line on (else status and headers first)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: Iterable[bytes] = ()
    pause: float = 0.0
    raw: bool = False


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Project:
    metadata: list[dict]
    events: list[dict]
    arms: list[dict]
    form_events: list[dict]
    header: list[str]
    rows: list[dict]
    modified: dict[str, datetime]  # record id -> last change
    repeating: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    fail_content: str | None = None  # answer HTTP 500 to this content, to test a pull failing midway
    misbehave: Callable[[dict], Answer | None] | None = None  # the form -> an answer of its own, or None
    bytes_sent: int = 0  # of misbehaving answers, until the client stopped reading
    stopped: threading.Event = field(default_factory=threading.Event)  # a misbehaving answer ended

    @classmethod
    def classic(cls, dictionary: Path, data: Path, repeating_forms: tuple[str, ...] = ()) -> Project:
        return cls.from_files(
            dictionary,
            data,
            [],
            [],
            [],
            [{"event_name": "", "form_name": f, "custom_form_label": ""} for f in repeating_forms],
        )

    @classmethod
    def from_files(cls, dictionary: Path, data: Path, events, arms, form_events, repeating=()) -> Project:
        metadata = [{_UI_TO_API[k]: v for k, v in row.items()} for row in _csv_rows(dictionary)]
        with open(data, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle))
        rows = _csv_rows(data)
        created = datetime(2024, 11, 3, 16, 57, 30)  # long before any pull of the tests
        record_id = metadata[0]["field_name"]
        return cls(
            metadata,
            events,
            arms,
            form_events,
            header,
            rows,
            {row[record_id]: created for row in rows},
            list(repeating),
        )

    @property
    def record_id(self) -> str:
        return self.metadata[0]["field_name"]

    @classmethod
    def longitudinal(cls, folder: Path) -> Project:
        import xml.etree.ElementTree as ElementTree

        odm, rc = "{http://www.cdisc.org/ns/odm/v1.3}", "{https://projectredcap.org}"
        mapping = []
        for event in ElementTree.parse(folder / "project.xml").getroot().iter(odm + "StudyEventDef"):
            arm, name = int(event.get(rc + "ArmNum")), event.get(rc + "UniqueEventName")
            mapping += [
                {"arm_num": arm, "unique_event_name": name, "form": ref.get(rc + "FormName")}
                for ref in event.iter(odm + "FormRef")
            ]
        return cls.from_files(
            folder / "dictionary.csv",
            folder / "data.csv",
            _csv_rows(folder / "event.csv"),
            _csv_rows(folder / "arm.csv"),
            mapping,
        )

    def change(self, record: str, column: str, value: str, when: datetime) -> None:
        """Change the value in the record's first row (its first event, its non-repeating row)."""
        next(row for row in self.rows if row[self.record_id] == record)[column] = value
        self.modified[record] = when

    def delete(self, record: str) -> None:
        self.rows = [r for r in self.rows if r[self.record_id] != record]
        del self.modified[record]

    def answer(self, form: dict[str, str]) -> tuple[int, str, str] | Answer:
        """(HTTP status, content type, body) for one API request, or a misbehaving Answer."""
        self.requests.append(form)
        own = self.misbehave(form) if self.misbehave else None
        if own is not None:
            return own
        fmt = form.get("format", "xml")
        if form.get("token") != TOKEN:
            if fmt == "json":
                return 403, "application/json", json.dumps({"error": NO_RIGHTS})
            xml = f'<?xml version="1.0" encoding="UTF-8" ?>\n<hash>\n  <error>{NO_RIGHTS}</error>\n</hash>'
            return 403, "text/xml", xml
        content = form.get("content")
        if content == self.fail_content:
            return 500, "text/plain", "Internal Server Error"
        if content == "version":
            return 200, "text/plain", "14.7.3"
        if content == "project":
            info = {
                "project_id": 1,
                "is_longitudinal": int(bool(self.events)),
                "has_repeating_instruments_or_events": int(bool(self.repeating)),
                "surveys_enabled": 0,
            }
            return 200, "application/json", json.dumps(info)
        tables = {
            "metadata": self.metadata,
            "event": self.events,
            "arm": self.arms,
            "formEventMapping": self.form_events,
            "repeatingFormsEvents": self.repeating,
        }
        if content in tables:
            return 200, "application/json", json.dumps(tables[content])
        if content == "record":
            return 200, "text/csv", self._records(form)
        return 400, "application/json", json.dumps({"error": 'The value of the parameter "content" is not valid'})

    def _records(self, form: dict[str, str]) -> str:
        fields = [v for k, v in sorted(form.items()) if k.startswith("fields[")]
        wanted = {v for k, v in form.items() if k.startswith("records[")}
        begin = datetime.strptime(form["dateRangeBegin"], "%Y-%m-%d %H:%M:%S") if form.get("dateRangeBegin") else None
        # REDCap adds the event, repeat and group columns to any field list that has the record id.
        keys = [self.record_id] + [c for c in self.header if c.startswith("redcap_")]
        # A checkbox field asked by name brings all its field___code columns, in dictionary order.
        columns = [c for c in self.header if not fields or c in keys or c.split("___")[0] in fields]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in self.rows:
            record = row[self.record_id]
            if (wanted and record not in wanted) or (begin and self.modified[record] <= begin):
                continue
            writer.writerow([row[c] for c in columns])
        return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    project: Project

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
        answer = self.server.project.answer(form)
        if isinstance(answer, Answer):
            self._misbehave(answer)
            return
        status, content_type, body = answer
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _misbehave(self, answer: Answer) -> None:
        project = self.server.project
        try:
            if not answer.raw:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
            self.wfile.flush()
            for piece in answer.pieces:
                self.wfile.write(piece)
                self.wfile.flush()
                project.bytes_sent += len(piece)
                time.sleep(answer.pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading
        finally:
            self.close_connection = True
            project.stopped.set()

    def log_message(self, *args):  # keep the test output clean
        pass


class Server:
    """`with Server(project) as url:` serves it on 127.0.0.1 at a free port until the block ends."""

    def __init__(self, project: Project):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.project = project
        self.httpd.timeout = 5
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/redcap/api/"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def echoing(status: int, content_type: str, body: str) -> Callable:
    """An answer to every request that quotes the request's own token."""
    return lambda form: Answer(
        status, {"Content-Type": content_type}, [body.replace("{token}", form["token"]).encode()]
    )


# Servers that quote the token back (the attack report saw each): a 403 whose error text holds it,
# an error answered with HTTP 200, and a proxy's 500 HTML page that echoes the request.
TOKEN_ECHOES = {
    "403": echoing(403, "application/json", '{"error": "The token {token} is not valid or has no API rights"}'),
    "200 with an error": echoing(200, "application/json", '{"error": "token {token}: you do not have API rights"}'),
    "500 HTML": echoing(
        500,
        "text/html",
        "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>"
        "<body><p>POST /redcap/api/ token={token}&content=metadata failed</p></body></html>",
    ),
}
