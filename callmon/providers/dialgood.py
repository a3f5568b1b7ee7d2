"""Dialgood: one CDR per campaignId (`/external/v1/cdr/{id}`), a live transcript while the call runs.

Dialgood resolves a campaignId to exactly one conversation, and the campaignId is the only id known before
the call ends, so it is the call's key (`call_id`); the conversationId stays in the raw payload and details.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from callmon.model import Call, Status, TranscriptLine
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.providers.errors import NotFoundYet

PROVIDER = "dialgood"

_COMPLETED = {"completed", "success"}
_NO_ANSWER = {"no-answer", "no answer", "unanswered"}
_SIP_REFINE = {"486": Status.BUSY, "600": Status.BUSY, "487": Status.CANCELED}
_TRANSCRIPT_STATUS = {"available": Status.IN_PROGRESS, "pending": Status.QUEUED}
_SPEAKER = re.compile(r"^\s*([A-Za-z][\w .-]{0,30}):\s?(.*)$")


def _map_status(value: str | None) -> Status:
    v = (value or "").strip().lower()
    if not v:
        return Status.UNKNOWN
    if v in _COMPLETED:
        return Status.COMPLETED
    if v in _NO_ANSWER:
        return Status.NO_ANSWER
    return Status.FAILED


def _top_or_data(raw: Mapping[str, Any], data: Mapping[str, Any], name: str) -> Any:
    """A CDR field, else its copy under `data`; a 0 is a value (a call never answered bills 0 seconds)."""
    value = parse.first(raw, name)
    return data.get(name) if value is None else value


def parse_transcript(raw: Mapping[str, Any]) -> tuple[TranscriptLine, ...]:
    entries = raw.get("entries")
    if isinstance(entries, list) and entries:
        lines = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            role = parse.text(parse.first(entry, "role", "speaker", "from")) or ""
            said = parse.text(parse.first(entry, "text", "content", "message", "transcript")) or ""
            if said:
                lines.append(TranscriptLine(role, said))
        return tuple(lines)
    text = raw.get("transcript")
    if not isinstance(text, str):
        return ()
    lines = []
    for row in text.splitlines():
        if not row.strip():
            continue
        m = _SPEAKER.match(row)
        lines.append(TranscriptLine(m.group(1), m.group(2)) if m else TranscriptLine("", row.strip()))
    return tuple(lines)


def normalize(raw: Mapping[str, Any], source: str = PROVIDER) -> Call:
    """A CDR (`/external/v1/cdr/{id}`) or a live transcript (`/external/v1/live-transcript/{id}`)."""
    data = raw.get("data") if isinstance(raw.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    campaign = parse.text(raw.get("campaignId"))
    conversation = parse.text(parse.first(raw, "callId", "conversationId"))
    call_id = campaign or conversation or "?"
    details: list[tuple[str, str]] = []
    if conversation:
        details.append(("conversation", conversation))
    is_cdr = any(k in raw for k in ("callDuration", "rawStatus", "sip_status", "actualDuration")) or bool(
        data
    )
    if not is_cdr:
        transcript_status = parse.text(raw.get("status"))
        return Call(
            source=source,
            provider=PROVIDER,
            call_id=call_id,
            campaign=campaign,
            status=_TRANSCRIPT_STATUS.get((transcript_status or "").lower(), Status.UNKNOWN),
            raw_status=transcript_status,
            direction=parse.text(raw.get("direction")),
            from_=parse.text(raw.get("from")),
            to=parse.text(raw.get("to")),
            updated_at=parse.timestamp(parse.first(raw, "timestamp", "updatedAt")),
            transcript=parse_transcript(raw),
            details=tuple(details),
            raw=raw,
        )
    raw_status = parse.text(parse.first(raw, "rawStatus")) or parse.text(data.get("callStatus"))
    status = _map_status(parse.text(raw.get("status")) or raw_status)
    sip_status = parse.text(raw.get("sip_status"))
    sip_reason = parse.text(raw.get("sip_reason"))
    if sip_status in _SIP_REFINE and status is not Status.COMPLETED:
        status = _SIP_REFINE[sip_status]
    duration = parse.seconds(_top_or_data(raw, data, "callDuration"))
    billable = parse.seconds(_top_or_data(raw, data, "actualDuration"))
    ended = parse.timestamp(raw.get("timestamp"))
    # Dialgood reports only the end time; start and answer follow from the two durations it gives.
    started = ended - timedelta(seconds=duration) if ended and duration is not None else None
    answered = ended - timedelta(seconds=billable) if ended and billable else None
    reason = " ".join(p for p in (sip_status and f"SIP {sip_status}", sip_reason) if p) or None
    if sip_status:
        details.append(("SIP", reason or sip_status))
    return Call(
        source=source,
        provider=PROVIDER,
        call_id=call_id,
        campaign=campaign,
        status=status,
        raw_status=raw_status,
        reason=reason,
        direction=parse.text(raw.get("direction") or data.get("direction")),
        from_=parse.text(raw.get("from")),
        to=parse.text(raw.get("to")),
        started_at=started,
        answered_at=answered,
        ended_at=ended,
        duration_s=duration,
        billable_s=billable,
        recording_url=parse.text(parse.first(raw, "recordingUrl", "recording_url")),
        updated_at=ended,
        transcript=parse_transcript(raw),
        details=tuple(details),
        raw=raw,
    )


class DialgoodAdapter(Adapter):
    provider = PROVIDER
    title = "Dialgood"
    default_base_url = "https://api.dialgood.com"
    secret_fields = ("api_token",)
    options = {
        "campaigns": Option(list, "campaign ids to watch (one call each)", required=True),
    }
    # Dialgood documents no limit; one request per call every 3 s for ~20 calls keeps us modest.
    budgets = {"default": Budget(400, 60.0)}
    live_transcript = True
    example = 'name = "bot-dialgood"\nprovider = "dialgood"\ncampaigns = ["camp_7f84b3f8"]'

    def auth_headers(self) -> dict[str, str]:
        # The header, never the query form, so the token cannot land in a logged URL.
        return {"api_token": self.secret("api_token")}

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        return normalize(raw, self.source.name)

    @property
    def has_list(self) -> bool:
        return False  # no list endpoint: the configured campaigns are looked up one by one

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        return
        yield

    def targets(self) -> list[str]:
        return [str(c) for c in self.option("campaigns") or []]

    async def get_call(self, call_id: str) -> Call:
        path_id = quote(call_id, safe="")
        try:
            body = await self.request("GET", f"/external/v1/cdr/{path_id}", kind="cdr")
            cdr = dict(self.expect_mapping(body, "CDR"))
            cdr.setdefault("campaignId", call_id)
            return self.read(cdr)
        except NotFoundYet:
            pass  # no CDR while the call is in flight: the live transcript tells where it is
        body = await self.request("GET", f"/external/v1/live-transcript/{path_id}", kind="transcript")
        live = dict(self.expect_mapping(body, "live transcript"))
        live.setdefault("campaignId", call_id)
        return self.read(live)

    async def get_detail(self, call: Call) -> Call:
        fresh = await self.get_call(call.call_id)
        if fresh.transcript or not fresh.ended:
            return fresh
        # An ended call's CDR has no transcript; the live-transcript endpoint keeps the last one.
        try:
            body = await self.request(
                "GET", f"/external/v1/live-transcript/{quote(call.call_id, safe='')}", kind="transcript"
            )
        except NotFoundYet:
            return fresh
        return fresh.with_changes(transcript=parse_transcript(self.expect_mapping(body, "live transcript")))
