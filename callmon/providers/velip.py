"""Velip: `POST /api/v2/GetCallStatus.php` with a `tsid` token, cursor pages (`last_id` / `next_id`).

Velip blocks an IP after 20 auth failures in 10 minutes and blacklists it after 100 in an hour, so its auth
errors (codes 100-199) must surface as AuthError and never be retried by anyone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from callmon.model import Call, Status
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.providers.errors import AuthError, BadRequest, NotFoundYet, RateLimited

PROVIDER = "velip"
BRT = ZoneInfo("America/Sao_Paulo")
_STATUS = {
    "OK": Status.COMPLETED,
    "NOANSWER": Status.NO_ANSWER,
    "BUSY": Status.BUSY,
    "CANCEL": Status.CANCELED,
    "CONGESTION": Status.FAILED,
    "CHANUNAVAIL": Status.FAILED,
}
_REASON = {"CONGESTION": "network congestion", "CHANUNAVAIL": "channel unavailable", "CANCEL": "canceled"}
_AMD = {"MA": "machine", "HM": "human", "ND": "not detected"}


def _clock(date: str | None, clock: Any, tz: tzinfo, after: datetime | None) -> datetime | None:
    """A wall-clock time on the call's date; past midnight when it would fall before `after`."""
    value = parse.local(date, clock, tz)
    if value is not None and after is not None and value < after:
        value += timedelta(days=1)
    return value


def normalize(raw: Mapping[str, Any], source: str = PROVIDER, tz: tzinfo | None = None) -> Call:
    zone = tz or BRT
    raw_status = parse.text(raw.get("cd_status"))
    day = parse.text(raw.get("date"))
    dialed = _clock(day, raw.get("time_dial"), zone, None)
    answered = _clock(day, raw.get("time_start"), zone, dialed)
    ended = _clock(day, raw.get("time_end"), zone, answered or dialed)
    if raw_status:
        status = _STATUS.get(raw_status.upper(), Status.UNKNOWN)
    elif ended:
        status = Status.UNKNOWN  # ended without an outcome: don't invent one
    elif answered:
        status = Status.IN_PROGRESS
    elif dialed:
        status = Status.RINGING
    else:
        status = Status.QUEUED
    amd = parse.text(raw.get("cd_amdasw"))
    dtmf = [
        f"{key}={value}"
        for key, value in sorted(raw.items(), key=lambda kv: _resp_index(kv[0]))
        if _resp_index(key) < 10**6 and parse.text(value) is not None
    ]
    details = tuple(
        (label, value)
        for label, value in (
            ("answered by", _AMD.get((amd or "").upper(), amd) if amd else None),
            ("DTMF", " ".join(dtmf) or None),
            ("route", parse.text(raw.get("route"))),
            ("rate", parse.text(raw.get("rate"))),
            ("ctid", parse.text(raw.get("ctid"))),
            ("origin", parse.text(raw.get("origin"))),
        )
        if value
    )
    reason = _REASON.get((raw_status or "").upper())
    if status is Status.COMPLETED and (amd or "").upper() == "MA":
        reason = "answered by machine"
    campaign = parse.text(raw.get("cpid")) or parse.text(raw.get("cp_id"))
    dest = parse.text(raw.get("dest"))
    to = e164(dest)
    if to != dest and dest is not None:
        details += (("dest as sent", dest),)
    return Call(
        source=source,
        provider=PROVIDER,
        call_id=parse.text(raw.get("cd_id")) or "?",
        campaign=campaign,
        status=status,
        raw_status=raw_status,
        reason=reason,
        direction="outbound",
        to=to,
        started_at=dialed,
        answered_at=answered,
        ended_at=ended,
        # DUR is dialling to hang-up for every provider; Velip's own `dur` is talk time, as is `cdr_sec`, so
        # without both times there is no duration (a live record's `dur` of 0 is not one).
        duration_s=parse.between(dialed, ended) if dialed and ended else None,
        billable_s=parse.seconds(raw.get("cdr_sec"))
        if raw.get("cdr_sec") not in (None, "")
        else parse.seconds(raw.get("dur")),
        cost=parse.number(raw.get("value")),
        recording_url=parse.text(raw.get("cdr_url")),
        updated_at=ended or answered or dialed,
        details=details,
        raw=raw,
    )


def e164(number: str | None) -> str | None:
    """A Brazilian number as E.164 (+55...), Velip's country; anything else (a masked `xxxxx877`, a number
    that is not Brazilian in length) as sent."""
    if number is None or not number.isascii() or not number.isdigit():
        return number
    if len(number) in (12, 13) and number.startswith("55"):
        return "+" + number
    if len(number) in (10, 11) and not number.startswith("0"):
        return "+55" + number
    return number


def _resp_index(key: str) -> int:
    """resp_1..resp_N sort by number; anything else (another field, "resp_²", a 5,000-digit index) sorts out
    of the way."""
    digits = key[5:]
    if key.startswith("resp_") and 0 < len(digits) <= 6 and digits.isascii() and digits.isdecimal():
        return int(digits)
    return 10**6


class VelipAdapter(Adapter):
    provider = PROVIDER
    title = "Velip"
    default_base_url = "https://vox.velip.com.br"
    secret_fields = ("tsid",)
    options = {
        "campaign": Option(int, "campaign id (cp_id) to watch"),
        "cpid": Option(str, "your own campaign id (cpid), instead of campaign"),
        "call_ids": Option(list, "single call ids (cd_id) to watch"),
        "date": Option(str, 'day to watch, "today" or YYYY-MM-DD (used when no campaign is set)'),
        "page_size": Option(
            int, "records per page, maxreg (Velip caps it at 5000)", default=1000, low=1, high=5000
        ),
    }
    # 200 list requests an hour per client; single lookups have a daily cap, so spend them sparingly.
    budgets = {"list": Budget(200, 3600.0), "call": Budget(60, 3600.0)}
    default_timezone = "America/Sao_Paulo"
    pushes = True  # rurl
    example = 'name = "ops-velip"\nprovider = "velip"\ncampaign = 555'
    path = "/api/v2/GetCallStatus.php"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('tsid')}"}

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        return normalize(raw, self.source.name, self.tz)

    def error_message(self, body: Any) -> str | None:
        if isinstance(body, Mapping) and isinstance(body.get("return"), Mapping):
            return parse.text(body["return"].get("status"))
        return super().error_message(body)

    def check(self, response: httpx.Response, body: Any) -> None:
        ret = body.get("return") if isinstance(body, Mapping) else None
        code = parse.integer(ret.get("status_code")) if isinstance(ret, Mapping) else None
        if code is not None and 100 <= code <= 199:
            raise AuthError(
                self.provider, f"{self.error_message(body)} (code {code})", status_code=response.status_code
            )
        super().check(response, body)
        if code and isinstance(ret, Mapping):
            message = parse.text(ret.get("status")) or f"code {code}"
            if "rate limit" in message.lower():
                raise RateLimited(self.provider, message, retry_after=None, status_code=response.status_code)
            raise BadRequest(self.provider, f"{message} (code {code})", status_code=response.status_code)

    def _scope(self) -> dict[str, Any]:
        if self.option("campaign") is not None:
            return {"cp_id": self.option("campaign")}
        if self.option("cpid"):
            return {"cpid": self.option("cpid")}
        days = self.watch_days()
        return {"date_start": days[0].isoformat(), "date_end": days[-1].isoformat()}

    @property
    def has_list(self) -> bool:
        # Only call ids configured: watch those alone; anything else (or nothing) lists a scope.
        return self.option("campaign") is not None or bool(self.option("cpid")) or not self.option("call_ids")

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        cursor: Any = None
        scan = self.scan()
        while True:
            form: dict[str, Any] = {**self._scope(), "maxreg": self.option("page_size")}
            if cursor is not None:
                form["last_id"] = cursor
            body = self.expect_mapping(
                await self.request("POST", self.path, kind="list", json_body=form), "call list"
            )
            calls = self.read_all(self.expect_list(body.get("calls"), "calls"))
            yield calls
            page = body["return"].get("pagination") if isinstance(body.get("return"), Mapping) else None
            if not calls or not isinstance(page, Mapping) or not page.get("has_more"):
                break
            next_id = page.get("next_id")
            if next_id is None or next_id == "" or isinstance(next_id, (dict, list)):
                break
            if not scan.more(str(next_id), calls):
                break
            cursor = next_id

    async def get_call(self, call_id: str) -> Call:
        body = self.expect_mapping(
            await self.request("POST", self.path, kind="call", json_body={"cd_id": call_id}), "call"
        )
        rows = self.expect_list(body.get("calls"), "calls")
        if not rows:
            raise NotFoundYet(self.provider, f"no call {call_id}")
        return self.read(rows[0])
