"""The physics of the simulated machining: tool life, flank wear, sensor signals (numpy only).

* **Tool life** follows the extended Taylor law ``V * T^n * f^a * d^b = C_eff`` with
  ``C_eff = C * m_coating * m_coolant * u_machine * u_tool``; with lognormal scatter
  ``ln T = (ln C_eff - ln V - a ln f - b ln d) / n + eps``, ``eps ~ N(0, sigma)``. On ln T every
  main effect is exact (speed ``-(1/n) ln(Vh/Vl)``, feed ``-(a/n) ln(fh/fl)``, depth
  ``-(b/n) ln(dh/dl)``, coolant/coating ``ln(m_high/m_low)/n``) and all interactions vanish.
* **Flank wear** VB(t) follows the classic three-stage curve on normalised time ``s = t/T``:
  break-in ``B(1 - exp(-s/s0))``, steady ``L s``, accelerating ``A s^p``; it is scaled so that
  VB(T) equals the wear criterion (0.3 mm, ISO 3685) exactly.
* **Sensors** are functions of wear and cutting conditions plus noise: spindle power rises by
  10-30 % with wear, vibration RMS and acoustic emission rise with wear and jump near the end of
  life, temperature follows a slow first-order heating curve.

Everything here is a pure function of its inputs and a ``numpy.random.Generator``; no Spark, no
I/O, no wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

SENSORS = ("spindle_power", "vibration_rms", "temperature", "acoustic_emission", "flank_wear")
STANDARD_FACTORS = ("cutting_speed", "feed", "depth_of_cut", "coolant", "coating")


@dataclass(frozen=True)
class Taylor:
    """True extended-Taylor parameters of one machine x tool combination."""

    n: float
    a: float
    b: float
    C: float  # C_eff without coating/coolant: C_base * u_machine * u_tool

    def ln_life(self, V, f, d, m_coating=1.0, m_coolant=1.0):
        """Deterministic ln T (minutes), vectorised over the cutting conditions."""
        V, f, d = (np.asarray(x, dtype=float) for x in (V, f, d))
        return (np.log(self.C) + np.log(m_coating) + np.log(m_coolant)
                - np.log(V) - self.a * np.log(f) - self.b * np.log(d)) / self.n

    def life(self, V, f, d, m_coating=1.0, m_coolant=1.0):
        return np.exp(self.ln_life(V, f, d, m_coating, m_coolant))


def taylor_main_effects(n: float, a: float, b: float, levels: Mapping[str, tuple],
                        coating_multiplier: Mapping[str, float],
                        coolant_multiplier: Mapping[str, float]) -> dict[str, float]:
    """True main effects on ln T (high minus low mean) of the standard factors in ``levels``."""
    out = {}
    for name, (low, high) in levels.items():
        if name == "cutting_speed":
            out[name] = -np.log(high / low) / n
        elif name == "feed":
            out[name] = -a * np.log(high / low) / n
        elif name == "depth_of_cut":
            out[name] = -b * np.log(high / low) / n
        elif name == "coating":
            out[name] = np.log(coating_multiplier[high] / coating_multiplier[low]) / n
        elif name == "coolant":
            out[name] = np.log(coolant_multiplier[high] / coolant_multiplier[low]) / n
        else:
            out[name] = 0.0  # inert factor
    return {k: float(v) for k, v in out.items()}


# --------------------------------------------------------------------------- flank wear
@dataclass(frozen=True)
class WearCurve:
    criterion_mm: float = 0.3
    break_in_mm: float = 0.07
    break_in_frac: float = 0.04
    accel_frac: float = 0.35
    accel_power: float = 8.0

    def __post_init__(self) -> None:
        if self.steady_mm <= 0:
            raise ValueError(
                "wear curve: break-in + accelerating stages exceed the criterion "
                f"(break_in_mm={self.break_in_mm}, accel_frac={self.accel_frac})")

    @classmethod
    def from_config(cls, physics: Mapping[str, Any]) -> "WearCurve":
        return cls(physics["wear_criterion_mm"], physics["wear_break_in_mm"], physics["wear_break_in_frac"],
                   physics["wear_accel_frac"], physics["wear_accel_power"])

    @property
    def _break_in_total(self) -> float:
        return self.break_in_mm * (1.0 - np.exp(-1.0 / self.break_in_frac))

    @property
    def steady_mm(self) -> float:
        return self.criterion_mm - self._break_in_total - self.accel_frac * self.criterion_mm

    def _shape(self, s):
        return (self.break_in_mm * (1.0 - np.exp(-s / self.break_in_frac))
                + self.steady_mm * s + self.accel_frac * self.criterion_mm * s ** self.accel_power)

    def vb(self, t, T):
        """Flank wear (mm) at cutting time ``t`` of a tool whose life is ``T`` (same unit).

        Monotone increasing, VB(0) = 0 and VB(T) == criterion exactly (x/x is exactly 1.0)."""
        s = np.asarray(t, dtype=float) / float(T)
        return self.criterion_mm * (self._shape(s) / self._shape(1.0))


# --------------------------------------------------------------------------- sensors
@dataclass(frozen=True)
class Conditions:
    cutting_speed: float  # m/min
    feed: float  # mm/rev
    depth_of_cut: float  # mm
    coolant: str  # dry | flood
    coating: str  # TiN | TiAlN

    @property
    def mrr_mm3_s(self) -> float:
        """Material removal rate V*f*d in mm^3/s."""
        return self.cutting_speed * 1000.0 * self.feed * self.depth_of_cut / 60.0


def fresh_power_kw(c: Conditions, sensors: Mapping[str, Any]) -> float:
    """Spindle power of a sharp tool: idle + kc(f) * MRR (Kienzle kc ~ f^-0.25), dry +5 %."""
    kc = sensors["specific_energy_j_mm3"] * (c.feed / 0.2) ** -0.25
    dry = 1.05 if c.coolant == "dry" else 1.0
    return sensors["idle_power_kw"] + kc * c.mrr_mm3_s / 1000.0 * dry


def sensor_signals(t_min: np.ndarray, T: float, vb: np.ndarray, c: Conditions,
                   sensors: Mapping[str, Any], criterion_mm: float,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Noisy readings of the five sensors at cutting times ``t_min`` (minutes) of one run.

    ``vb`` is the true flank wear at those times; ``T`` the true tool life. The draws from ``rng``
    happen in a fixed order, so a run's readings depend only on its own generator.
    """
    t_min = np.asarray(t_min, dtype=float)
    k = t_min.size
    w = np.clip(vb / criterion_mm, 0.0, None)  # wear fraction, 1 at end of life
    s = t_min / T
    noise = sensors["noise"]
    gain = rng.uniform(sensors["power_wear_gain_min"], sensors["power_wear_gain_max"])

    p0 = fresh_power_kw(c, sensors)
    power = p0 * (1.0 + gain * w ** 1.5) * (1.0 + noise["spindle_power"] * rng.standard_normal(k))

    # jumps near end of life: Poisson events per sampling interval after the onset
    dt = np.diff(t_min, prepend=t_min[0] if k else 0.0)
    lam = np.where(s >= sensors["jump_onset_frac"], sensors["jump_rate_per_min"] * dt, 0.0)
    events = rng.poisson(lam)
    v0 = (sensors["vibration_base_mm_s"] * (c.cutting_speed / 240.0) ** 0.6
          * (c.feed / 0.2) ** 0.4 * (c.depth_of_cut / 2.0) ** 0.2)
    vib_jump = np.cumsum(events * rng.uniform(0.15, 0.5, k) * v0)
    ae_jump = np.cumsum(events * rng.uniform(1.0, 3.0, k))
    vibration = (v0 * (1.0 + 1.2 * w ** 2) + vib_jump) * (1.0 + noise["vibration_rms"] * rng.standard_normal(k))

    ae0 = sensors["ae_base_db"] + 10.0 * np.log10(c.mrr_mm3_s / 1600.0) + (1.5 if c.coolant == "dry" else 0.0)
    ae = ae0 + 6.0 * w ** 2 + ae_jump + noise["acoustic_emission"] * rng.standard_normal(k)

    heat = sensors["temperature_rise_c_per_kw"] * p0 * (1.5 if c.coolant == "dry" else 1.0)
    temperature = (sensors["temperature_ambient_c"]
                   + heat * (1.0 - np.exp(-t_min / sensors["temperature_tau_min"])) * (1.0 + 0.2 * w)
                   + noise["temperature"] * rng.standard_normal(k))

    flank = vb + noise["flank_wear"] * rng.standard_normal(k)
    return {
        "spindle_power": power,
        "vibration_rms": vibration,
        "temperature": temperature,
        "acoustic_emission": ae,
        "flank_wear": np.clip(flank, 0.0, None),
    }


def sensor_level(values: np.ndarray) -> float:
    """Reference level of a signal (for drift slopes): its mean magnitude, at least 1e-3."""
    return max(float(np.mean(np.abs(values))) if values.size else 0.0, 1e-3)


def apply_drift(values: np.ndarray, t_min: np.ndarray, start_min: float, slope_per_min: float) -> np.ndarray:
    """Additive linear sensor drift starting at ``start_min``."""
    return values + slope_per_min * np.clip(np.asarray(t_min) - start_min, 0.0, None)


def apply_spikes(values: np.ndarray, mask: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Multiply the readings where ``mask`` by ``factors`` (vibration spikes)."""
    return np.where(mask, values * factors, values)


def clip_to_ranges(signals: Mapping[str, np.ndarray], ranges: Mapping[str, Mapping[str, float]]) -> dict:
    """Clip every signal to its physical range from the contract."""
    return {name: np.clip(v, ranges[name]["min"], ranges[name]["max"]) for name, v in signals.items()}
