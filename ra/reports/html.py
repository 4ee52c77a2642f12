"""The HTML report: totals and, per session, a timeline of view and control.

Design
------
`collect` reads the log once, in seq order, and folds each session's events
into a `SessionTimeline`: spans (the person was asked and answered; the
helper could see the screen; the helper held the mouse and keyboard) and
marks (a request, an answer, each release, the screen becoming unavailable,
the end). Only what a timeline needs is kept, so memory grows with the
number of sessions and spans, not with the log's size (chat text is never
kept). `render` writes the collected `Report` as one HTML document, session
by session, to any text stream; `write_report` into a file.

Which sessions: those whose first event lies in the report's `Period`
``[since, until)``, each drawn whole (events after `until` included), so a session is never cut in
two. Failed passwords and lock-outs are invitation events, counted when
they lie in the window.

Self-contained and inert: the file fetches nothing and runs nothing. There
is no script at all; the timelines are inline SVG, the styling one
``<style>`` element that the Content-Security-Policy names by its SHA-256
(``default-src 'none'``), so a browser refuses any other style, script,
image, font, frame or connection, whatever the log holds. Every text that
comes from the log (names a helper gave, reasons, addresses) is made inert
(`ra.inert`: control, bidi and zero-width characters written as escapes)
and then HTML-escaped; attribute values are quoted and escaped the same way.

Positions are exact and checkable: each timeline's ``<svg>`` carries its
time range (``data-t0``, ``data-t1``, UTC) and plot edges (``data-x0``,
``data-x1``); each span's ``<rect>`` its kind, ``data-start`` and
``data-end``, and an ``x`` and ``width`` that follow from them linearly.
Times shown to people are in the report's time zone (local by default) and
name it; data attributes are UTC as the log holds them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from pathlib import Path
from typing import Any, TextIO

import orjson

from ra.events.model import format_time
from ra.fingerprint import format_fingerprint, short_fingerprint
from ra.inert import inert
from ra.reports.period import Period

#: ``progress(done, total)``: how far into the log (by seq) the report has read.
Progress = Callable[[int, int | None], None]

#: The longest text from the log a report shows (a name, a reason, an address).
TEXT_SHOWN = 120

#: Timeline geometry (SVG user units): plot edges, lane height, lanes.
WIDTH = 960
X0 = 110.0
X1 = 940.0
LANE_H = 22
LANES = ("consent", "view", "control")
LANE_TOP = 8
AXIS_H = 34

_SESSION = "session:"
_READ_BATCH = 4096


@dataclass(slots=True)
class Span:
    """A stretch of a session: ``consent`` (asked until answered), ``view`` or ``control``."""

    kind: str
    start: datetime
    end: datetime | None = None  # None while open; `SessionTimeline.close` ends it
    open: bool = False  # still open at the session's last event
    scope: str = ""  # consent: view or control
    answer: str = ""  # consent: granted, denied or (open) unanswered
    reason: str = ""  # consent denied: why; control: how it ended
    by: str = ""  # control: who released it

    @property
    def seconds(self) -> float:
        return 0.0 if self.end is None else (self.end - self.start).total_seconds()


@dataclass(slots=True)
class Mark:
    """A moment on a timeline: what happened, on which lane."""

    lane: str
    at: datetime
    what: str  # requested, granted, denied, released, unavailable, ended
    text: str


@dataclass(slots=True)
class SessionTimeline:
    """One session, folded from its events."""

    id: str
    started: datetime
    last: datetime
    person: str = ""
    helper: str = ""
    fingerprint: str = ""
    address: str = ""
    ended_by: str = ""
    ended_because: str = ""
    chats: int = 0
    inputs_rejected: int = 0
    consents_denied: int = 0
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    _open: dict[str, Span] = field(default_factory=dict)

    @property
    def control_seconds(self) -> float:
        return sum(span.seconds for span in self.spans if span.kind == "control")

    def begin(self, kind: str, at: datetime, scope: str = "") -> Span:
        self.end_span(kind, at)  # a span never overlaps its own kind
        span = Span(kind, at, scope=scope)
        self.spans.append(span)
        self._open[kind] = span
        return span

    def end_span(self, kind: str, at: datetime) -> Span | None:
        span = self._open.pop(kind, None)
        if span is not None:
            span.end = at
        return span

    def close(self) -> None:
        """End what is still open at the session's last event (drawn as open)."""
        for kind in list(self._open):
            span = self._open.pop(kind)
            span.end = self.last
            span.open = True
            if kind == "consent":
                span.answer = "unanswered"


@dataclass(slots=True)
class Totals:
    sessions: int = 0
    control_seconds: float = 0.0
    consents_denied: int = 0
    view_denied: int = 0
    control_denied: int = 0
    lockouts: int = 0
    failed_passwords: int = 0
    failed_identities: int = 0
    events_read: int = 0


@dataclass(slots=True)
class Report:
    """What the HTML report shows."""

    period: Period[datetime]
    generated: datetime
    log_size: int
    sessions: list[SessionTimeline]
    totals: Totals


def collect(
    conn: Any,
    period: Period[datetime],
    *,
    progress: Progress | None = None,
) -> Report:
    """Fold the log behind `conn` (an ra database, read only) into a `Report`."""
    window = period.text()
    (top,) = conn.execute("SELECT max(seq) FROM events").fetchone()
    total = 0 if top is None else int(top) + 1
    totals = Totals()
    sessions: dict[str, SessionTimeline] = {}
    loads = orjson.loads
    read = 0
    for batch in _bodies(conn, window.since):
        for _seq, body in batch:
            event = loads(body)
            read += 1
            stream: str = event["stream"]
            if stream.startswith(_SESSION):
                timeline = sessions.get(stream)
                if timeline is None:
                    if event["stream_version"] != 1:
                        continue  # began before the window
                    when = event["occurred_at"]
                    if not window.holds(when):
                        continue
                    at = _time(when)
                    timeline = sessions[stream] = SessionTimeline(
                        stream[len(_SESSION):], at, at)
                _apply(timeline, event)
            elif event["type"] in ("auth.failed", "invitation.locked"):
                if not window.holds(event["occurred_at"]):
                    continue
                if event["type"] == "invitation.locked":
                    totals.lockouts += 1
                elif event["payload"].get("reason", "password") == "identity":
                    totals.failed_identities += 1
                else:
                    totals.failed_passwords += 1
        if progress is not None and batch:
            progress(batch[-1][0] + 1, total)
    ordered = sorted(sessions.values(), key=lambda s: (s.started, s.id))
    for timeline in ordered:
        timeline.close()
        totals.sessions += 1
        totals.control_seconds += timeline.control_seconds
        for span in timeline.spans:
            if span.kind == "consent" and span.answer == "denied":
                totals.consents_denied += 1
                if span.scope == "view":
                    totals.view_denied += 1
                else:
                    totals.control_denied += 1
    totals.events_read = read
    return Report(period, datetime.now(UTC), total, ordered, totals)


def _bodies(conn: Any, low: str | None) -> Iterator[list[tuple[int, Any]]]:
    if low is None:
        cursor = conn.execute("SELECT seq, body FROM events ORDER BY seq")
    else:
        cursor = conn.execute("SELECT seq, body FROM events "
                              "WHERE json_extract(body, '$.occurred_at') >= ? ORDER BY seq",
                              (low,))
    while batch := cursor.fetchmany(_READ_BATCH):
        yield batch


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # the log's ...Z reads as UTC


def _apply(timeline: SessionTimeline, event: dict[str, Any]) -> None:
    """Fold one session event into its timeline."""
    kind: str = event["type"]
    payload: dict[str, Any] = event["payload"] if isinstance(event["payload"], dict) else {}
    at = _time(event["occurred_at"])
    if at > timeline.last:
        timeline.last = at
    actor = event["actor"]
    if kind == "chat.message":
        timeline.chats += 1
    elif kind == "input.rejected":
        count = payload.get("count", 1)
        timeline.inputs_rejected += count if isinstance(count, int) else 1
    elif kind == "session.authenticated":
        timeline.helper = str(payload.get("helper", actor.get("id", "")))
        timeline.fingerprint = str(payload.get("fingerprint", actor.get("key", "")))
        timeline.address = str(payload.get("address", ""))
    elif kind == "session.connected":
        if actor.get("kind") == "helper" and not timeline.helper:
            timeline.helper = str(actor.get("id", ""))
    elif kind == "consent.requested":
        scope = str(payload.get("scope", ""))
        timeline.begin("consent", at, scope=scope)
        timeline.marks.append(Mark("consent", at, "requested", f"asked to allow {scope}"))
    elif kind in ("consent.granted", "consent.denied"):
        scope = str(payload.get("scope", ""))
        answer = kind.split(".")[1]
        span = timeline.end_span("consent", at)
        if span is None:  # an answer with no question in this log: a moment
            span = Span("consent", at, at, scope=scope)
            timeline.spans.append(span)
        span.answer = answer
        span.reason = str(payload.get("reason", ""))
        if actor.get("kind") == "person" and not timeline.person:
            timeline.person = str(actor.get("id", ""))
        why = f" ({span.reason})" if span.reason else ""
        timeline.marks.append(Mark("consent", at, answer, f"{scope} {answer}{why}"))
        if scope == "view" and answer == "denied" and not timeline.ended_because:
            timeline.ended_by = "person" if span.reason == "declined" else "system"
            timeline.ended_because = "view consent denied"  # the session ends with it
            for lane in LANES:
                timeline.end_span(lane, at)
    elif kind == "view.started":
        timeline.begin("view", at)
    elif kind == "control.requested":
        timeline.marks.append(Mark("control", at, "requested", "control requested"))
    elif kind == "control.granted":
        timeline.begin("control", at)
    elif kind == "control.released":
        span = timeline.end_span("control", at)
        by, via = str(payload.get("by", "")), str(payload.get("via", ""))
        if span is not None:
            span.by, span.reason = by, via
        timeline.marks.append(Mark("control", at, "released", f"released by {by} ({via})"))
    elif kind == "control.denied" and payload.get("reason") == "screen unavailable":
        timeline.marks.append(Mark("control", at, "denied", "control refused (no screen)"))
    elif kind == "view.unavailable":
        timeline.end_span("view", at)
        timeline.end_span("control", at)
        reason = str(payload.get("reason", ""))
        timeline.marks.append(Mark("view", at, "unavailable", f"screen not shown ({reason})"))
    elif kind == "session.disconnected":
        timeline.ended_by = str(payload.get("by", ""))
        timeline.ended_because = str(payload.get("reason", ""))
        for lane in LANES:
            timeline.end_span(lane, at)
        timeline.marks.append(Mark("view", at, "ended",
                                   f"ended by {timeline.ended_by} ({timeline.ended_because})"))


# -- rendering ---------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px 32px; color: #1d2430;
       background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 6px; font-family: ui-monospace, monospace; }
p.scope { color: #4b5565; margin: 0 0 16px; }
table.totals { border-collapse: collapse; margin: 0 0 20px; }
table.totals th, table.totals td { text-align: left; padding: 4px 18px 4px 0; }
table.totals td { font-variant-numeric: tabular-nums; font-weight: 600; }
.legend { margin: 0 0 20px; color: #4b5565; }
.legend span.key { display: inline-block; width: 14px; height: 10px; margin: 0 4px 0 14px;
                   vertical-align: middle; border: 1px solid #0003; }
.key.consent { background: #c9ccd3; } .key.granted { background: #3f9b5a; }
.key.denied { background: #c8433b; } .key.view { background: #8bb8e8; }
.key.control { background: #e98b2a; }
section.session { border-top: 1px solid #d9dde3; padding: 14px 0 6px; }
dl.who { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 8px; }
dl.who dt { color: #4b5565; } dl.who dd { margin: 0; }
.fp { font-family: ui-monospace, monospace; font-size: 12.5px; }
svg.timeline { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2430; }
svg text.lane { fill: #4b5565; }
svg line.axis { stroke: #9aa3ae; } svg line.tick { stroke: #d9dde3; }
rect.track { fill: #f3f5f8; }
rect.consent { fill: #c9ccd3; } rect.consent.granted { fill: #3f9b5a; }
rect.consent.denied { fill: #c8433b; }
rect.view { fill: #8bb8e8; } rect.control { fill: #e98b2a; }
rect.open { opacity: .55; }
path.mark { stroke: #1d2430; stroke-width: 1.4; fill: none; }
path.mark.denied, path.mark.unavailable { stroke: #c8433b; }
path.mark.ended { stroke: #1d2430; stroke-width: 2.2; }
path.mark.requested { stroke: #7b8492; stroke-dasharray: 2 2; }
path.mark.released { stroke: #1d2430; stroke-width: 2.2; }
svg text.holder { font-size: 10.5px; fill: #3b2305; }
p.empty { color: #4b5565; }
"""


def content_security_policy(style: str = STYLE) -> str:
    """Nothing may load or run but the one inline style, named by its hash."""
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    tag = base64.b64encode(digest).decode("ascii")
    return (f"default-src 'none'; style-src 'sha256-{tag}'; img-src 'none'; "
            "base-uri 'none'; form-action 'none'")


def render(report: Report, out: TextIO, *, zone: tzinfo | None = None) -> None:
    """Write `report` as one self-contained HTML document to `out`."""
    w = out.write
    t = report.totals
    w("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    w(f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy()}">\n')
    w('<meta name="referrer" content="no-referrer">\n')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    w("<title>ra audit report</title>\n")
    w(f"<style>{STYLE}</style>\n</head>\n<body>\n")
    w("<h1>ra audit report</h1>\n")
    window = (f"sessions that started from {_when(report.period.since, zone, 'the beginning')} "
              f"until {_when(report.period.until, zone, 'now')}")
    w(f'<p class="scope">{_text(window)}; {report.log_size:,} events in the log; '
      f"made {_text(_when(report.generated, zone, ''))}.</p>\n")
    w('<table class="totals" id="totals">\n')
    for key, label, value in (
        ("sessions", "Sessions", f"{t.sessions:,}"),
        ("control", "Time in control", _duration(t.control_seconds)),
        ("denied", "Consents denied",
         f"{t.consents_denied:,} ({t.view_denied:,} view, {t.control_denied:,} control)"),
        ("lockouts", "Lock-outs (invitations locked)", f"{t.lockouts:,}"),
        ("failed-passwords", "Failed passwords", f"{t.failed_passwords:,}"),
        ("failed-identities", "Failed identity proofs", f"{t.failed_identities:,}"),
    ):
        w(f'<tr><th>{label}</th><td data-total="{key}">{_text(value)}</td></tr>\n')
    w("</table>\n")
    w('<p class="legend">'
      '<span class="key consent"></span>asked, not answered'
      '<span class="key granted"></span>consent granted'
      '<span class="key denied"></span>consent denied'
      '<span class="key view"></span>helper sees the screen'
      '<span class="key control"></span>helper controls mouse and keyboard'
      "</p>\n")
    if not report.sessions:
        w('<p class="empty">No session started in this period.</p>\n')
    for timeline in report.sessions:
        w(_session_html(timeline, zone))
    w("</body>\n</html>\n")


def _session_html(s: SessionTimeline, zone: tzinfo | None) -> str:
    ident = _attr(s.id)
    parts = [f'<section class="session" id="session-{ident}" data-session="{ident}">\n',
             f"<h2>session {_text(s.id)}</h2>\n", '<dl class="who">\n']
    lasted = _duration((s.last - s.started).total_seconds())
    rows = [("started", f"{_when(s.started, zone, '')} (lasted {lasted})")]
    helper = s.helper or "unknown"
    rows.append(("helper", helper))
    if s.fingerprint:
        rows.append(("helper key", format_fingerprint(s.fingerprint)))
    if s.address:
        rows.append(("from", s.address))
    if s.person:
        rows.append(("person", s.person))
    if s.ended_because:
        rows.append(("ended", f"by {s.ended_by} ({s.ended_because})"))
    else:
        rows.append(("ended", "not recorded (open, or the log stops here)"))
    rows.append(("in control", _duration(s.control_seconds)))
    extra = []
    if s.chats:
        extra.append(f"{s.chats:,} chat messages")
    if s.inputs_rejected:
        extra.append(f"{s.inputs_rejected:,} inputs refused")
    if extra:
        rows.append(("also", ", ".join(extra)))
    for label, value in rows:
        css = ' class="fp"' if label == "helper key" else ""
        field_name = _attr(label.replace(" ", "-"))
        parts.append(f'<dt>{label}</dt><dd{css} data-field="{field_name}">{_text(value)}</dd>\n')
    parts.append("</dl>\n")
    parts.append(_timeline_svg(s, zone))
    parts.append("</section>\n")
    return "".join(parts)


def _timeline_svg(s: SessionTimeline, zone: tzinfo | None) -> str:
    t0 = s.started
    t1 = s.last if s.last > t0 else t0 + timedelta(seconds=1)
    span_s = (t1 - t0).total_seconds()
    scale = (X1 - X0) / span_s

    def x_of(moment: datetime) -> float:
        return round(X0 + (moment - t0).total_seconds() * scale, 3)

    height = LANE_TOP + LANE_H * len(LANES) + AXIS_H
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'data-t0="{format_time(t0)}" data-t1="{format_time(t1)}" '
           f'data-x0="{X0:g}" data-x1="{X1:g}">\n',
           f"<title>{_text(f'timeline of session {s.id}')}</title>\n"]
    helper = s.helper or "the helper"
    who = _text(helper) + (f" (key {short_fingerprint(s.fingerprint)})" if s.fingerprint else "")
    lane_names = {"consent": "consent", "view": "view", "control": "control"}
    for i, lane in enumerate(LANES):
        top = LANE_TOP + i * LANE_H
        out.append(f'<text class="lane" x="8" y="{top + 15}">{lane_names[lane]}</text>'
                   f'<rect class="track" x="{X0:g}" y="{top + 3}" width="{X1 - X0:g}" '
                   f'height="{LANE_H - 6}"/>\n')
    for span in s.spans:
        top = LANE_TOP + LANES.index(span.kind) * LANE_H
        end = span.end or s.last
        x = x_of(span.start)
        width = round(x_of(end) - x, 3)
        classes = [span.kind]
        if span.kind == "consent":
            classes.append(span.answer or "unanswered")
        if span.open:
            classes.append("open")
        # the tooltip: each piece from the log escaped on its own, the rest is ours
        if span.kind == "consent":
            tip = f"{_text(span.scope)}: asked {_clock(span.start, zone)}, " + (
                f"{_text(span.answer)} {_clock(end, zone)}" if not span.open
                else "not answered")
            if span.reason:
                tip += f" ({_text(span.reason)})"
        elif span.kind == "view":
            tip = f"{_text(helper)} sees the screen {_clock(span.start, zone)}–{_clock(end, zone)}"
        else:
            tip = (f"{who} controls {_clock(span.start, zone)}–{_clock(end, zone)}"
                   + (f", released by {_text(span.by)} ({_text(span.reason)})"
                      if span.by else ""))
        facts = ""
        if span.kind == "consent":
            facts = f' data-scope="{_attr(span.scope)}" data-answer="{_attr(span.answer)}"'
        elif span.kind == "control":
            facts = (f' data-holder="{_attr(helper)}" data-released-by="{_attr(span.by)}"'
                     f' data-via="{_attr(span.reason)}"')
        out.append(
            f'<rect class="{" ".join(classes)}" data-kind="{span.kind}" '
            f'data-start="{format_time(span.start)}" data-end="{format_time(end)}" '
            f'data-open="{"true" if span.open else "false"}"{facts} '
            f'x="{x:g}" y="{top + 3}" width="{max(width, 0):g}" height="{LANE_H - 6}">'
            f"<title>{tip}</title></rect>\n")
        if span.kind == "control" and width > 40:  # who held it, where it fits
            fits = int((width - 8) / 6.2)
            label = inert(helper, TEXT_SHOWN)
            label = label if len(label) <= fits else label[:max(fits - 1, 1)] + "…"
            out.append(f'<text class="holder" x="{x + 4:g}" y="{top + 15}">'
                       f"{escape(label, quote=True)}</text>\n")
        if width < 2:  # a moment: make it visible without moving its exact x
            out.append(f'<rect class="{" ".join(classes)}" x="{x - 1:g}" y="{top + 3}" '
                       f'width="2" height="{LANE_H - 6}"/>\n')
    for mark in s.marks:
        top = LANE_TOP + LANES.index(mark.lane) * LANE_H
        x = x_of(mark.at)
        if mark.what == "ended":
            path = f"M{x:g} {LANE_TOP} V{LANE_TOP + LANE_H * len(LANES)}"
        else:
            path = f"M{x:g} {top + 1} V{top + LANE_H - 1}"
        out.append(f'<path class="mark {mark.what}" data-mark="{mark.what}" '
                   f'data-at="{format_time(mark.at)}" d="{path}">'
                   f"<title>{_text(mark.text + ' at ' + _clock(mark.at, zone))}</title></path>\n")
    axis_y = LANE_TOP + LANE_H * len(LANES) + 4
    out.append(f'<line class="axis" x1="{X0:g}" y1="{axis_y}" x2="{X1:g}" y2="{axis_y}"/>\n')
    for i in range(5):
        moment = t0 + timedelta(seconds=span_s * i / 4)
        x = x_of(moment)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(f'<line class="tick" x1="{x:g}" y1="{LANE_TOP}" x2="{x:g}" '
                   f'y2="{axis_y + 4}"/><text x="{x:g}" y="{axis_y + 17}" '
                   f'text-anchor="{anchor}">{_clock(moment, zone)}</text>\n')
    out.append("</svg>\n")
    return "".join(out)


def _text(value: object) -> str:
    """Text from the log, safe as HTML element content and in a double-quoted attribute."""
    text = value if isinstance(value, str) else str(value)
    if not (len(text) <= TEXT_SHOWN and text.isascii() and text.isprintable()):
        text = inert(text, TEXT_SHOWN)  # plain short ASCII is inert already
    return escape(text, quote=True) if _MARKUP.search(text) else text  # most have none


_attr = _text
#: The characters `html.escape` (quote=True) changes: a text without them is the same escaped.
_MARKUP = re.compile("[&<>\"']")


def _when(moment: datetime | None, zone: tzinfo | None, missing: str) -> str:
    if moment is None:
        return missing
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _clock(moment: datetime, zone: tzinfo | None) -> str:
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    return local.strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def write_report(report: Report, path: Path, *, zone: tzinfo | None = None) -> None:
    """Render `report` into `path` (written whole, then moved into place; mode 0600)."""
    folder = path.parent if str(path.parent) else Path(".")
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            render(report, out, zone=zone)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = [
    "Mark",
    "Report",
    "SessionTimeline",
    "Span",
    "Totals",
    "collect",
    "content_security_policy",
    "render",
    "write_report",
]
