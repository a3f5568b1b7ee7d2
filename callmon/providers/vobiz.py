"""Vobiz: CDRs under `/Account/{auth_id}/cdr`, live and queued calls under `/Account/{auth_id}/Call`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from callmon.model import Call, Status
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.providers.errors import NotFoundYet

PROVIDER = "vobiz"
PER_PAGE = 100  # the documented maximum

_NAMED = {
    "NO_ANSWER": Status.NO_ANSWER,
    "NO_USER_RESPONSE": Status.NO_ANSWER,
    "USER_BUSY": Status.BUSY,
    "ORIGINATOR_CANCEL": Status.CANCELED,
    "CALL_REJECTED": Status.FAILED,
}
_LIVE = {
    "queued": Status.QUEUED,
    "ringing": Status.RINGING,
    "early-media": Status.RINGING,
    "in-progress": Status.IN_PROGRESS,
    "completed": Status.COMPLETED,
    "busy": Status.BUSY,
    "no-answer": Status.NO_ANSWER,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
    "cancel": Status.CANCELED,
    "timeout": Status.NO_ANSWER,
}


_SETTLED = {"live": {Status.IN_PROGRESS}, "queued": {Status.QUEUED}}


def map_hangup(code: int | None, name: str | None, answered: bool) -> tuple[Status, str | None]:
    """Status (and a reason where the code alone says it) from a hangup cause code or name."""
    if code is None:
        named = _NAMED.get((name or "").upper())
        if named:
            return named, None
        if (name or "").upper() == "NORMAL_CLEARING":
            return (Status.COMPLETED if answered else Status.NO_ANSWER), None
        return Status.UNKNOWN, None
    if code == 0:
        return Status.UNKNOWN, None
    if 4000 <= code <= 4030:
        return (Status.COMPLETED if answered else Status.NO_ANSWER), None
    if code in (3000, 6010):
        return Status.NO_ANSWER, None
    if code in (3010, 3100):
        return Status.BUSY, None
    if code in (1000, 9000):
        return Status.CANCELED, None
    if code in (3020, 3110):
        return Status.FAILED, "rejected"
    if code in (6000, 6020):
        return (Status.COMPLETED, None) if answered else (Status.FAILED, None)
    if (
        2000 <= code <= 2070
        or 3030 <= code <= 3090
        or 3120 <= code <= 3140
        or 5000 <= code <= 5030
        or 7000 <= code <= 8999
    ):
        return Status.FAILED, None
    return _NAMED.get((name or "").upper(), Status.UNKNOWN), None


def normalize(raw: Mapping[str, Any], source: str = PROVIDER) -> Call:
    """A CDR (`{"data": {...}}` or the bare object), a live/queued call, or a hangup callback."""
    data = raw.get("data") if isinstance(raw.get("data"), Mapping) else raw
    assert isinstance(data, Mapping)
    call_id = parse.text(parse.first(data, "uuid", "call_uuid", "CallUUID", "request_uuid")) or "?"
    answered_at = parse.timestamp(parse.first(data, "answer_time", "AnswerTime", "answered_at"))
    billable = parse.seconds(parse.first(data, "billsec", "BillDuration", "bill_duration"))
    code = parse.integer(parse.first(data, "hangup_cause_code", "HangupCauseCode"))
    cause_name = parse.text(parse.first(data, "hangup_cause_name"))
    cause = parse.text(parse.first(data, "hangup_cause", "HangupCause"))
    live_status = parse.text(parse.first(data, "call_status", "CallStatus"))
    reason: str | None = None
    if code is not None or cause:
        status, reason = map_hangup(code, cause, bool(answered_at) or bool(billable))
        raw_status = cause or (str(code) if code is not None else None)
        if status is Status.UNKNOWN and live_status:
            status = _LIVE.get(live_status.lower(), Status.UNKNOWN)
    else:
        status = _LIVE.get((live_status or "").lower(), Status.UNKNOWN)
        raw_status = live_status
    reason = parse.text(data.get("failure_reason")) or cause_name or reason or cause
    details = tuple(
        (label, value)
        for label, value in (
            ("hangup cause", " ".join(p for p in (str(code) if code else None, cause) if p) or None),
            ("hangup source", parse.text(parse.first(data, "hangup_source", "HangupSource"))),
            ("MOS", parse.text(data.get("mos"))),
            ("jitter", parse.text(data.get("jitter"))),
            ("packet loss", parse.text(data.get("packet_loss"))),
            ("ring time", parse.text(data.get("ring_time"))),
            ("codec", parse.text(data.get("codec"))),
            ("region", parse.text(data.get("region"))),
        )
        if value
    )
    ended = parse.timestamp(parse.first(data, "end_time", "EndTime"))
    return Call(
        source=source,
        provider=PROVIDER,
        call_id=call_id,
        campaign=parse.text(data.get("campaign_id")),
        status=status,
        raw_status=raw_status,
        reason=reason,
        direction=parse.text(parse.first(data, "call_direction", "direction", "Direction")),
        from_=parse.text(parse.first(data, "caller_id_number", "from", "From")),
        to=parse.text(parse.first(data, "destination_number", "to", "To")),
        started_at=parse.timestamp(parse.first(data, "start_time", "session_start", "StartTime")),
        answered_at=answered_at,
        ended_at=ended,
        duration_s=parse.seconds(parse.first(data, "duration", "Duration")),
        billable_s=billable,
        cost=parse.number(parse.first(data, "total_cost", "cost", "TotalCost")),
        currency=parse.text(data.get("currency")),
        recording_url=parse.text(parse.first(data, "recording_url", "RecordUrl")),
        updated_at=parse.timestamp(parse.first(data, "updated_at")) or ended,
        details=details,
        raw=raw,
    )


def _is_id(value: Any) -> bool:
    """A call uuid as a live list gives it: a short string or number, nothing else."""
    if isinstance(value, str):
        return 0 < len(value) <= 128
    return isinstance(value, int) and not isinstance(value, bool)


class VobizAdapter(Adapter):
    provider = PROVIDER
    title = "Vobiz"
    default_base_url = "https://api.vobiz.ai/api/v1"
    secret_fields = ("auth_token",)
    options = {
        "auth_id": Option(str, "account Auth ID (sent as X-Auth-ID, part of every path)", required=True),
        "date": Option(str, 'day of CDRs to watch, "today" or YYYY-MM-DD', default="today"),
        "call_ids": Option(list, "single call uuids to watch"),
        "live": Option(bool, "also list live and queued calls", default=True),
    }
    budgets = {"default": Budget(120, 60.0)}
    default_timezone = "Asia/Kolkata"  # decides what "today" is; its own times carry their zone
    pushes = True  # hangup callbacks
    example = 'name = "sales-vobiz"\nprovider = "vobiz"\nauth_id = "MA_XXXXXXXX"\ndate = "today"'

    @property
    def account(self) -> str:
        return "/Account/" + quote(str(self.option("auth_id")), safe="")

    def auth_headers(self) -> dict[str, str]:
        return {"X-Auth-ID": str(self.option("auth_id")), "X-Auth-Token": self.secret("auth_token")}

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        return normalize(raw, self.source.name)

    def error_message(self, body: Any) -> str | None:
        if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
            err = body["error"]
            message = parse.text(err.get("message"))
            code = parse.text(err.get("code"))
            return f"{message} ({code})" if message and code else message or code
        return super().error_message(body)

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        scan = self.scan()
        if self.option("live"):
            for state in ("queued", "live"):
                body = self.expect_mapping(
                    await self.request("GET", f"{self.account}/Call/", params={"status": state}),
                    f"{state} calls",
                )
                listed = body.get("calls")
                uuids = [str(u) for u in (listed if isinstance(listed, list) else ()) if _is_id(u)]
                page = []
                for looked_up, uuid in enumerate(uuids):
                    known = self.known.get(uuid)
                    # A call known to be in progress (or queued, on the queued list) can only leave the list;
                    # its detail would say nothing new, so the budget goes to calls that can change.
                    if known is not None and known.status in _SETTLED[state]:
                        page.append(known)
                        continue
                    if looked_up >= self.limits.max_pages:
                        self.cut_short = f"{len(uuids):,} {state} calls listed: looked up {looked_up} (max_pages)"
                        break
                    try:
                        page.append(await self._live(uuid, state))
                    except NotFoundYet:
                        continue  # it moved on between the list and the lookup; the CDR list will have it
                if page:
                    yield page
        if not full and self.option("live"):
            return  # live and queued lists cover every call that can still change
        days = self.watch_days()
        page_no = 1
        while True:
            body = self.expect_mapping(
                await self.request(
                    "GET",
                    f"{self.account}/cdr",
                    params={
                        "start_date": days[0].isoformat(),
                        "end_date": days[-1].isoformat(),
                        "page": page_no,
                        "per_page": PER_PAGE,
                    },
                ),
                "CDR list",
            )
            calls = self.read_all(self.expect_list(body.get("data"), "CDR data"))
            yield calls
            pagination = body.get("pagination")
            if not calls or not isinstance(pagination, Mapping) or pagination.get("has_next") is not True:
                break
            if not scan.more(page_no, calls):
                break
            page_no += 1

    async def _live(self, uuid: str, state: str) -> Call:
        body = self.expect_mapping(
            await self.request(
                "GET", f"{self.account}/Call/{quote(uuid, safe='')}/", params={"status": state}
            ),
            f"{state} call",
        )
        call = self.read(body)
        if call.status is Status.UNKNOWN:
            call = call.with_changes(status=Status.QUEUED if state == "queued" else Status.IN_PROGRESS)
        return call

    async def get_call(self, call_id: str) -> Call:
        # Only active calls are polled, so "live" is the likely answer; a 404 there means queued, ended, or
        # ended and its CDR not written yet.
        try:
            return await self._live(call_id, "live")
        except NotFoundYet:
            pass
        try:
            body = await self.request("GET", f"{self.account}/cdr/{quote(call_id, safe='')}")
            return self.read(self.expect_mapping(body, "CDR"))
        except NotFoundYet:
            pass
        try:
            return await self._live(call_id, "queued")
        except NotFoundYet:
            raise NotFoundYet(
                self.provider, f"call {call_id} is not live, queued or in the CDRs yet"
            ) from None
