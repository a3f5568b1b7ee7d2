"""One provider as the simulator plays it, and the registry of them.

A subclass that names itself (`name = "vobiz"`) registers when its class is created: its module is the
whole of that provider in the simulator, from how its calls are planned to what its API answers.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from callmon.model import Status

if TYPE_CHECKING:
    from callmon.simulator.app import Simulator
    from callmon.simulator.scenario import CallPlan, Clock, Scenario

# name -> provider, in registration order: a scenario's calls take turns in this order, so seeds depend on it.
SIM_PROVIDERS: dict[str, SimProvider] = {}

Handler = Callable[[], Awaitable[Response] | Response]
Push = tuple[Any, bool]  # (webhook body, form-encoded?)


class Guarded(Protocol):
    """Answers a request through the shared faults, auth and rate limits, or with `handler()` if it passes.

    `kind` is what the provider's rate limits count it as, `who` the credential they count it against.
    """

    async def __call__(
        self, request: Request, kind: str, authed: bool, handler: Handler, who: str = "key"
    ) -> Response: ...


class SimProvider(ABC):
    """Everything the simulator knows of one provider. Subclasses are stateless, registered as one instance;
    what a provider remembers between requests (tokens, failed logins) is kept on the `Simulator`."""

    name: ClassVar[str]
    prefix: ClassVar[str]  # where its routes mount; a source's base_url is the simulator's URL + prefix
    secrets: ClassVar[Mapping[str, str]]  # the demo credential, field -> value
    # Its documented rate limits: request kind -> (requests, per seconds); "default" for every other kind.
    limits: ClassVar[Mapping[str, tuple[int, float]]] = {}
    pushes: ClassVar[bool] = False  # it can POST webhooks (`callmon simulate --push`)
    has_transcript: ClassVar[bool] = False
    cost_per_min: ClassVar[float] = 0.0
    # Its calls reach callmon each under a campaign of its own (Dialgood's campaignId is one call's id): a
    # failure burst on one of its campaigns would be a burst of one call.
    campaign_per_call: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            SIM_PROVIDERS[cls.name] = cls()

    # -- its calls: each draws from the scenario's rng, so the order of draws is part of every seed ----------

    @abstractmethod
    def call_id(self, index: int, rng: random.Random) -> str:
        """The id of the scenario's `index`-th call. It may repeat: the scenario draws again until it is new."""

    @abstractmethod
    def campaign(self, n: int) -> str:
        """The name of its campaign number `n` (1 or 2)."""

    @abstractmethod
    def phone(self, rng: random.Random) -> str: ...

    def outcome(self, drawn: Status) -> Status:
        """The final status of a call drawn to end as `drawn`, for a provider that has no word for it."""
        return drawn

    def cdr_delay(self, rng: random.Random) -> float:
        """Seconds from hangup until its call record can be read."""
        return 0.0

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        """What a callmon source watching this scenario puts in its config (`demo_sources`)."""
        return {}

    # -- its API ----------------------------------------------------------------------------------------------

    @abstractmethod
    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        """Its endpoints, relative to `prefix`; each answers through `guarded`."""

    @abstractmethod
    def auth_error(self) -> Response: ...

    def rate_limited(self, headers: Mapping[str, str]) -> Response:
        """`headers` carry the Retry-After."""
        return json_response({"error": "RATE_LIMITED", "message": "Too many requests"}, 429, headers)

    def server_error(self) -> Response:
        return json_response({"error": "INTERNAL_ERROR", "message": "Internal server error"}, 500)

    def admit(self, sim: Simulator, client: str, authed: bool) -> Response | None:
        """The answer to a request refused before it counts against a limit, or None to let it through."""
        return None if authed else self.auth_error()

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        """The webhooks this call causes in (after, until]. Runs for every call five times a second while
        pushing, so it builds only those that are due."""
        return []


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


@contextmanager
def registry_restored() -> Iterator[None]:
    """Providers registered inside the block are forgotten after it, so a test's toy provider stays there."""
    saved = dict(SIM_PROVIDERS)
    try:
        yield
    finally:
        SIM_PROVIDERS.clear()
        SIM_PROVIDERS.update(saved)
