"""gold.doe_effects and gold.doe_optimal_settings: the DOE analysis of every machine x tool combination.

Speed: ``applyInPandas`` with one Python call per combination costs ~2.4 ms per call, while the
vectorised ``toollife.doe.*_groups`` functions analyse thousands of combinations in one numpy
pass. So the JVM first gathers each combination's runs into one row (:func:`combination_runs`:
a hash aggregate, keys + an array of run structs), and ``mapInArrow`` hands the Python workers
Arrow batches of ``doe.combinations_per_batch`` such rows; each batch is one vectorised call.
Compared with a grouped map over hash buckets this ships the key strings once per combination
instead of once per run, needs no sort of the runs, and keeps every batch small and
self-contained. Results are equal to the per-combination functions
(:func:`toollife.doe.analyze_factorial` etc.) by construction.

The key strings stay Arrow arrays end to end (:func:`_unpack`, :func:`_to_arrow`): only numeric
columns become numpy arrays, and the key columns of the output are Arrow ``take``\ s of the input.

The pandas functions here (:func:`effects_frame`, :func:`optimal_frame`) are pure and run
without Spark; :func:`compute_effects` / :func:`compute_optimal` wire them into Spark.

Screening: ``analyze_factorial_groups`` raises on the first bad combination, which would fail
the whole batch. So every combination is screened first, with the same rules (the design
checks are delegated to :func:`toollife.doe.analyze_factorial` once per distinct design
layout): no completed runs, runs without coded -1/0/+1 levels, partial centre points,
non-positive life with a log response, incomplete or non-regular designs, too few runs.
A screened-out combination has no effect rows and one ``status='skipped'`` row with the reason
in gold.doe_optimal_settings -- except one screened out only for its design (a run aborted by
chipping, a run never finished): what remains is analysed by least squares
(:func:`incomplete_analyses`, :func:`toollife.doe.analyze_incomplete`, once per such combination;
there are few), its effect rows are written like the others, and its optimal-settings row has
``status='incomplete'`` with what was lost and which terms are no longer estimable or now
correlated in ``skip_reason`` (no best settings or Taylor fit: re-run the lost points first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.lakehouse.tables import Table

EFFECTS = Table("gold", "doe_effects")
OPTIMAL = Table("gold", "doe_optimal_settings")
GROUP_COLS = ["experiment_id", "machine_id", "tool_id"]
LIFE = "tool_life_min"
FACTOR_MASK = "_factor_mask"       # bit j set: the experiment varies params.factors[j]
COMPLETED = "_completed"
RUNS = "_runs"                     # the array of run structs of one combination
_GID = "_gid"
_ORIG_GID = "_orig_gid"
DESIGN_ERROR = "_design_error"
INCOMPLETE = "incomplete"          # status of a combination analysed by least squares after losing runs
STATUSES = ("ok", INCOMPLETE, "skipped")   # gold.doe_optimal_settings.status

EFFECT_VALUE_COLUMNS = ["term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant",
                        "method", "aliases", "n_runs"]
TAYLOR_COLUMNS = ["taylor_n", "taylor_n_se", "taylor_a", "taylor_a_se", "taylor_b", "taylor_b_se",
                  "taylor_C", "taylor_C_se", "taylor_coolant_multiplier", "taylor_coolant_multiplier_se",
                  "taylor_coating_multiplier", "taylor_coating_multiplier_se", "taylor_r_squared", "taylor_sigma"]
_TAYLOR_KEYS = ["n", "n_se", "a", "a_se", "b", "b_se", "C", "C_se", "coolant_multiplier",
                "coolant_multiplier_se", "coating_multiplier", "coating_multiplier_se", "r_squared", "sigma"]
COST_COLUMNS = ["cost_optimal_tool_life_min", "cost_optimal_cutting_speed", "cost_per_part_baseline",
                "cost_per_part_optimal", "savings_per_part"]
INTERVAL_COLUMNS = ["predicted_tool_life_min", "ci_low", "ci_high", "pi_low", "pi_high"]


@dataclass(frozen=True)
class DoeParams:
    """Everything the per-batch maths needs (picklable: shipped to the Python workers)."""

    factors: tuple[str, ...]
    categorical: Mapping[str, tuple[str, str]]
    alpha: float = 0.05
    log_response: bool = True
    maximize: bool = True
    cost: Mapping[str, float] | None = None
    baseline: Mapping[str, Any] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DoeParams":
        doe = config["doe"]
        return cls(
            factors=tuple(doe["factors"]),
            categorical={f: (str(v[0]), str(v[1])) for f, v in doe["categorical_levels"].items()},
            alpha=float(doe["alpha"]), log_response=bool(doe["log_response"]), maximize=bool(doe["maximize"]),
            cost={k: float(v) for k, v in doe["cost"].items()}, baseline=dict(doe["baseline"]),
        )

    @property
    def response(self) -> str:
        return "ln_tool_life" if self.log_response else "tool_life"

    def is_categorical(self, factor: str) -> bool:
        return factor in self.categorical


# --------------------------------------------------------------------------- output schemas
def effects_schema():
    from pyspark.sql.types import (BooleanType, DoubleType, LongType, StringType, StructField, StructType,
                                   TimestampType)

    s, d = StringType(), DoubleType()
    return StructType([
        StructField("experiment_id", s, False), StructField("machine_id", s, False), StructField("tool_id", s, False),
        StructField("term", s, False), StructField("effect", d), StructField("coefficient", d),
        StructField("std_error", d), StructField("t_value", d), StructField("p_value", d),
        StructField("significant", BooleanType()), StructField("method", s, False), StructField("aliases", s),
        StructField("response", s, False), StructField("n_runs", LongType(), False),
        StructField("computed_at", TimestampType(), False),
    ])


def _effects_udf_schema():
    from pyspark.sql.types import StructType

    drop = {"response", "computed_at"}
    return StructType([f for f in effects_schema().fields if f.name not in drop])


def optimal_columns(params: DoeParams) -> list[tuple[str, str]]:
    """(name, kind) of the optimal-settings columns the UDF returns (kind: s, d, l)."""
    cols = [(c, "s") for c in GROUP_COLS] + [
        ("status", "s"), ("skip_reason", "s"), ("n_runs", "l"), ("n_runs_not_completed", "l"),
        ("method", "s"), ("terms", "s"), ("df_resid", "l"),
    ]
    cols += [(f"best_coded_{f}", "d") for f in params.factors]
    cols += [(f"best_{f}", "s" if params.is_categorical(f) else "d") for f in params.factors]
    cols += [(c, "d") for c in INTERVAL_COLUMNS + TAYLOR_COLUMNS + COST_COLUMNS]
    return cols


def _optimal_udf_schema(params: DoeParams):
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    types = {"s": StringType(), "d": DoubleType(), "l": LongType()}
    not_null = set(GROUP_COLS) | {"status", "n_runs", "n_runs_not_completed"}
    return StructType([StructField(n, types[k], n not in not_null) for n, k in optimal_columns(params)])


def optimal_schema(params: DoeParams):
    """gold.doe_optimal_settings: the UDF columns plus response and computed_at."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    udf = _optimal_udf_schema(params).fields
    return StructType(udf[:len(GROUP_COLS) + 2] + [StructField("response", StringType(), False)]
                      + udf[len(GROUP_COLS) + 2:] + [StructField("computed_at", TimestampType(), False)])


# --------------------------------------------------------------------------- screening (pandas)
def _identical_rows(sig: np.ndarray) -> list[np.ndarray]:
    """Groups of identical rows of an int matrix (hash + exact verification)."""
    if sig.shape[0] == 0:
        return []
    w = np.random.default_rng(2024).integers(1, 2 ** 62, size=sig.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        h = (sig * w).sum(axis=1)
    order = np.argsort(h, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(h[order])) + 1)
    if all((sig[g] == sig[g[0]]).all() for g in groups):
        return groups
    _, inv = np.unique(sig, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inv[order])) + 1)


def _design_errors(levels: np.ndarray, gid: np.ndarray, G: int, factors: Sequence[str]) -> np.ndarray:
    """Per group: None, or why its design cannot be analysed (the doe package's own checks).

    Groups are bucketed by their sorted sequence of design-point codes; one representative per
    distinct layout is checked with :func:`toollife.doe.analyze_factorial` (the checks depend on
    the levels only, not on the response).
    """
    from toollife.doe import analyze_factorial

    reasons = np.full(G, None, dtype=object)
    if G == 0:
        return reasons
    k = levels.shape[1]
    code = (levels.astype(np.int64) + 1) @ (3 ** np.arange(k, dtype=np.int64))
    order = np.lexsort((code, gid))
    gs = gid[order]
    counts = np.bincount(gs, minlength=G)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(gs)) - starts[gs]
    sig = np.full((G, int(counts.max()) if len(counts) else 0), -1, dtype=np.int64)
    sig[gs, pos] = code[order]
    present = np.flatnonzero(counts > 0)
    for rows in _identical_rows(sig[present]):
        groups = present[rows]
        g0 = groups[0]
        lv = levels[order][starts[g0]:starts[g0] + counts[g0]]
        probe = pd.DataFrame(lv.astype(float), columns=list(factors))
        probe["_y"] = np.arange(1.0, len(probe) + 1.0)
        try:
            analyze_factorial(probe, list(factors), "_y")
        except ValueError as err:
            reasons[groups] = f"design cannot be analysed: {err}"
    return reasons


def group_ids(pdf: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """(group id per row, key frame with one row per group) over :data:`GROUP_COLS`, sorted."""
    gid_all = pdf.groupby(GROUP_COLS, sort=True, observed=True).ngroup().to_numpy(np.int64)
    G = int(gid_all.max()) + 1 if len(gid_all) else 0
    first = np.full(G, len(gid_all), dtype=np.int64)
    np.minimum.at(first, gid_all, np.arange(len(gid_all)))
    return gid_all, pdf[GROUP_COLS].iloc[first].reset_index(drop=True)


def screen(pdf: pd.DataFrame, params: DoeParams, groups: tuple[np.ndarray, pd.DataFrame] | None = None,
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split a batch of combinations into analysable combinations and skipped ones.

    ``groups`` = (group id per row, key frame) as from :func:`group_ids` (the default); the
    key frame's columns are carried to the outputs. Returns ``(runs, keys, skipped)``: ``runs``
    are the completed runs of analysable combinations with an integer ``_gid`` column
    (``keys.iloc[_gid]``; ``keys`` also carries ``n_runs``, ``n_runs_not_completed`` and the
    factor mask); ``skipped`` has the key columns, counts and ``skip_reason``.
    """
    gid_all, keys = groups if groups is not None else group_ids(pdf)
    G = len(keys)
    keys = keys.copy()
    first = np.full(G, len(gid_all), dtype=np.int64)
    np.minimum.at(first, gid_all, np.arange(len(gid_all)))
    completed = pdf[COMPLETED].to_numpy(bool) if COMPLETED in pdf.columns else np.ones(len(pdf), bool)
    keys["n_runs"] = np.bincount(gid_all[completed], minlength=G)
    keys["n_runs_not_completed"] = np.bincount(gid_all[~completed], minlength=G)
    all_bits = (1 << len(params.factors)) - 1
    fsets = pdf[FACTOR_MASK].to_numpy(np.int64) if FACTOR_MASK in pdf.columns else np.full(len(pdf), all_bits)
    keys[FACTOR_MASK] = fsets[first]
    reasons = np.full(G, None, dtype=object)
    reasons[keys["n_runs"].to_numpy() == 0] = "no completed runs"
    design_error = np.zeros(G, dtype=bool)       # skipped only because the design lost runs or is irregular

    runs = pdf if completed.all() else pdf.loc[completed]     # row copies only when something is dropped
    gid = gid_all[completed]
    y = runs[LIFE].to_numpy(dtype=float)
    bad = ~np.isfinite(y)
    _flag(reasons, gid[bad], "completed run(s) without a finite tool_life_min")
    if params.log_response:
        _flag(reasons, gid[np.isfinite(y) & (y <= 0)], "non-positive tool_life_min cannot be log-transformed")
    fs_runs = fsets[completed]
    for fs in np.unique(fs_runs):
        factors = _factors_of(int(fs), params)
        sel = fs_runs == fs
        if not factors:
            _flag(reasons, gid[sel], "the experiment varies none of the configured factors")
            continue
        coded = runs[[f"coded_{f}" for f in factors]].to_numpy(dtype=float)
        lv = coded if sel.all() else coded[sel]
        off = ~np.isin(lv, (-1.0, 0.0, 1.0)).all(axis=1)         # NaN included
        _flag(reasons, gid[sel][off], "run(s) without coded -1/0/+1 levels (missing run_started, or off-design levels)")
        zero = lv == 0
        partial = zero.any(axis=1) & ~zero.all(axis=1) & ~off
        _flag(reasons, gid[sel][partial], "run(s) with some factors at the centre (0) and others at +/-1")
        ok_rows = ~off & ~partial
        sub_gid = gid[sel][ok_rows]
        uniq, local = np.unique(sub_gid, return_inverse=True)
        errs = _design_errors(lv[ok_rows].astype(np.int8), local.reshape(-1), len(uniq), factors)
        for g, err in zip(uniq, errs):
            if err is not None and reasons[g] is None:
                reasons[g] = err
                design_error[g] = True
    keys["skip_reason"] = reasons
    keys[DESIGN_ERROR], keys[_ORIG_GID] = design_error, np.arange(G)
    ok_group = pd.isna(reasons)
    skipped = keys.loc[~ok_group].reset_index(drop=True)
    good = keys.loc[ok_group].reset_index(drop=True).drop(columns=["skip_reason", DESIGN_ERROR, _ORIG_GID])
    new_id = np.full(G, -1, dtype=np.int64)
    new_id[np.flatnonzero(ok_group)] = np.arange(int(ok_group.sum()))
    keep = ok_group[gid]
    runs = runs.copy(deep=False) if keep.all() else runs.loc[keep].copy()
    runs[_GID] = new_id[gid[keep]]
    return runs, good, skipped


def incomplete_analyses(pdf: pd.DataFrame, params: DoeParams, skipped: pd.DataFrame, groups=None) -> list:
    """(row of ``skipped``, analysis) of every combination skipped only for its design: what its
    runs still support, by least squares (:func:`toollife.doe.analyze_incomplete`, as Minitab
    analyses a design with missing runs). Runs that aborted or never finished are the lost
    points; a combination whose remaining runs support no analysis stays skipped."""
    from toollife.doe import analyze_incomplete

    if not len(skipped) or not skipped[DESIGN_ERROR].any():
        return []
    gid_all, _ = groups if groups is not None else group_ids(pdf)
    completed = pdf[COMPLETED].to_numpy(bool) if COMPLETED in pdf.columns else np.ones(len(pdf), bool)
    out = []
    for i in np.flatnonzero(skipped[DESIGN_ERROR].to_numpy(bool)):
        rows = gid_all == int(skipped[_ORIG_GID].iloc[i])
        factors = _factors_of(int(skipped[FACTOR_MASK].iloc[i]), params)
        coded = pdf.loc[rows, [f"coded_{f}" for f in factors]].to_numpy(float)
        on_design = np.isin(coded, (-1.0, 0.0, 1.0)).all(axis=1)
        life = np.where(completed[rows], pdf.loc[rows, LIFE].to_numpy(float), np.nan)
        frame = pd.DataFrame(coded[on_design], columns=factors).assign(**{LIFE: life[on_design]})
        try:
            out.append((i, analyze_incomplete(frame, factors, LIFE, alpha=params.alpha,
                                              log_response=params.log_response)))
        except ValueError:
            continue          # keeps its skip reason: too little is left to analyse
    return out


def incomplete_reason(analysis) -> str:
    """What a least-squares analysis of an incomplete design lost, in one sentence."""
    text = (f"{analysis.n_lost} planned run(s) lost at {len(analysis.missing_points)} design point(s); "
            f"analysed by least squares on the {analysis.n_runs} remaining runs")
    if analysis.non_estimable:
        text += f"; no longer estimable: {', '.join(analysis.non_estimable)}"
    corr = analysis.correlations
    if len(corr):
        text += "; now correlated: " + ", ".join(f"{r.term_1} ~ {r.term_2} (r = {r.correlation:+.2f})"
                                                 for r in corr.head(3).itertuples())
    return text + "; re-run the lost points (gold.doe_next_experiments plans them)"


def _flag(reasons: np.ndarray, groups: np.ndarray, reason: str) -> None:
    for g in np.unique(groups):
        if reasons[g] is None:
            reasons[g] = reason


def _factor_sets(keys: pd.DataFrame, params: DoeParams) -> Iterable[tuple[list[str], np.ndarray]]:
    """(factors, group ids) per distinct factor set (usually one per batch)."""
    fs = keys[FACTOR_MASK].to_numpy(np.int64)
    for value in np.unique(fs):
        yield _factors_of(int(value), params), np.flatnonzero(fs == value)


def _factors_of(mask: int, params: DoeParams) -> list[str]:
    return [f for j, f in enumerate(params.factors) if mask >> j & 1]


def _runs_of(runs: pd.DataFrame, gids: np.ndarray, G: int) -> pd.DataFrame:
    if len(gids) == G:
        return runs
    return runs[np.isin(runs[_GID].to_numpy(), gids)]


# --------------------------------------------------------------------------- effects (pandas)
def effects_frame(pdf: pd.DataFrame, params: DoeParams, groups=None) -> pd.DataFrame:
    """Effect rows of every analysable combination in ``pdf`` (one batch of combinations).

    Columns: group columns (or the key columns of ``groups``, see :func:`screen`) +
    :data:`EFFECT_VALUE_COLUMNS`; equal to :func:`toollife.doe.analyze_factorial` of each
    combination's completed runs.
    """
    from toollife.doe import analyze_factorial_groups

    runs, keys, skipped = screen(pdf, params, groups)
    key_cols = [c for c in keys.columns if c not in ("n_runs", "n_runs_not_completed", FACTOR_MASK)]
    G = len(keys)
    parts = []
    lost = []
    for i, analysis in incomplete_analyses(pdf, params, skipped, groups):
        rows = skipped.iloc[[i] * len(analysis.effects)][key_cols].reset_index(drop=True)
        eff = analysis.effects.reset_index(drop=True)
        lost.append(rows.assign(**{c: eff[c].to_numpy() for c in EFFECT_VALUE_COLUMNS if c != "n_runs"},
                                n_runs=analysis.n_runs))
    for factors, gids in _factor_sets(keys, params):
        sub = _runs_of(runs, gids, G)
        res = analyze_factorial_groups(sub, [_GID], [f"coded_{f}" for f in factors], LIFE,
                                       alpha=params.alpha, log_response=params.log_response)
        parts.append(res)
    columns = [*key_cols, *EFFECT_VALUE_COLUMNS]
    if not parts:
        if lost:
            return pd.concat(lost, ignore_index=True)[columns]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    res = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    g = res[_GID].to_numpy(np.int64)
    out = keys[key_cols].take(g).reset_index(drop=True)
    prefix = "coded_"
    for c in ("term", "aliases"):
        out[c] = _strip_prefix(res[c], prefix)
    for c in ("effect", "coefficient", "std_error", "t_value", "p_value", "significant", "method"):
        out[c] = res[c].to_numpy()
    out["n_runs"] = keys["n_runs"].to_numpy(np.int64)[g]
    return pd.concat([out[columns], *lost], ignore_index=True) if lost else out[columns]


def _strip_prefix(col: pd.Series, prefix: str) -> np.ndarray:
    """'coded_feed:coded_coolant' -> 'feed:coolant' (on the few distinct labels only)."""
    import re

    pattern = re.compile(r"(^|[:,\s-])" + re.escape(prefix))
    codes, uniques = pd.factorize(col, sort=False)
    clean = np.array([pattern.sub(r"\1", str(u)) for u in uniques], dtype=object)
    return clean[codes]


# --------------------------------------------------------------------------- optimal settings (pandas)
def optimal_frame(pdf: pd.DataFrame, params: DoeParams, groups=None) -> pd.DataFrame:
    """One row per combination in ``pdf``: best settings, intervals, Taylor fit, cost optimum.

    Analysable combinations get ``status='ok'``; screened-out ones ``status='skipped'`` with
    ``skip_reason`` and nulls elsewhere, or ``status='incomplete'`` (see the module docstring).
    """
    from toollife.doe import fit_taylor_groups, optimal_settings_groups

    runs, keys, skipped = screen(pdf, params, groups)
    key_cols = [c for c in keys.columns if c not in ("n_runs", "n_runs_not_completed", FACTOR_MASK)]
    G = len(keys)
    out = keys[key_cols + ["n_runs", "n_runs_not_completed"]].copy()
    out["status"] = "ok"
    out["skip_reason"] = None
    cols: dict[str, np.ndarray] = {
        "method": np.full(G, None, dtype=object), "terms": np.full(G, None, dtype=object),
        "df_resid": np.zeros(G, dtype=np.int64),
    }
    for f in params.factors:
        cols[f"best_coded_{f}"] = np.full(G, np.nan)
    for c in INTERVAL_COLUMNS:
        cols[c] = np.full(G, np.nan)
    for factors, gids in _factor_sets(keys, params):
        sub = _runs_of(runs, gids, G)
        res = optimal_settings_groups(sub, [_GID], [f"coded_{f}" for f in factors], LIFE,
                                      maximize=params.maximize, alpha=params.alpha,
                                      log_response=params.log_response)
        g = res[_GID].to_numpy(np.int64)
        cols["method"][g] = res["method"].to_numpy()
        cols["terms"][g] = _strip_prefix(res["terms"].fillna(""), "coded_")
        cols["df_resid"][g] = res["df_resid"].to_numpy(np.int64)
        for f in factors:
            cols[f"best_coded_{f}"][g] = res[f"coded_coded_{f}"].to_numpy(float)
        for c, src in zip(INTERVAL_COLUMNS, ("predicted", "ci_low", "ci_high", "pi_low", "pi_high")):
            cols[c][g] = res[src].to_numpy(float)
    for key, value in cols.items():
        out[key] = value
    for f in params.factors:
        out[f"best_{f}"] = _natural_best(runs, f, cols[f"best_coded_{f}"], params, G)
    taylor = _taylor(runs, G, params, fit_taylor_groups)
    for c, k in zip(TAYLOR_COLUMNS, _TAYLOR_KEYS):
        out[c] = taylor[k]
    for c, v in cost_optimum(taylor, params).items():
        out[c] = v
    if len(skipped):
        sk = skipped[key_cols + ["n_runs", "n_runs_not_completed", "skip_reason"]].copy()
        sk["status"] = "skipped"
        for i, analysis in incomplete_analyses(pdf, params, skipped, groups):
            sk.loc[i, ["status", "skip_reason", "method", "df_resid"]] = [
                INCOMPLETE, incomplete_reason(analysis), analysis.method, analysis.df_resid]
        out = pd.concat([out, sk], ignore_index=True)
    names = [n for n, _ in optimal_columns(params)]
    return out.reindex(columns=key_cols + names[len(GROUP_COLS):])


def _natural_best(runs: pd.DataFrame, factor: str, coded: np.ndarray, params: DoeParams, G: int) -> np.ndarray:
    """Natural level of each group's best coded level (NaN/None where the factor is free)."""
    if params.is_categorical(factor):
        low, high = params.categorical[factor]
        out = np.full(G, None, dtype=object)
        out[coded == -1] = low
        out[coded == 1] = high
        return out
    out = np.full(G, np.nan)
    if factor not in runs.columns or not len(runs):
        return out
    c = runs[f"coded_{factor}"].to_numpy(float)
    x = runs[factor].to_numpy(float)
    g = runs[_GID].to_numpy(np.int64)
    low, high = np.full(G, np.nan), np.full(G, np.nan)
    low[g[c == -1]] = x[c == -1]
    high[g[c == 1]] = x[c == 1]
    out[coded == -1] = low[coded == -1]
    out[coded == 1] = high[coded == 1]
    return out


def _taylor(runs: pd.DataFrame, G: int, params: DoeParams, fit_taylor_groups) -> dict[str, np.ndarray]:
    """Taylor fit per group on natural units; NaN for groups whose speed/feed/depth are unusable."""
    nan = {k: np.full(G, np.nan) for k in _TAYLOR_KEYS}
    needed = ["cutting_speed", "feed", "depth_of_cut"]
    if G == 0 or any(c not in runs.columns for c in needed):
        return nan
    X = runs[needed + [LIFE]].to_numpy(dtype=float)
    row_ok = (np.isfinite(X) & (X > 0)).all(axis=1)
    g = runs[_GID].to_numpy(np.int64)
    group_ok = np.ones(G, dtype=bool)
    group_ok[g[~row_ok]] = False
    sub = runs[group_ok[g]]
    if not len(sub):
        return nan
    kw = {}
    for name in ("coolant", "coating"):
        # 0/1 indicator of the 'high' level from the coded column: the same regressor the string
        # column gives fit_taylor (flood/TiAlN -> 1), without shipping strings to the workers
        if params.is_categorical(name) and f"coded_{name}" in sub.columns:
            ind = f"_on_{name}"
            sub = sub.assign(**{ind: (sub[f"coded_{name}"].to_numpy(float) > 0).astype(float)})
            kw[name] = ind
        else:
            kw[name] = None
    res = fit_taylor_groups(sub, [_GID], **kw)
    idx = res[_GID].to_numpy(np.int64)
    for k in _TAYLOR_KEYS:
        nan[k][idx] = res[k].to_numpy(float)
    return nan


def cost_optimum(taylor: Mapping[str, np.ndarray], params: DoeParams) -> dict[str, np.ndarray]:
    """Vectorised :func:`toollife.doe.cost_optimal_conditions` at the baseline feed/depth/coolant/coating.

    Equal to the scalar function for every group with 0 < n < 1 (NaN otherwise). A coolant or
    coating multiplier the group could not estimate (the factor was not varied) counts as 1:
    C then already refers to the level that was run.
    """
    from toollife.doe import cost_per_part_at_life

    cost, base = params.cost or {}, params.baseline or {}
    n, a, b, C = (np.asarray(taylor[k], dtype=float) for k in ("n", "a", "b", "C"))
    Cm, Ct, tc = cost["machine_rate"], cost["tool_cost"], cost["tool_change_time"]
    f, d, V0 = float(base["feed"]), float(base["depth_of_cut"]), float(base["cutting_speed"])
    c_eff = C.copy()
    for name in ("coolant", "coating"):
        on = params.categorical.get(name, (None, None))[1]
        if on is not None and str(base.get(name)) == on:
            m = np.asarray(taylor[f"{name}_multiplier"], dtype=float)
            c_eff = c_eff * np.where(np.isfinite(m), m, 1.0)
    ok = (n > 0) & (n < 1) & np.isfinite(c_eff) & np.isfinite(a) & np.isfinite(b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        T_opt = (1.0 / n - 1.0) * (tc + Ct / Cm)
        V_opt = c_eff / (T_opt ** n * f ** a * d ** b)

        def per_part(V):
            return cost_per_part_at_life(V, f, (c_eff / (V * f ** a * d ** b)) ** (1.0 / n), cost)

        opt = per_part(V_opt)
        cur = per_part(np.full_like(n, V0))
    nan = np.nan
    return {
        "cost_optimal_tool_life_min": np.where(ok, T_opt, nan),
        "cost_optimal_cutting_speed": np.where(ok, V_opt, nan),
        "cost_per_part_baseline": np.where(ok, cur, nan),
        "cost_per_part_optimal": np.where(ok, opt, nan),
        "savings_per_part": np.where(ok, cur - opt, nan),
    }


# --------------------------------------------------------------------------- Spark wiring
def combination_runs(runs, params: DoeParams, *, naturals: bool):
    """gold.experiment_runs rows -> one row per combination: its keys, the factor mask and its
    runs as an array of structs holding only the numbers the maths needs.

    The aggregation runs in the JVM (hash aggregate with partial aggregation), so the Python
    workers receive 32-run lists instead of 32 rows per combination, the key strings once per
    combination, and every Arrow batch holds whole combinations: no sort, no regrouping in
    Python. The experiment's varied factors travel as a bit mask (an int is far cheaper through
    Arrow than a string array).
    """
    from pyspark.sql import functions as F

    # gold.experiment_runs leaves coded_<f> null exactly when the experiment does not vary f (its
    # design_factors), so OR-ing the non-null coded levels of a combination's runs gives the same
    # mask without reading design_factors: an array of strings on every run row, whose decoding
    # alone cost more CPU than the rest of the read (1.2-3 of 2.5-4.4 CPU-s at 6.4M rows).
    mask = F.lit(0)
    for j, f in enumerate(params.factors):
        mask = mask + F.when(F.col(f"coded_{f}").isNotNull(), F.lit(1 << j)).otherwise(F.lit(0))
    fields = [F.coalesce(F.col("status") == "completed", F.lit(False)).alias(COMPLETED),
              *[F.col(f"coded_{f}") for f in params.factors], F.col(LIFE)]
    if naturals:      # numeric natural levels (best settings, Taylor fit); categorical ones come from params
        fields += [F.col(f) for f in ("cutting_speed", "feed", "depth_of_cut")]
    return (runs.select(*GROUP_COLS, mask.cast("int").alias(FACTOR_MASK), F.struct(*fields).alias(RUNS))
            .groupBy(*GROUP_COLS)
            .agg(F.bit_or(FACTOR_MASK).alias(FACTOR_MASK), F.collect_list(RUNS).alias(RUNS)))


def _unpack(batch) -> tuple[np.ndarray, Any, pd.DataFrame]:
    """One Arrow batch of :func:`combination_runs` -> (combination index per run, Arrow table of
    the key columns, pandas frame of the runs). The key strings never become Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch])
    lists = table.column(RUNS).combine_chunks()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    gid = np.repeat(np.arange(table.num_rows, dtype=np.int64), lengths)
    runs = lists.flatten()                              # StructArray of all runs, offsets applied
    frame = pd.DataFrame({field.name: child.to_numpy(zero_copy_only=False)   # nulls -> NaN
                          for field, child in zip(runs.type, runs.flatten())})
    frame[FACTOR_MASK] = table.column(FACTOR_MASK).to_numpy()[gid]
    return gid, table.select(GROUP_COLS), frame


def _to_arrow(res: pd.DataFrame, keys, schema):
    """pandas result with a ``_key`` column -> Arrow table shaped like the Spark ``schema``."""
    import pyarrow as pa

    k = pa.array(res["_key"].to_numpy(np.int64)) if len(res) else pa.array([], pa.int64())
    arrays = []
    for f in schema.fields:
        if f.name in GROUP_COLS:
            arrays.append(keys.column(f.name).take(k))
            continue
        col = res[f.name] if f.name in res.columns else pd.Series([None] * len(res), dtype=object)
        t = f.dataType.typeName()
        if t == "double":
            arrays.append(pa.array(pd.to_numeric(col, errors="coerce").to_numpy(float), pa.float64(), from_pandas=True))
        elif t == "long":
            arrays.append(pa.array(pd.array(col, dtype="Int64"), pa.int64()))
        elif t == "boolean":
            arrays.append(pa.array(col.to_numpy(), pa.bool_(), from_pandas=True))
        else:
            arrays.append(_string_array(col))
    return pa.Table.from_arrays(arrays, names=[f.name for f in schema.fields])


def _string_array(col: pd.Series):
    """A string column with few distinct labels (term, method, aliases, ...) as an Arrow string
    array: the labels are converted once and expanded in Arrow C++, not per row in Python."""
    import pyarrow as pa

    codes, labels = pd.factorize(col, use_na_sentinel=True)
    dictionary = pa.array(np.asarray(labels, dtype=object), pa.string(), from_pandas=True)
    indices = pa.array(codes, pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _combination_udf(frame_fn, schema, params: DoeParams):
    """mapInArrow function: every batch of combinations -> the rows of ``frame_fn`` for them."""

    def fn(batches):
        for batch in batches:
            if batch.num_rows == 0:
                continue
            gid, keys, frame = _unpack(batch)
            res = frame_fn(frame, params, (gid, pd.DataFrame({"_key": np.arange(keys.num_rows)})))
            yield from _to_arrow(res, keys, schema).to_batches()
    return fn


def effects_udf(params: DoeParams):
    """Arrow map function: batches of combinations -> their effect rows."""
    return _combination_udf(effects_frame, _effects_udf_schema(), params)


def optimal_udf(params: DoeParams):
    """Arrow map function: batches of combinations -> one optimal-settings row per combination."""
    return _combination_udf(optimal_frame, _optimal_udf_schema(params), params)


def compute_effects(runs, params: DoeParams, computed_at):
    """gold.experiment_runs DataFrame -> gold.doe_effects rows (a lazy DataFrame)."""
    from pyspark.sql import functions as F

    out = combination_runs(runs, params, naturals=False).mapInArrow(effects_udf(params), _effects_udf_schema())
    schema = effects_schema()
    out = out.withColumn("response", F.lit(params.response)).withColumn("computed_at", F.lit(computed_at))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])


def compute_optimal(runs, params: DoeParams, computed_at):
    """gold.experiment_runs DataFrame -> gold.doe_optimal_settings rows (a lazy DataFrame)."""
    from pyspark.sql import functions as F

    out = combination_runs(runs, params, naturals=True).mapInArrow(optimal_udf(params), _optimal_udf_schema(params))
    schema = optimal_schema(params)
    out = out.withColumn("response", F.lit(params.response)).withColumn("computed_at", F.lit(computed_at))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])


class arrow_batch_size:
    """Context manager: spark.sql.execution.arrow.maxRecordsPerBatch = ``rows``, restored after.

    Each Arrow batch the map function receives is one vectorised call, so this is the number
    of combinations analysed together (``doe.combinations_per_batch``).
    """

    KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"

    def __init__(self, spark, rows: int):
        self.spark, self.rows = spark, int(rows)

    def __enter__(self):
        self.old = self.spark.conf.get(self.KEY, None)
        self.spark.conf.set(self.KEY, str(self.rows))
        return self

    def __exit__(self, *exc):
        if self.old is None:
            self.spark.conf.unset(self.KEY)
        else:
            self.spark.conf.set(self.KEY, self.old)
        return False


def ensure_tables(spark, config: Mapping[str, Any], params: DoeParams) -> None:
    """Create both tables if missing.

    No per-column Delta statistics: the rows of an experiment are spread over files by hash of
    the combination, so min/max of machine, tool or term would skip nothing, while collecting
    them cost ~1.5x the CPU of the write of millions of effect rows. Queries prune by the
    partition column, experiment_id.
    """
    from toollife.lakehouse import tables

    props = {"delta.dataSkippingNumIndexedCols": "0"}
    tables.create_if_missing(spark, config, EFFECTS, effects_schema(), partition_by=["experiment_id"],
                             properties=props, comment="DOE effects per machine x tool combination and term")
    tables.create_if_missing(spark, config, OPTIMAL, optimal_schema(params), partition_by=["experiment_id"],
                             properties=props,
                             comment="best settings, Taylor fit and cost optimum per machine x tool combination")


def replace_experiments(df, config: Mapping[str, Any], tbl: Table, experiments: Sequence[str]) -> None:
    """Overwrite exactly the rows of ``experiments`` (Delta replaceWhere): reruns replace, never add."""
    from toollife.lakehouse import tables

    quoted = ", ".join("'" + e.replace("\\", "\\\\").replace("'", "\\'") + "'" for e in experiments)
    (df.write.format("delta").mode("overwrite").option("replaceWhere", f"experiment_id IN ({quoted})")
     .save(tbl.path(config)))
    tables.register(df.sparkSession, config, tbl)


def run(spark, config: Mapping[str, Any], *, experiments: Sequence[str] | None = None,
        computed_at=None) -> dict[str, Any]:
    """Read gold.experiment_runs, write gold.doe_effects + gold.doe_optimal_settings.

    Each experiment present in the input is replaced as a whole in both tables, so a rerun on
    the same input leaves the same rows (only ``computed_at`` moves). The metrics count the
    combinations analysed and skipped, and the skipped ones per reason (``skip_reasons``).
    Raises :class:`toollife.errors.MissingInputError` when gold.experiment_runs does not exist or
    holds no runs (of ``experiments``).
    """
    from datetime import datetime, timezone

    from pyspark.sql import functions as F

    from toollife.lakehouse import tables
    from toollife.errors import MissingInputError
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS

    params = DoeParams.from_config(config)
    computed_at = computed_at or datetime.now(timezone.utc).replace(tzinfo=None)
    tables.require(spark, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)
    runs = tables.read(spark, config, EXPERIMENT_RUNS)
    if experiments:
        runs = runs.where(F.col("experiment_id").isin(*experiments))
    per_exp = {r[0]: int(r[1]) for r in runs.groupBy("experiment_id").count().collect()}
    if not per_exp:
        which = f" of experiment(s) {', '.join(experiments)}" if experiments else ""
        raise MissingInputError(f"no runs{which} in {EXPERIMENT_RUNS.qualified} under {config['lakehouse']['root']}; "
                                f"it is filled by {AGGREGATE_JOB} from silver: ingest, then run "
                                f"`toollife submit {AGGREGATE_JOB}` first")
    ensure_tables(spark, config, params)
    n_rows = sum(per_exp.values())
    exps = sorted(per_exp)
    with arrow_batch_size(spark, int(config["doe"]["combinations_per_batch"])):
        replace_experiments(compute_effects(runs, params, computed_at), config, EFFECTS, exps)
        replace_experiments(compute_optimal(runs, params, computed_at), config, OPTIMAL, exps)
    opt = tables.read(spark, config, OPTIMAL).where(F.col("experiment_id").isin(*exps))
    counts = {(r[0], r[1]): int(r[2]) for r in opt.groupBy("status", "skip_reason").count().collect()}
    reasons = {reason: n for (status, reason), n in sorted(counts.items(), key=lambda kv: -kv[1])
               if status == "skipped"}
    return {"experiments": exps, "rows_in": n_rows,
            "combinations_ok": sum(n for (status, _), n in counts.items() if status == "ok"),
            "combinations_incomplete": sum(n for (status, _), n in counts.items() if status == INCOMPLETE),
            "combinations_skipped": sum(reasons.values()), "skip_reasons": reasons}
