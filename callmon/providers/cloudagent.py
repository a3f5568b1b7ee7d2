"""Ozonetel CloudAgent: token + paginated CDR pull (a JSON body on GET), Campaign Dial Status by callback.

CloudAgent reports local wall-clock times (IST unless the account says otherwise) and answers most errors
with HTTP 200 and `{"status": "error"|"fail"|false, "message": ...}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from callmon import redact
from callmon.model import Call, Status
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.providers.errors import AuthError, BadRequest, BadResponse, NotFoundYet

PROVIDER = "cloudagent"
PAGE_SIZE = 500  # the documented maximum
TOKEN_PATH = "/ca_apis/CAToken/generateToken"
_AUTH_MESSAGES = ("apikey is invalid", "authentication failed", "username is invalid", "invalid token")
IST = ZoneInfo("Asia/Kolkata")
_TOKEN = re.compile(r"[!-~]{1,4096}")  # visible ASCII: what a token in a header can be
_NOT_ALNUM = re.compile(r"[\W_]+")  # \w less "_" is exactly str.isalnum()
_EVENT_STATUS = {"calling": Status.RINGING, "answered": Status.IN_PROGRESS}


def _key(value: str | None) -> str:
    return _NOT_ALNUM.sub("", value.lower()) if value else ""


def map_status(status: str | None, dial_status: str | None, customer_status: str | None) -> Status:
    """The reference mapping, most specific first: busy and user_disconnected live in the dial statuses."""
    s, dial, customer = _key(status), _key(dial_status), _key(customer_status)
    everything = (s, dial, customer)
    if any("busy" in v for v in everything):
        return Status.BUSY
    if s == "answered":
        return Status.COMPLETED
    if "userdisconnected" in everything:
        return Status.CANCELED
    if any(v in ("notanswered", "unanswered", "noanswer") for v in everything):
        return Status.NO_ANSWER
    if any(v in ("fail", "failed", "notdialed", "invalidnumber") for v in everything):
        return Status.FAILED
    if s == "pending" or dial == "pending":
        return Status.QUEUED
    if dial == "answered":
        return Status.COMPLETED
    return Status.UNKNOWN


def normalize(raw: Mapping[str, Any], source: str = PROVIDER, tz: tzinfo | None = None) -> Call:
    """A CDR / Campaign Dial Status row, or a Subscribe call event (`action`)."""
    zone = tz or IST
    action = parse.text(raw.get("action"))
    raw_status = parse.text(parse.first(raw, "Status", "status"))
    dial_status = parse.text(parse.first(raw, "DialStatus", "dialStatus"))
    customer_status = parse.text(parse.first(raw, "CustomerDialStatus", "customerDialStatus"))
    if action and not raw_status:
        # A Subscribe event: Calling/Answered are live states; Disconnect ends a call whose outcome the CDR
        # will tell, so until then it is "unknown" rather than a guessed final status.
        status = _EVENT_STATUS.get(action.lower(), Status.UNKNOWN)
        raw_status = action
    else:
        status = map_status(raw_status, dial_status, customer_status)
    started = parse.timestamp(parse.first(raw, "StartTime", "startTime", "CallTime"), zone)
    ended = parse.timestamp(parse.first(raw, "EndTime", "endTime"), zone)
    duration = parse.seconds(parse.first(raw, "Duration", "duration"))
    talk = parse.seconds(parse.first(raw, "TalkTime", "talkTime"))
    answered = ended - timedelta(seconds=talk) if ended and talk else None
    call_type = parse.text(parse.first(raw, "Type", "type", "CallType"))
    direction = None
    if call_type:
        lowered = call_type.lower()
        direction = "inbound" if "inbound" in lowered else "outbound"
    hangup_by = parse.text(parse.first(raw, "HangupBy", "hangupBy"))
    reason_parts = [p for p in (dial_status, hangup_by and f"hangup by {hangup_by}") if p]
    details = tuple(
        (label, value)
        for label, value in (
            ("type", call_type),
            ("dial status", dial_status),
            ("customer dial status", customer_status),
            ("agent dial status", parse.text(parse.first(raw, "AgentDialStatus", "agentDialStatus"))),
            ("hangup by", hangup_by),
            ("disposition", parse.text(parse.first(raw, "Disposition", "disposition"))),
            ("dial count", parse.text(parse.first(raw, "DialCount", "dialCount"))),
            ("call id", parse.text(parse.first(raw, "CallID", "callId"))),
        )
        if value
    )
    return Call(
        source=source,
        provider=PROVIDER,
        call_id=parse.text(parse.first(raw, "UCID", "ucid", "monitorUCID", "CallID", "callId")) or "?",
        campaign=parse.text(parse.first(raw, "CampaignName", "campaignName", "campaign_name")),
        status=status,
        raw_status=raw_status,
        reason="; ".join(reason_parts) or None,
        direction=direction,
        from_=parse.text(parse.first(raw, "CallerID", "callerId", "did")),
        to=parse.text(parse.first(raw, "DialedNumber", "dialedNumber", "PhoneNumber", "phoneNumber")),
        started_at=started,
        answered_at=answered,
        ended_at=ended,
        duration_s=duration,
        billable_s=talk,
        recording_url=parse.text(parse.first(raw, "CallAudio", "AudioFile", "callAudio")),
        updated_at=ended or started or parse.timestamp(parse.first(raw, "eventTime", "time"), zone),
        details=details,
        raw=raw,
    )


class CloudAgentAdapter(Adapter):
    provider = PROVIDER
    title = "Ozonetel CloudAgent"
    default_base_url = "https://in1-ccaas-api.ozonetel.com"
    secret_fields = ("api_key",)
    options = {
        "user_name": Option(str, "CloudAgent account user name", required=True),
        "campaign": Option(str, "campaign name to watch (all campaigns when absent)"),
        "date": Option(
            str, 'day to watch, "today" or YYYY-MM-DD (CloudAgent keeps 15 days)', default="today"
        ),
        "dial_status_path": Option(
            str,
            "path of the Campaign Dial Status API (asked when the webhook receiver is on)",
            default="/ca_apis/campaignDialStatus",
        ),
    }
    budgets = {
        "cdr": Budget(2, 60.0),
        "dial_status": Budget(10, 60.0),
        "token": Budget(10, 60.0),
    }
    default_timezone = "Asia/Kolkata"
    pushes = True  # Subscribe call events, and Campaign Dial Status rows
    requests_push = True  # Campaign Dial Status delivers only when asked
    example = 'name = "india-cloudagent"\nprovider = "cloudagent"\nuser_name = "acme"\ncampaign = "Renewals"'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: str | None = None

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        return normalize(raw, self.source.name, self.tz)

    def check(self, response: httpx.Response, body: Any) -> None:
        super().check(response, body)
        if not isinstance(body, Mapping):
            return
        status = body.get("status")
        if status in ("error", "fail", "failed", False, "false"):
            message = self.error_message(body) or "request failed"
            lowered = message.lower()
            if any(m in lowered for m in _AUTH_MESSAGES):
                raise AuthError(self.provider, message, status_code=response.status_code)
            if "token" in lowered and "expire" in lowered:
                raise _TokenExpired(self.provider, message, status_code=response.status_code)
            raise BadRequest(self.provider, message, status_code=response.status_code)

    def decode(self, response: httpx.Response, content: bytes) -> Any:
        body = super().decode(response, content)
        if isinstance(body, Mapping) and response.request.url.path.endswith(TOKEN_PATH):
            # Bodies are read with every secret callmon knows masked, and the account's token can be one
            # already (another source on the same account, a refresh that gives the same token back): read
            # as masked, the header would carry the mask. The token is read again as it was sent.
            body = {**body, "token": _sent_token(content)}
        return body

    def error_message(self, body: Any) -> str | None:
        if isinstance(body, Mapping):
            for key in ("message", "error", "msg", "details"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
        return super().error_message(body)

    async def _get_token(self, *, fresh: bool = False) -> str:
        if self._token and not fresh:
            return self._token
        body = self.expect_mapping(
            await self.request(
                "POST",
                TOKEN_PATH,
                kind="token",
                headers={"apiKey": self.secret("api_key")},
                json_body={"userName": self.option("user_name")},
            ),
            "token",
        )
        token = parse.text(body.get("token"))
        if not token:
            raise BadResponse(self.provider, "token response has no token")
        if not _TOKEN.fullmatch(token):
            # It goes back in a header: anything but visible ASCII (a control, a non-Latin letter, the key
            # it echoed and callmon masked) would fail there as an encoding error, not as a provider error.
            raise BadResponse(self.provider, "token response has a token that is not visible ASCII")
        # A session credential: masked wherever it could surface, as the key is. One slot per source: a provider
        # that issues a new token on every request must not grow the set of masks without bound.
        redact.register(token, slot=f"cloudagent-token:{self.source.name}")
        self._token = token
        return token

    async def _fetch(self, page: int, extra: Mapping[str, Any], day: date | None = None) -> Mapping[str, Any]:
        day = day or self.watch_date()
        body: dict[str, Any] = {
            "fromDate": datetime.combine(day, time.min).strftime("%Y-%m-%d %H:%M:%S"),
            "toDate": datetime.combine(day, time(23, 59, 59)).strftime("%Y-%m-%d %H:%M:%S"),
            "userName": self.option("user_name"),
            **extra,
        }
        if self.option("campaign") and "ucid" not in extra:
            body["campaignName"] = self.option("campaign")  # a UCID lookup finds the call in any campaign
        for attempt in (0, 1):
            token = await self._get_token(fresh=attempt == 1)
            try:
                result = await self.request(
                    "GET",
                    "/ca_reports/fetchCdrByPagination",
                    kind="cdr",
                    params={"pageNo": page, "pageSize": PAGE_SIZE},
                    headers={"Authorization": f"Bearer {token}"},
                    json_body=body,
                )
                return self.expect_mapping(result, "CDR page")
            except _TokenExpired:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        page, seen = 1, 0
        scan = self.scan()
        while True:
            body = await self._fetch(page, {})
            rows = self.expect_list(body.get("details"), "CDR details")
            seen += len(rows)
            calls = self.read_all(rows)
            yield calls
            total = parse.integer(body.get("totalCount"))
            if not rows or len(rows) < PAGE_SIZE or (total is not None and seen >= total):
                return
            if not scan.more(page, calls):
                return
            page += 1

    async def request_push(self, callback_url: str) -> None:
        """Ask for the campaign's dial status; CloudAgent answers with an id and POSTs the rows to the
        callback. Parameters go in the body, so the apiKey never lands in a URL."""
        campaign = self.option("campaign")
        if not campaign:
            return  # one campaign per request: without one configured there is nothing to ask
        day = self.watch_date()
        self.expect_mapping(
            await self.request(
                "POST",
                str(self.option("dial_status_path")),
                kind="dial_status",
                json_body={
                    "apiKey": self.secret("api_key"),
                    "userName": self.option("user_name"),
                    "campaignName": campaign,
                    "fromDate": datetime.combine(day, time.min).strftime("%Y-%m-%d %H:%M:%S"),
                    "toDate": datetime.combine(day, time(23, 59, 59)).strftime("%Y-%m-%d %H:%M:%S"),
                    "status": "All",
                    "dialStatus": "All",
                    "disposition": "ALL",
                    "dataType": "2",
                    "callBackUrl": callback_url,
                },
            ),
            "dial status",
        )

    async def get_call(self, call_id: str) -> Call:
        # One day a request: today's report first, then (just after midnight) yesterday's, where a call dialed
        # before midnight is. The list itself stays on today: the CDR budget is two requests a minute.
        for day in reversed(self.watch_days()):
            body = await self._fetch(1, {"ucid": call_id}, day)
            rows = self.expect_list(body.get("details"), "CDR details")
            if rows:
                return self.read(rows[0])
        raise NotFoundYet(self.provider, f"no CDR for UCID {call_id} yet")


def _sent_token(content: bytes) -> str | None:
    """The token as the token response sent it, when it is one a header can carry."""
    try:
        token = json.loads(content).get("token")
    except (ValueError, AttributeError, RecursionError):
        return None
    return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None


class _TokenExpired(AuthError):
    """Handled inside the adapter by fetching a new token once; only a second expiry escapes."""
