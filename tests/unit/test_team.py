"""Team mode's pure parts: the engine's call format, settings and the [team] table, budget shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from callmon import config, redact
from callmon.model import Call, Status, TranscriptLine
from callmon.store import CallStore
from callmon.team import codec
from callmon.team.budget import Split
from callmon.team.settings import TeamSettings, TeamUrlError, check_url, redacted


def stored(call: Call) -> Call:
    store = CallStore(clock=lambda: 1_700_000_000.25)
    store.apply(call, "push")
    kept = store.get(call.key)
    assert kept is not None
    return kept


def sample(**changes: object) -> Call:
    base = Call(
        "acme-vobiz", "vobiz", "c-1", Status.COMPLETED, campaign="Renewals", raw_status="ANSWER", to="+15550001",
        started_at=datetime(2026, 11, 30, 9, 0, 0, 123457, tzinfo=UTC), ended_at=datetime(2026, 11, 30, 9, 1, tzinfo=UTC),
        duration_s=60, cost=0.125, transcript=(TranscriptLine("Agent", "Hello\nthere"),), details=(("codec", "PCMU"),),
        raw={"call_uuid": "c-1", "hangup_cause": "NORMAL_CLEARING", "nested": {"a": [1, 2]}},
    )  # fmt: skip
    return base.with_changes(**changes) if changes else base


def test_a_call_comes_back_equal_with_its_payload_timeline_and_exact_times() -> None:
    call = stored(sample())
    shapes = codec.Shapes()
    back = codec.decode(codec.encode(call, shapes), shapes)
    assert back == call
    assert back.payload() == call.payload()
    again = codec.decode(codec.encode(call, shapes), shapes)  # the shape's number known by now
    assert again.payload() == call.payload()
    assert back.timeline == call.timeline and back.first_seen == call.first_seen
    assert back.started_at == call.started_at  # to the microsecond


def test_a_reader_needs_the_shape_and_says_so() -> None:
    call = stored(sample())
    writer, reader = codec.Shapes(), codec.Shapes()
    data = codec.encode(call, writer)
    dictionary, digest = codec.needs(data, reader)
    assert dictionary is None and digest in writer.unsent
    with pytest.raises(KeyError):
        codec.decode(data, reader)
    reader.names[digest] = tuple(json.loads(writer.unsent[digest]))
    assert codec.decode(data, reader).payload() == call.payload()


def test_hostile_values_from_the_engine_are_made_safe_or_refused() -> None:
    shapes = codec.Shapes()
    data = bytearray(codec.encode(stored(sample()), shapes))
    head = json.loads(bytes(data).partition(b"\n")[0])
    head[4] = "Renewals\x1b[31m\u202e"  # campaign with an escape and a bidi override
    head[16] = -5  # duration
    head[18] = "free"  # cost
    head[12] = 10**30  # a time far out of range
    hostile = json.dumps(head).encode()
    back = codec.decode(hostile, shapes)
    assert back.campaign is not None and back.campaign.isprintable() and "\x1b" not in back.campaign
    assert back.duration_s is None and back.cost is None and back.started_at is None
    for bad in (b"", b"[1,2]", b"{}", b"not json", b"[" * 100000, b" " + hostile):
        with pytest.raises(codec.Unreadable):
            codec.decode(bad, shapes)
    for timeline in ([1.0, ["x"], None, "poll"], [1.0, "ringing", None, {"v": 1}], [float("nan"), "ringing", None, "poll"],
                     [1e400, "ringing", None, "poll"], ["1", "ringing", None, "poll"], [1e17, "ringing", None, "poll"],
                     [-5.0, "ringing", None, "poll"]):  # fmt: skip
        head[21] = timeline
        back = codec.decode(json.dumps(head).encode(), shapes)
        assert back.timeline == () and back.first_seen == float("-inf"), timeline


def test_secrets_learnt_after_a_call_was_kept_are_masked_when_it_is_published() -> None:
    call = stored(sample(reason="token ZXCV-9876-secret in the cause", raw={"echo": "ZXCV-9876-secret"}))
    try:
        redact.register("ZXCV-9876-secret")
        shapes = codec.Shapes()
        data = codec.encode(call, shapes)
        assert b"ZXCV-9876-secret" not in data
        back = codec.decode(data, shapes)
        assert back.reason == f"token {redact.MASK} in the cause"
        assert back.payload() == {"echo": redact.MASK}
    finally:
        redact.forget_all()


def test_team_urls() -> None:
    assert check_url("rediss://cache.internal:6380/2")
    assert redacted("rediss://cm-viewer@cache.internal:6380/2") == "rediss://cache.internal:6380/2"
    for bad, says in (
        ("redis://:pw@h:6379", "password"),
        ("redis://u:pw@h:6379", "password"),
        ("redis://h:6379/?password=x", "password"),
        ("http://h:6379", "redis://"),
        ("redis://:6379", "no host"),
        ("redis://h:6379/db", "database number"),
        ("redis://h:99999", "not a URL"),
        (" redis://h", "must be"),
    ):
        with pytest.raises(TeamUrlError, match=says):
            check_url(bad)


def test_team_table_in_the_config() -> None:
    cfg = config.parse('[team]\nurl = "redis://h:6379"\nuser = "cm-viewer"\nlease_ttl = 3\noffline = "stop"\n')
    assert cfg.team == TeamSettings("redis://h:6379", user="cm-viewer", lease_ttl=3.0, offline="stop")
    assert cfg.team.renew_every == pytest.approx(0.9) and cfg.team.retry_every == pytest.approx(0.6)
    for text, says in (
        ('[team]\nurl = "redis://u:p@h:1"\n', "password"),
        ('[team]\nuser = "x"\n', "needs url"),
        ('[team]\nurl = "redis://h:1"\npassword = "hunter22"\n', "looks like a secret"),
        ('[team]\nurl = "redis://h:1"\nlease_ttl = 0\n', "lease_ttl"),
        ('[team]\nurl = "redis://h:1"\noffline = "maybe"\n', "split"),
        ('[team]\nurl = "redis://h:1"\nca_file = "/nonexistent.pem"\n', "rediss://"),
        ('[team]\nurl = "rediss://h:1"\nca_file = "/nonexistent.pem"\n', "not a readable file"),
        ('[team]\nurl = "redis://h:1"\nprefix = "a b"\n', "prefix"),
        ('[team]\nurl = "redis://h:1"\nwhat = 1\n', r"unknown \[team\] setting"),
    ):
        with pytest.raises(config.ConfigError, match=says) as caught:
            config.parse(text)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("requests", "collectors", "shares"),
    [(120, 3, [40, 40, 40]), (200, 3, [66, 66, 66]), (2, 3, [1, 1, 0]), (10, 1, [10]), (1, 2, [1, 0])],
)
def test_offline_shares_never_add_up_past_the_budget(requests: int, collectors: int, shares: list[int]) -> None:
    got = [Split(collectors=collectors, rank=rank).share(requests) for rank in range(collectors)]
    assert got == shares and sum(got) <= requests
