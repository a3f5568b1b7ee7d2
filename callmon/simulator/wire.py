"""Each provider's wire format for a simulated call at a moment: what its real API would answer."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callmon.model import Status
from callmon.simulator.scenario import CallPlan, Clock

IST = ZoneInfo("Asia/Kolkata")
BRT = ZoneInfo("America/Sao_Paulo")
VELIP_CAMPAIGN_IDS = {"lote-2026-01": 551, "lote-2026-02": 552}


def _iso_ms(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_s(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _hms(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _digest(plan: CallPlan, salt: str) -> str:
    return hashlib.sha1(f"{plan.call_id}:{salt}".encode()).hexdigest()


# -- Dialgood -------------------------------------------------------------------------------------------------

_DG_RAW = {
    Status.COMPLETED: ("completed", "success", "200", "OK"),
    Status.NO_ANSWER: ("no-answer", "no answer", "480", "Temporarily Unavailable"),
    Status.BUSY: ("failed", "busy", "486", "Busy Here"),
    Status.FAILED: ("failed", "failed", "503", "Service Unavailable"),
    Status.CANCELED: ("failed", "cancelled", "487", "Request Terminated"),
}


def _dialgood_conversation(plan: CallPlan) -> str:
    """The id Dialgood gives the call's conversation: the same in its live lookup and its CDR."""
    return "conv_" + _digest(plan, "conv")[:10].upper()


def dialgood_cdr(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    status, raw, sip, reason = _DG_RAW[plan.outcome]
    conversation = _dialgood_conversation(plan)
    return {
        "campaignId": plan.call_id,
        "conversationId": conversation,
        "callId": conversation,
        "status": status,
        "rawStatus": raw,
        "callDuration": plan.total_seconds,
        "actualDuration": plan.talk_seconds,
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "sip_status": sip,
        "sip_reason": reason,
        "timestamp": _iso_ms(clock.utc(plan.ended)),
        "data": {
            "callStatus": raw,
            "callDuration": plan.total_seconds,
            "actualDuration": plan.talk_seconds,
            "direction": "outbound",
        },
    }


def dialgood_live(plan: CallPlan, t: float) -> dict[str, Any]:
    lines = plan.transcript_at(t)
    talking = plan.answered is not None and t >= plan.answered
    return {
        "campaignId": plan.call_id,
        "conversationId": _dialgood_conversation(plan),
        "status": "available" if talking else "pending",
        "transcript": "\n".join(f"{role}: {text}" for role, text in lines),
        "entries": [{"role": role.lower(), "text": text} for role, text in lines],
    }


# -- Dialgen --------------------------------------------------------------------------------------------------

_DGN = {
    Status.COMPLETED: ("COMPLETED", None),
    Status.NO_ANSWER: ("MISSED", "NO_ANSWER"),
    Status.BUSY: ("MISSED", "BUSY"),
    Status.FAILED: ("FAILED", "NETWORK_ERROR"),
}


def _dialgen_state(plan: CallPlan, t: float) -> tuple[str, str | None]:
    status = plan.status_at(t)
    if status is Status.QUEUED:
        return "SCHEDULED", None
    if status in (Status.RINGING, Status.IN_PROGRESS):
        return "ONGOING", None
    return _DGN.get(plan.outcome, ("FAILED", "NETWORK_ERROR"))


def dialgen_status(plan: CallPlan, t: float, clock: Clock, *, batch: bool = False) -> dict[str, Any]:
    state, error = _dialgen_state(plan, t)
    ended = t >= plan.ended
    row: dict[str, Any] = {
        "callId": plan.call_id,
        "status": state,
        "startTime": _iso_ms(clock.utc(plan.dialed)) if t >= plan.dialed else None,
        "phoneNumber": plan.to,
        "error": error,
        "duration": plan.talk_seconds if ended else None,
        "recordingUrl": f"https://recordings.sim/dialgen/{plan.call_id}.mp3"
        if ended and plan.answered is not None
        else None,
    }
    if not batch:
        row["contactId"] = "contact_" + _digest(plan, "contact")[:6]
        row["batchId"] = plan.campaign
    return row


def dialgen_persistent(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    state, error = _dialgen_state(plan, t)
    ended = t >= plan.ended
    return {
        "success": True,
        "data": {
            "id": plan.call_id,
            "status": state,
            "direction": "outbound",
            "duration": plan.talk_seconds if ended else None,
            "createdAt": _iso_ms(clock.utc(plan.queued)),
            "endedAt": _iso_ms(clock.utc(plan.ended)) if ended else None,
            "contact": {"name": f"Contact {plan.index}", "phoneNumber": plan.to},
            "agent": "Renewals assistant",
            "error": error,
            "recordingUrl": f"https://recordings.sim/dialgen/{plan.call_id}.mp3"
            if ended and plan.answered is not None
            else None,
            "transcription": [{"role": r.lower(), "content": text} for r, text in plan.transcript_at(t)],
        },
    }


# -- CloudAgent -----------------------------------------------------------------------------------------------

_CA = {
    Status.COMPLETED: ("Answered", "answered", "answered"),
    Status.NO_ANSWER: ("NotAnswered", "NoAnswer", "NoAnswer"),
    Status.BUSY: ("NotAnswered", "Busy", "Busy"),
    Status.FAILED: ("Fail", "Fail", "Fail"),
    Status.CANCELED: ("NotAnswered", "user_disconnected", "user_disconnected"),
}


def _ist(clock: Clock, offset: float) -> str:
    return clock.utc(offset).astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def cloudagent_row(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    status, dial, customer = _CA[plan.outcome]
    answered = plan.answered is not None
    return {
        "UCID": plan.call_id,
        "CallID": str(int(plan.call_id) % 1000003),
        "CampaignName": plan.campaign,
        "Type": "Progressive",
        "CallerID": plan.from_,
        "DialedNumber": plan.to,
        "StartTime": _ist(clock, plan.dialed),
        "EndTime": _ist(clock, plan.ended),
        "Duration": _hms(plan.ended - plan.dialed),
        "TalkTime": _hms(plan.talk_seconds),
        "Status": status,
        "DialStatus": dial,
        "CustomerDialStatus": customer,
        "AgentDialStatus": "answered" if answered else "",
        "HangupBy": ("UserHangup" if plan.index % 2 else "AgentHangup") if answered else "System",
        "Disposition": ("Interested" if plan.index % 3 else "Call Back") if answered else "",
        "CallAudio": f"https://recordings.sim/cloudagent/{plan.call_id}.wav" if answered else "",
        "DialCount": 1,
    }


def cloudagent_local_day(clock: Clock, offset: float) -> str:
    return clock.utc(offset).astimezone(IST).strftime("%Y-%m-%d")


# -- Velip ----------------------------------------------------------------------------------------------------

_VELIP = {
    Status.COMPLETED: "OK",
    Status.NO_ANSWER: "NOANSWER",
    Status.BUSY: "BUSY",
    Status.CANCELED: "CANCEL",
}


def velip_number(plan: CallPlan) -> int:
    return int(plan.call_id.split("_", 1)[1])


def velip_record(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    def local(offset: float) -> datetime:
        return clock.utc(offset).astimezone(BRT)

    status = plan.status_at(t)
    ended = status is not None and status.ended
    answered = plan.answered is not None and t >= plan.answered
    if ended:
        cd_status = _VELIP.get(plan.outcome) or ("CONGESTION" if plan.index % 2 else "CHANUNAVAIL")
    else:
        cd_status = ""
    record: dict[str, Any] = {
        "cd_id": plan.call_id,
        "cd_status": cd_status,
        "cd_amdasw": plan.amd if ended and plan.answered is not None else "ND",
        "cp_id": VELIP_CAMPAIGN_IDS.get(plan.campaign, 550),
        "cpid": plan.campaign,
        "ctid": f"row-{plan.index}",
        "origin": "api",
        "dest": plan.to,
        "date": local(plan.queued).strftime("%Y-%m-%d"),
        "time_dial": local(plan.dialed).strftime("%H:%M:%S") if t >= plan.dialed else "",
        "time_start": local(plan.answered).strftime("%H:%M:%S") if answered and plan.answered else "",
        "time_end": local(plan.ended).strftime("%H:%M:%S") if ended else "",
        "dur": plan.talk_seconds if ended else 0,
        "route": "Mobile BR",
        "rate": "0,050",
        "value": f"{plan.cost:.3f}".replace(".", ",") if ended else "0,000",
        "cdr_url": f"https://recordings.sim/velip/{plan.call_id}.mp3" if ended and plan.answered else "",
        "cdr_sec": plan.talk_seconds if ended else 0,
    }
    for i, digit in enumerate(plan.dtmf if ended else (), 1):
        record[f"resp_{i}"] = digit
    return record


# -- Vobiz ----------------------------------------------------------------------------------------------------

_VOBIZ = {
    Status.COMPLETED: (4000, "NORMAL_CLEARING", "Normal Hangup"),
    Status.NO_ANSWER: (3000, "NO_ANSWER", "No Answer"),
    Status.BUSY: (3010, "USER_BUSY", "User Busy"),
    Status.CANCELED: (1000, "ORIGINATOR_CANCEL", "Originator Cancel"),
}
_VOBIZ_FAILED = (
    (3020, "CALL_REJECTED", "Call Rejected"),
    (5010, "SERVICE_UNAVAILABLE", "Service Unavailable"),
)


def vobiz_cdr(plan: CallPlan, clock: Clock, auth_id: str) -> dict[str, Any]:
    code, cause, name = _VOBIZ.get(plan.outcome) or _VOBIZ_FAILED[plan.index % 2]
    answered = plan.answered is not None
    cost = plan.cost
    return {
        "account_id": auth_id,
        "answer_time": _iso_s(clock.utc(plan.answered)) if plan.answered is not None else None,
        "billsec": plan.talk_seconds,
        "bridge_uuid": _digest(plan, "bridge")[:32],
        "call_direction": "outbound",
        "caller_id_name": "Acme Collections",
        "caller_id_number": plan.from_,
        "campaign_id": plan.campaign,
        "carrier_ip": "10.0.0.1",
        "codec": "PCMU",
        "context": "voice-api",
        "cost": cost,
        "created_at": _iso_s(clock.utc(plan.ended)),
        "currency": "INR",
        "customer_endpoint": None,
        "destination_number": plan.to,
        "duration": plan.total_seconds,
        "end_time": _iso_s(clock.utc(plan.ended)),
        "failure_code": None if plan.outcome is not Status.FAILED else str(code),
        "failure_reason": None if plan.outcome is not Status.FAILED else name,
        "hangup_cause": cause,
        "hangup_cause_code": code,
        "hangup_cause_name": name,
        "hangup_disposition": "send_bye" if answered else "recv_cancel",
        "hangup_source": "Callee" if plan.index % 2 else "Caller",
        "id": 18000000 + plan.index,
        "jitter": round((plan.index % 7) * 0.8, 1) if answered else 0,
        "mos": round(4.5 - (plan.index % 5) * 0.2, 1) if answered else 0,
        "network_addr": "10.0.0.1",
        "origination_region": "mumbai",
        "packet_loss": round((plan.index % 4) * 0.1, 1) if answered else 0,
        "progress_time": _iso_s(clock.utc(plan.dialed + 0.5)),
        "region": "ap-south-1",
        "ring_time": round((plan.answered or plan.ended) - plan.dialed),
        "sip_call_id": _digest(plan, "sip")[:32],
        "sip_user_agent": "Vobiz",
        "start_time": _iso_s(clock.utc(plan.dialed)),
        "streaming_cost": 0,
        "terminated_to": None,
        "total_cost": cost,
        "trunk_id": None,
        "updated_at": _iso_s(clock.utc(plan.ended + plan.cdr_delay)),
        "uuid": plan.call_id,
    }


def vobiz_live(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    status = plan.status_at(t)
    return {
        "api_id": _digest(plan, f"api{int(t)}")[:16],
        "call_status": "in-progress" if status is Status.IN_PROGRESS else "ringing",
        "call_uuid": plan.call_id,
        "caller_name": "Acme Collections",
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "request_uuid": _digest(plan, "req")[:32],
        "session_start": (clock.utc(plan.dialed)).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


def vobiz_queued(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    return {
        "api_id": _digest(plan, "q")[:16],
        "call_status": "queued",
        "call_uuid": plan.call_id,
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "request_uuid": _digest(plan, "req")[:32],
    }


def day_bounds(day: str, tz: ZoneInfo, clock: Clock) -> tuple[float, float]:
    """Scenario offsets covering one local calendar day."""
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    begin = (start - clock.start_utc).total_seconds()
    return begin, begin + timedelta(days=1).total_seconds()


# -- pushes (webhooks) ------------------------------------------------------------------------------------

_VOBIZ_CALL_STATUS = {
    Status.COMPLETED: "completed",
    Status.NO_ANSWER: "no-answer",
    Status.BUSY: "busy",
    Status.FAILED: "failed",
    Status.CANCELED: "canceled",
}


def dialgen_webhook(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    """onCallComplete, the documented {success, callData} shape."""
    state, error = _dialgen_state(plan, plan.ended)
    return {
        "success": True,
        "callData": {
            "id": plan.call_id,
            "status": state,
            "error": error,
            "startTime": _iso_ms(clock.utc(plan.dialed)),
            "endTime": _iso_ms(clock.utc(plan.ended)),
            "duration": plan.talk_seconds,
            "phoneNumber": plan.to,
            "recordingUrl": f"https://recordings.sim/dialgen/{plan.call_id}.mp3" if plan.answered else None,
            "summary": "Customer asked for the details by SMS." if plan.answered else None,
            "transcription": [{"role": r.lower(), "content": t} for r, t in plan.transcript_at(plan.ended)],
        },
    }


def velip_webhook(plan: CallPlan, clock: Clock) -> dict[str, str]:
    """An rurl delivery, URL-encoded per call: every field as text."""
    return {k: "" if v is None else str(v) for k, v in velip_record(plan, plan.ended + 0.001, clock).items()}


def vobiz_hangup(plan: CallPlan, clock: Clock) -> dict[str, str]:
    code, cause, _ = _VOBIZ.get(plan.outcome) or _VOBIZ_FAILED[plan.index % 2]
    return {
        "CallUUID": plan.call_id,
        "CallStatus": _VOBIZ_CALL_STATUS[plan.outcome],
        "HangupCause": cause,
        "HangupCauseCode": str(code),
        "Duration": str(plan.total_seconds),
        "BillDuration": str(plan.talk_seconds),
        "From": plan.from_,
        "To": plan.to,
        "Direction": "outbound",
        "StartTime": clock.utc(plan.dialed).strftime("%Y-%m-%d %H:%M:%S"),
        "AnswerTime": clock.utc(plan.answered).strftime("%Y-%m-%d %H:%M:%S") if plan.answered else "",
        "EndTime": clock.utc(plan.ended).strftime("%Y-%m-%d %H:%M:%S"),
    }


def cloudagent_event(plan: CallPlan, action: str, at: float, clock: Clock) -> dict[str, Any]:
    """A Subscribe call event."""
    return {
        "action": action,
        "ucid": plan.call_id,
        "campaign_name": plan.campaign,
        "phoneNumber": plan.to,
        "did": plan.from_,
        "eventTime": _ist(clock, at),
    }
