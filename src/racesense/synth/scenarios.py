"""Sessions that put the start/finish line where lap timing is hardest.

Each scenario is a session on Racesense Raceway (`circuit.raceway_circuit`) driven by a
driver whose limits are drawn for the seed (`driver.sampled_driver`: 0.3-0.6 g of
acceleration, 0.8-1.2 g of braking, 1.0-1.4 g in corners), with the line placed:

- `accelerating`: on the main straight 150 m after the slow last corner, where every
  such driver is still accelerating at their limit (35-50 m/s);
- `braking`: 60 m before the hairpin at the end of the main straight, where every such
  driver is braking at their limit;
- `fast_curve`: 300 m into the 350 m-radius curve, where the car accelerates through it
  or runs at its grip limit;
- `pit_exit`: at the end of a pit lane that crosses the line (`PitLane.across_the_line`):
  the session starts standing in the pit box and comes in again after lap 2, so two
  crossings are made at the pit speed limit with full throttle from the line on.

Distances are taken from the layout, not tuned to any seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from racesense.synth.circuit import raceway_circuit, raceway_station_m
from racesense.synth.driver import sampled_driver
from racesense.synth.session import PitLane, SyntheticSession, make_session

ACCELERATING_AFTER_CORNER_M = 150.0
BRAKING_BEFORE_HAIRPIN_M = 60.0
INTO_FAST_CURVE_M = 300.0
DEFAULT_GPS_NOISE_M = 1.5


@dataclass(frozen=True)
class Scenario:
    """Where the line is and how the car reaches it. `pit_stop_after_lap` needs at least
    one more lap than its number."""

    name: str
    description: str
    start_finish_s_m: float
    pit_lane: PitLane | None = None
    start_in_pit: bool = False
    pit_stop_after_lap: int | None = None


SCENARIO_NAMES = ("accelerating", "braking", "fast_curve", "pit_exit")


@functools.cache
def scenarios() -> tuple[Scenario, ...]:
    """Every scenario, in the order of SCENARIO_NAMES (built on first use: it draws
    the circuit)."""
    length = raceway_circuit().length_m
    return (
        Scenario(
            "accelerating",
            "line on a straight where the car accelerates at its limit",
            (raceway_station_m("main straight") + ACCELERATING_AFTER_CORNER_M) % length,
        ),
        Scenario(
            "braking",
            "line in the braking zone of a hairpin",
            raceway_station_m("T1") - BRAKING_BEFORE_HAIRPIN_M,
        ),
        Scenario(
            "fast_curve",
            "line in a 350 m-radius curve",
            raceway_station_m("fast curve") + INTO_FAST_CURVE_M,
        ),
        Scenario(
            "pit_exit",
            "line at a pit lane's exit: crossed at the speed limit, full throttle after",
            0.0,
            pit_lane=PitLane.across_the_line(),
            start_in_pit=True,
            pit_stop_after_lap=2,
        ),
    )


def scenario(name: str) -> Scenario:
    for candidate in scenarios():
        if candidate.name == name:
            return candidate
    raise ValueError(f"no scenario {name!r}; there are {', '.join(SCENARIO_NAMES)}")


def scenario_session(
    name: str,
    *,
    rate_hz: float,
    seed: int,
    laps: int = 4,
    gps_noise_m: float = DEFAULT_GPS_NOISE_M,
    speed_noise_mps: float = 0.1,
    heading_noise_deg: float = 0.5,
    accel_noise_mps2: float = 0.05,
    yaw_rate_noise_dps: float = 0.2,
) -> SyntheticSession:
    """The session of scenario `name` for `seed` (which also draws the driver)."""
    chosen = scenario(name)
    if chosen.pit_stop_after_lap is not None and laps <= chosen.pit_stop_after_lap:
        raise ValueError(f"scenario {name!r} needs more than {chosen.pit_stop_after_lap} laps")
    return make_session(
        raceway_circuit(),
        rate_hz=rate_hz,
        laps=laps,
        seed=seed,
        driver=sampled_driver(seed),
        start_finish_s_m=chosen.start_finish_s_m,
        pit_lane=chosen.pit_lane,
        start_in_pit=chosen.start_in_pit,
        pit_stop_after_lap=chosen.pit_stop_after_lap,
        gps_noise_m=gps_noise_m,
        speed_noise_mps=speed_noise_mps,
        heading_noise_deg=heading_noise_deg,
        accel_noise_mps2=accel_noise_mps2,
        yaw_rate_noise_dps=yaw_rate_noise_dps,
    )
