"""The carrier routes: one RouteSpec per way an agency's orders reach the post office, in
one registry that every place reading, checking or showing a route goes through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from worker.domain.enums import Route
from worker.domain.errors import InvalidInput


@dataclass(frozen=True)
class RouteSpec:
    """Everything about one route but its adapter, which sits in the adapter layer
    (`integrations/carriers/registry.py`, keyed by the same `route`; a test holds the two
    together)."""

    route: Route  # the stored value (agencies.route, CarrierAccount.route)
    letter: str  # what people call it ("tuyến A"); accepted as input like the value
    label: str  # Vietnamese, for the pages and the CLI
    settings: tuple[str, ...]  # the Settings fields only this route's adapter reads
    # Where the carrier simulator serves this route's door: each URL setting of the route
    # -> its path under the simulator's base URL (`handoff stack`, compose, the tests).
    sim_door: Mapping[str, str]
    own_account: bool  # an agency on it needs an account of its own (no shared default)

    def sim_settings(self, base_url: str) -> dict[str, str]:
        """The settings that point this route at a carrier simulator served at base_url."""
        base = base_url.rstrip("/") + "/"
        return {name: base + path for name, path in self.sim_door.items()}


_SPECS = (
    RouteSpec(Route.NGSP, "A", "A – trực tiếp cổng N-GSP của Bưu điện",
              settings=("carrier_base_url",), sim_door={"carrier_base_url": ""},
              own_account=False),
    RouteSpec(Route.LGSP, "B", "B – qua nền tảng LGSP của tỉnh",
              settings=("lgsp_token_url", "lgsp_base_url", "lgsp_service_post",
                        "lgsp_service_tracking", "lgsp_service_cancel"),
              sim_door={"lgsp_token_url": "lgsp/token", "lgsp_base_url": "lgsp"},
              own_account=True),
)
ROUTES: Mapping[Route, RouteSpec] = MappingProxyType({s.route: s for s in _SPECS})
# The route of the deployment's own account (HANDOFF_CARRIER_*), which an agency without
# an account of its own posts through; the route a new agency gets when none is given.
DEFAULT_ROUTE = Route.NGSP
_BY_VALUE = {s.route.value: s for s in _SPECS}
_BY_NAME = {**_BY_VALUE, **{s.letter.lower(): s for s in _SPECS}}


def choices() -> str:
    """The accepted values, for help texts and refusals: "A (ngsp), B (lgsp)"."""
    return ", ".join(f"{s.letter} ({s.route.value})" for s in _SPECS)


def route_spec(value: object, field: str = "route") -> RouteSpec:
    """The route a person or a stored row names, by value or letter (any case); anything
    else is refused with an InvalidInput naming `field`."""
    found = _BY_NAME.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(f"chỉ nhận: {choices()}", field=field, code="agency.choice")
    return found


def known(value: object) -> RouteSpec | None:
    """The route of a stored value, or None when no route has that value."""
    return _BY_VALUE.get(value) if isinstance(value, str) else None


def label(value: object) -> str:
    """A stored route as people read it; an unknown one is said to be unknown."""
    spec = known(value)
    return spec.label if spec else f"? – không có tuyến '{str(value)[:20]}'"


def letter(value: object) -> str:
    """A stored route's letter ("A", "B"), or "?" for a value no route has."""
    spec = known(value)
    return spec.letter if spec else "?"
