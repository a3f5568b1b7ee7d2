"""The status vocabulary every provider's calls are normalized into."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"

    @property
    def ended(self) -> bool:
        return self in ENDED

    @property
    def active(self) -> bool:
        return self in ACTIVE


ACTIVE: frozenset[Status] = frozenset({Status.QUEUED, Status.RINGING, Status.IN_PROGRESS})
ENDED: frozenset[Status] = frozenset(
    {Status.COMPLETED, Status.NO_ANSWER, Status.BUSY, Status.FAILED, Status.CANCELED}
)
# What "failures" means everywhere (the monitor's failures-only view, failure rates): an ended attempt that
# did not connect.
FAILURES: frozenset[Status] = frozenset({Status.FAILED, Status.BUSY, Status.NO_ANSWER, Status.CANCELED})
