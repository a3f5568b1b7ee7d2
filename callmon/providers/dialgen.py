"""Dialgen: batch and call status (`/api/v1/status/...`), the persistent check-status after 30 days."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from callmon.model import Call, Status, TranscriptLine
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.providers.errors import NotFoundYet

PROVIDER = "dialgen"

_STATUS = {
    "SCHEDULED": Status.QUEUED,
    "QUEUED": Status.QUEUED,
    "ONGOING": Status.IN_PROGRESS,
    "COMPLETED": Status.COMPLETED,
    "MISSED": Status.NO_ANSWER,
    "FAILED": Status.FAILED,
}


def _unwrap(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The call object inside check-status (`data`) and onCallComplete (`callData`) envelopes."""
    for key in ("callData", "data"):
        inner = raw.get(key)
        if isinstance(inner, Mapping):
            return inner
    return raw


def normalize(raw: Mapping[str, Any], source: str = PROVIDER) -> Call:
    """Live status, batch row, check-status, or either webhook shape."""
    call = _unwrap(raw)
    raw_status = parse.text(call.get("status"))
    error = parse.text(call.get("error"))
    status = _STATUS.get((raw_status or "").upper(), Status.UNKNOWN)
    if status is Status.NO_ANSWER and (error or "").upper() == "BUSY":
        status = Status.BUSY
    contact = call.get("contact") if isinstance(call.get("contact"), Mapping) else {}
    assert isinstance(contact, Mapping)
    started = parse.timestamp(parse.first(call, "startTime", "createdAt"))
    ended = parse.timestamp(parse.first(call, "endTime", "endedAt"))
    duration = parse.seconds(call.get("duration"))
    if ended is None and started and duration is not None and status.ended:
        ended = started + timedelta(seconds=duration)
    elif started and ended:
        duration = parse.between(started, ended)  # DUR is dialling to hang-up, whatever `duration` counts
    turns = call.get("transcription")
    transcript = tuple(
        TranscriptLine(parse.text(t.get("role")) or "", parse.text(t.get("content")) or "")
        for t in (turns if isinstance(turns, list) else ())
        if isinstance(t, Mapping) and parse.text(t.get("content"))
    )
    details = tuple(
        (label, value)
        for label, value in (
            ("contact", parse.text(parse.first(call, "contactId")) or parse.text(contact.get("name"))),
            ("agent", parse.text(call.get("agent"))),
            ("summary", parse.text(call.get("summary"))),
            ("event", parse.text(raw.get("event"))),
        )
        if value
    )
    return Call(
        source=source,
        provider=PROVIDER,
        call_id=parse.text(parse.first(call, "callId", "id")) or "?",
        campaign=parse.text(call.get("batchId")),
        status=status,
        raw_status=raw_status,
        reason=error,
        direction=parse.text(call.get("direction")),
        to=parse.text(call.get("phoneNumber")) or parse.text(contact.get("phoneNumber")),
        started_at=started,
        ended_at=ended,
        duration_s=duration,
        recording_url=parse.text(call.get("recordingUrl")),
        updated_at=ended or started,
        transcript=transcript,
        details=details,
        raw=raw,
    )


class DialgenAdapter(Adapter):
    provider = PROVIDER
    title = "Dialgen"
    default_base_url = "https://sa.dialgen.ai"
    secret_fields = ("api_key",)
    options = {
        "batches": Option(list, "batch ids to watch (each is a campaign)"),
        "call_ids": Option(list, "single call ids to watch"),
    }
    # Undocumented limit; Dialgen's own example polls every 5 s per call.
    budgets = {"default": Budget(120, 60.0)}
    pushes = True  # onCallComplete
    example = 'name = "bot-dialgen"\nprovider = "dialgen"\nbatches = ["batch_123"]'

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('api_key')}"}

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        return normalize(raw, self.source.name)

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        for batch in self.option("batches") or []:
            body = self.expect_mapping(
                await self.request("GET", "/api/v1/status/batch", params={"batchId": batch}, kind="batch"),
                "batch status",
            )
            rows = self.expect_list(body.get("calls"), "batch status calls")
            # Batch rows omit their batch id; the request says which batch they belong to.
            calls = self.read_all(rows)
            yield [c if c.campaign else c.with_changes(campaign=str(batch)) for c in calls]

    @property
    def has_list(self) -> bool:
        return bool(self.option("batches"))

    async def get_call(self, call_id: str) -> Call:
        try:
            body = await self.request("GET", "/api/v1/status/call", params={"callId": call_id}, kind="call")
            return self.read(self.expect_mapping(body, "call status"))
        except NotFoundYet:
            pass  # past the 30-day live cache: the persistent endpoint has it
        return await self._persistent(call_id)

    async def get_detail(self, call: Call) -> Call:
        # Only the persistent record carries the transcription.
        try:
            return await self._persistent(call.call_id)
        except NotFoundYet:
            return await self.get_call(call.call_id)

    async def _persistent(self, call_id: str) -> Call:
        body = self.expect_mapping(
            await self.request("GET", "/api/v1/call/check-status", params={"callId": call_id}, kind="call"),
            "check-status",
        )
        if body.get("success") is False or not isinstance(body.get("data"), Mapping):
            raise NotFoundYet(self.provider, self.error_message(body) or f"call {call_id} not found")
        return self.read(body)
