"""The many-groups path equals the single-group functions applied group by group."""
import numpy as np
import pandas as pd
import pytest

from toollife.doe import (
    add_center_points,
    add_replicates,
    analyze_factorial,
    analyze_factorial_groups,
    fit_taylor,
    fit_taylor_groups,
    fractional_factorial,
    full_factorial,
    optimal_settings,
    optimal_settings_groups,
    to_natural,
)

F = list("ABCD")
KEYS = ["machine", "tool"]


def _designs():
    full = full_factorial(F)
    half = fractional_factorial(F, ["D=ABC"])
    return [
        full,                                          # unreplicated -> Lenth
        add_replicates(full, 2).drop(columns="replicate"),
        add_center_points(full, 4),                    # pure error from centre runs + curvature
        add_replicates(half, 2).drop(columns="replicate"),
        add_replicates(full, 2).drop(columns="replicate").iloc[:-2],   # unequal replication
        add_center_points(half, 2),
    ]


def mixed_groups(n_groups=150, seed=0):
    """Groups cycling through six layouts, with random effects, interleaved row order."""
    rng = np.random.default_rng(seed)
    designs = [d[F].to_numpy(float) for d in _designs()]
    lv, life, machine, tool = [], [], [], []
    for g in range(n_groups):
        x = designs[g % len(designs)]
        beta = rng.normal(0, 1, 4) * rng.integers(0, 2, 4) * 0.4
        eta = 3 + beta[0] * x[:, 0] + beta[1] * x[:, 1] + beta[2] * x[:, 0] * x[:, 2] + beta[3] * x[:, 3]
        lv.append(x)
        life.append(np.exp(eta + rng.normal(0, 0.05, len(x))))
        machine += [f"M{g // 7:03d}"] * len(x)
        tool += [g % 7] * len(x)
    runs = pd.DataFrame(np.vstack(lv), columns=F)
    runs["life"] = np.concatenate(life)
    runs["machine"], runs["tool"] = machine, tool
    return runs.sample(frac=1.0, random_state=seed).reset_index(drop=True)   # interleave groups


def per_group(runs, fn, **kw):
    out = []
    for key, g in runs.groupby(KEYS, sort=True):
        res = fn(g, **kw)
        res.insert(0, "tool", key[1])
        res.insert(0, "machine", key[0])
        out.append(res)
    return pd.concat(out, ignore_index=True)


@pytest.mark.parametrize("log_response", [False, True])
def test_analyze_groups_equals_per_group(log_response):
    runs = mixed_groups()
    got = analyze_factorial_groups(runs, KEYS, F, "life", log_response=log_response)
    want = per_group(runs, lambda g: analyze_factorial(g, F, "life", log_response=log_response))
    assert set(got["method"]) == {"anova", "lenth"}
    assert (got["term"] == "curvature").any() and (got["aliases"] != "").any()
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def test_optimal_groups_equals_per_group():
    runs = mixed_groups(seed=1)
    got = optimal_settings_groups(runs, KEYS, F, "life", log_response=True)

    def one(g):
        r = optimal_settings(g, F, "life", log_response=True)
        row = {"terms": ", ".join(r["terms"])}
        row.update({f"coded_{f}": np.nan if v is None else float(v) for f, v in r["coded"].items()})
        row.update({k: r[k] for k in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high", "method", "df_resid")})
        return pd.DataFrame([row])

    want = per_group(runs, one)
    assert got["terms"].nunique() > 3
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def test_fit_taylor_groups_equals_per_group():
    rng = np.random.default_rng(4)
    factors = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
    levels = {"cutting_speed": (150, 350), "feed": (0.1, 0.4), "depth_of_cut": (0.5, 4.0),
              "coolant": ("dry", "flood"), "coating": ("uncoated", "TiAlN")}
    base = to_natural(add_replicates(full_factorial(factors), 2), levels)
    parts = []
    for g in range(60):
        d = base.sample(n=int(rng.integers(20, 64)), random_state=g) if g % 3 else base.copy()
        n, a, b, C = 0.25 + 0.02 * rng.normal(), 0.6, 0.15, 400 * np.exp(0.1 * rng.normal())
        mult = np.where(d["coolant"] == "flood", 1.1, 1.0) * np.where(d["coating"] == "TiAlN", 1.3, 1.0)
        d["tool_life_min"] = (C * mult / (d["cutting_speed"] * d["feed"] ** a * d["depth_of_cut"] ** b)) ** (1 / n) \
            * np.exp(rng.normal(0, 0.1, len(d)))
        d["machine"], d["tool"] = f"M{g % 5}", g // 5
        parts.append(d)
    runs = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=1).reset_index(drop=True)
    got = fit_taylor_groups(runs, KEYS)
    want = per_group(runs, lambda g: pd.DataFrame([fit_taylor(g)]))
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def test_groups_degenerate_taylor_group_is_nan_not_failure():
    base = to_natural(full_factorial(["cutting_speed", "feed", "depth_of_cut"]),
                      {"cutting_speed": (150, 350), "feed": (0.1, 0.4), "depth_of_cut": (0.5, 4.0)})
    good = base.assign(tool_life_min=(400 / (base["cutting_speed"] * base["feed"] ** 0.6)) ** 4, g=1)
    bad = good.assign(depth_of_cut=1.0, g=2)
    out = fit_taylor_groups(pd.concat([good, bad]), ["g"], coolant=None, coating=None)
    assert out["n"].iloc[0] == pytest.approx(0.25) and np.isnan(out["n"].iloc[1])


def test_groups_error_names_the_group():
    runs = mixed_groups(n_groups=12)
    runs = runs.drop(runs.index[(runs["machine"] == "M000") & (runs["tool"] == 0)][:3])
    with pytest.raises(ValueError, match="machine=.M000."):
        analyze_factorial_groups(runs, KEYS, F, "life")


def test_empty_input():
    runs = mixed_groups(n_groups=2).iloc[:0]
    out = analyze_factorial_groups(runs, KEYS, F, "life")
    assert out.empty and list(out.columns)[:2] == KEYS
