"""What can go wrong with the simulated NDXP, on purpose: set at start (CLI
flags of ``lgsp ndxp-sim``) or at run time (``PUT /admin/faults``, or
:meth:`Simulator.set_faults` in tests). Every value is bounded, so a typo
cannot hang a test run or a laptop."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_DELAY_MS: Final = 120_000
MAX_OUTAGE_S: Final = 3_600.0
MAX_REFUSAL_S: Final = 600.0
DEFAULT_REFUSAL_S: Final = 30.0
MAX_FAIL_NEXT: Final = 1_000

Outage = Literal["none", "unavailable", "refuse"]


class Faults(BaseModel):
    """The faults in force. The default is a healthy platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(
        default=0, ge=0, le=MAX_DELAY_MS, description="Added to every call, in milliseconds."
    )
    jitter_ms: int = Field(
        default=0,
        ge=0,
        le=MAX_DELAY_MS,
        description="A uniformly random extra delay of up to this many milliseconds.",
    )
    error_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of calls answered with a native 500 (SYSTEM_ERROR).",
    )
    fail_next: int = Field(
        default=0,
        ge=0,
        le=MAX_FAIL_NEXT,
        description="The next this many calls are answered with a native 500, whatever "
        "error_rate says (a deterministic error burst).",
    )
    slow_ms: int = Field(
        default=0,
        ge=0,
        le=MAX_DELAY_MS,
        description="A slow answer: this many milliseconds more, typically beyond the "
        "caller's deadline, for a fraction slow_rate of the calls.",
    )
    slow_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    outage: Outage = Field(
        default="none",
        description="'unavailable': every call is answered 503; 'refuse': the platform "
        "stops listening (connection refused) and listens again when the fault is cleared.",
    )
    outage_s: float | None = Field(
        default=None,
        gt=0.0,
        le=MAX_OUTAGE_S,
        description="How long the outage lasts; none: until cleared. A refusal always ends "
        f"(default {DEFAULT_REFUSAL_S:g} s, at most {MAX_REFUSAL_S:g} s), since the admin "
        "route cannot be reached while nothing listens.",
    )

    @model_validator(mode="after")
    def _bound_refusal(self) -> Faults:
        if self.outage == "refuse" and self.outage_s is not None and self.outage_s > MAX_REFUSAL_S:
            raise ValueError(f"a refusal lasts at most {MAX_REFUSAL_S:g} s")
        return self

    def outage_duration(self) -> float | None:
        """How long the outage lasts, in seconds (None: until cleared)."""
        if self.outage == "refuse":
            return self.outage_s or DEFAULT_REFUSAL_S
        return self.outage_s if self.outage == "unavailable" else None
