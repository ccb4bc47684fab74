"""Physics of the simulator: Taylor life, three-stage wear, sensor signals (pure numpy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toollife.config import embedded_defaults
from toollife.simulation import physics

SIM = embedded_defaults()["simulation"]


@pytest.mark.parametrize("T", [0.7, 3.0, 16.6667, 59.9, 231.0])
def test_wear_reaches_criterion_exactly_at_tool_life(T):
    wear = physics.WearCurve.from_config(SIM["physics"])
    assert wear.vb(T, T) == 0.3
    assert wear.vb(0.0, T) == 0.0
    t = np.linspace(0, T, 400)
    vb = wear.vb(t, T)
    assert np.all(np.diff(vb) > 0)
    assert vb[-1] == 0.3


def test_wear_curve_has_three_stages():
    wear = physics.WearCurve()
    s = np.linspace(0, 1, 1001)
    rate = np.gradient(wear.vb(s, 1.0), s)
    break_in, steady, late = rate[:20].mean(), rate[300:700].mean(), rate[-30:].mean()
    assert break_in > 2 * steady  # fast break-in
    assert late > 2 * steady  # accelerating wear at end of life
    assert rate[300:700].std() < 0.5 * steady  # roughly linear steady stage


def test_wear_curve_rejects_stages_exceeding_criterion():
    with pytest.raises(ValueError, match="exceed the criterion"):
        physics.WearCurve(break_in_mm=0.2, accel_frac=0.5)


def test_taylor_main_effects_are_exact_on_ln_t_and_interactions_vanish():
    n, a, b = 0.25, 0.6, 0.15
    coat, cool = {"TiN": 1.0, "TiAlN": 1.15}, {"dry": 1.0, "flood": 1.1}
    levels = {"cutting_speed": (180.0, 300.0), "feed": (0.15, 0.30), "depth_of_cut": (1.0, 3.0),
              "coolant": ("dry", "flood"), "coating": ("TiN", "TiAlN")}
    taylor = physics.Taylor(n, a, b, 185.0)
    coded = np.array(list(itertools.product([-1, 1], repeat=5)))
    nat = {name: np.where(coded[:, i] > 0, hi, lo) for i, (name, (lo, hi)) in enumerate(levels.items())}
    ln_t = taylor.ln_life(nat["cutting_speed"].astype(float), nat["feed"].astype(float),
                          nat["depth_of_cut"].astype(float), [coat[c] for c in nat["coating"]],
                          [cool[c] for c in nat["coolant"]])
    expected = physics.taylor_main_effects(n, a, b, levels, coat, cool)
    assert expected["cutting_speed"] == pytest.approx(-(1 / n) * np.log(300 / 180))
    assert expected["feed"] == pytest.approx(-(a / n) * np.log(2.0))
    assert expected["depth_of_cut"] == pytest.approx(-(b / n) * np.log(3.0))
    assert expected["coating"] == pytest.approx(np.log(1.15) / n)
    assert expected["coolant"] == pytest.approx(np.log(1.1) / n)
    for i, name in enumerate(levels):
        effect = ln_t[coded[:, i] > 0].mean() - ln_t[coded[:, i] < 0].mean()
        assert effect == pytest.approx(expected[name], abs=1e-12)
    for i, j in itertools.combinations(range(5), 2):
        x = coded[:, i] * coded[:, j]
        assert abs(ln_t[x > 0].mean() - ln_t[x < 0].mean()) < 1e-12


def test_taylor_equation_holds():
    taylor = physics.Taylor(0.25, 0.6, 0.15, 185.0)
    V, f, d = 240.0, 0.2, 2.0
    T = float(taylor.life(V, f, d, 1.15, 1.1))
    assert V * T ** 0.25 * f ** 0.6 * d ** 0.15 == pytest.approx(185.0 * 1.15 * 1.1)
    assert 5 < T < 60  # a realistic life at the centre of the default design


def _signals(noise_free=False, seed=0, T=30.0):
    sensors = dict(SIM["sensors"])
    if noise_free:
        sensors["noise"] = {k: 0.0 for k in sensors["noise"]}
        sensors["jump_rate_per_min"] = 0.0
    wear = physics.WearCurve.from_config(SIM["physics"])
    t = np.arange(0, T, 0.25)
    t = np.append(t, T)
    vb = wear.vb(t, T)
    cond = physics.Conditions(240.0, 0.2, 2.0, "flood", "TiAlN")
    return t, vb, physics.sensor_signals(t, T, vb, cond, sensors, 0.3, np.random.default_rng(seed))


def test_spindle_power_rises_10_to_30_percent_with_wear():
    for seed in range(5):
        _, _, sig = _signals(noise_free=True, seed=seed)
        rise = sig["spindle_power"][-1] / sig["spindle_power"][0] - 1
        assert 0.10 - 1e-9 <= rise <= 0.30 + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_signals_rise_with_wear(seed):
    t, vb, sig = _signals(seed=seed)
    q = len(t) // 4
    for name in ("spindle_power", "vibration_rms", "temperature", "acoustic_emission", "flank_wear"):
        assert np.corrcoef(sig[name], vb)[0, 1] > 0.3, name
        assert sig[name][-q:].mean() > sig[name][:q].mean(), name


def test_vibration_and_ae_jump_near_end_of_life_only():
    sensors = dict(SIM["sensors"])
    sensors["noise"] = {k: 0.0 for k in sensors["noise"]}
    sensors["jump_rate_per_min"] = 5.0
    T = 40.0
    t = np.arange(0, T, 0.5)
    wear = physics.WearCurve()
    vb = wear.vb(t, T)
    cond = physics.Conditions(240.0, 0.2, 2.0, "dry", "TiN")
    sig = physics.sensor_signals(t, T, vb, cond, sensors, 0.3, np.random.default_rng(1))
    smooth = physics.sensor_signals(t, T, vb, cond, {**sensors, "jump_rate_per_min": 0.0}, 0.3,
                                    np.random.default_rng(1))
    early = t / T < sensors["jump_onset_frac"]
    assert np.allclose(sig["acoustic_emission"][early], smooth["acoustic_emission"][early])
    assert sig["acoustic_emission"][-1] > smooth["acoustic_emission"][-1] + 1.0
    assert sig["vibration_rms"][-1] > smooth["vibration_rms"][-1]


def test_drift_spikes_and_clipping():
    t = np.arange(10.0)
    drifted = physics.apply_drift(np.ones(10), t, 5.0, 0.5)
    assert drifted[:6].tolist() == [1.0] * 6 and drifted[-1] == pytest.approx(3.0)
    spiked = physics.apply_spikes(np.ones(3), np.array([False, True, False]), np.array([4.0, 4.0, 4.0]))
    assert spiked.tolist() == [1.0, 4.0, 1.0]
    clipped = physics.clip_to_ranges({"vibration_rms": np.array([-1.0, 50.0, 500.0])},
                                     {"vibration_rms": {"min": 0, "max": 100}})
    assert clipped["vibration_rms"].tolist() == [0.0, 50.0, 100.0]


def test_physics_imports_no_pyspark():
    import subprocess
    import sys

    code = "import sys, toollife.simulation, toollife.simulation.physics; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
