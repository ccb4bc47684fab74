"""Screening a batch of machine x tool combinations before the DOE analysis (pure pandas, no Spark).

``analyze_factorial_groups`` raises on the first bad combination, which would fail the whole
batch. So every combination is screened first, with the same rules (the design checks are
delegated to :func:`toollife.doe.analyze_factorial` once per distinct design layout): no completed
runs, runs without coded -1/0/+1 levels, partial centre points, non-positive life with a log
response, incomplete or non-regular designs, too few runs. A combination screened out only for
its design (a run aborted by chipping, a run never finished) is analysed by least squares on what
remains (:func:`incomplete_analyses`, :func:`toollife.doe.analyze_incomplete`); see
:mod:`toollife.gold.doe_frames` for what each becomes in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.doe.kernel import identical_rows

GROUP_COLS = ["experiment_id", "machine_id", "tool_id"]
LIFE = "tool_life_min"             # wire name of the analysed life: gold.experiment_runs.tool_life (life_unit)
CENSORED = "_censored_life"        # right-censoring time of a run not completed (NaN otherwise)
LIFE_SOURCE, LIFE_FALLBACK = "tool_life", "tool_life_min"   # the table's life column; before tool_life existed
CENSORED_STATUSES = ("censored", "aborted", "running")
FACTOR_MASK = "_factor_mask"       # bit j set: the experiment varies params.factors[j]
COMPLETED = "_completed"
GID = "_gid"                       # the combination index of a run within a batch
_ORIG_GID = "_orig_gid"
DESIGN_ERROR = "_design_error"
INCOMPLETE = "incomplete"          # status of a combination analysed by least squares after losing runs
STATUSES = ("ok", INCOMPLETE, "skipped")   # gold.doe_optimal_settings.status


@dataclass(frozen=True)
class DoeParams:
    """Everything the per-batch maths needs (picklable: shipped to the Python workers)."""

    factors: tuple[str, ...]
    categorical: Mapping[str, tuple[str, str]]        # conf doe.categorical_levels
    alpha: float = 0.05
    log_response: bool = True
    maximize: bool = True
    cost: Mapping[str, float] | None = None
    baseline: Mapping[str, Any] | None = None
    string_factors: frozenset = frozenset()           # user factors whose natural level is a string column

    @classmethod
    def from_config(cls, config: Mapping[str, Any], columns: Mapping[str, str] | None = None) -> "DoeParams":
        """``columns``: {name: Spark type name} of gold.experiment_runs; its ``coded_<name>``
        columns add the user's factors (:func:`discover_factors`). Without it: conf doe.factors."""
        doe = config["doe"]
        factors = discover_factors(doe["factors"], columns) if columns is not None else tuple(doe["factors"])
        strings = frozenset(f for f in factors if f not in doe["factors"] and (columns or {}).get(f) == "string")
        return cls(
            factors=factors, string_factors=strings,
            categorical={f: (str(v[0]), str(v[1])) for f, v in doe["categorical_levels"].items()},
            alpha=float(doe["alpha"]), log_response=bool(doe["log_response"]), maximize=bool(doe["maximize"]),
            cost={k: float(v) for k, v in doe["cost"].items()}, baseline=dict(doe["baseline"]),
        )

    @property
    def response(self) -> str:
        return "ln_tool_life" if self.log_response else "tool_life"

    def is_categorical(self, factor: str) -> bool:
        return factor in self.categorical or factor in self.string_factors

    def natural_factors(self) -> list[str]:
        """Factors whose natural level the workers need (best settings, Taylor): all but the conf
        categorical ones, whose levels come from conf."""
        return [f for f in self.factors if f not in self.categorical]


def discover_factors(conf_factors: Sequence[str], columns: Mapping[str, str] | Sequence[str]) -> tuple[str, ...]:
    """The possible factors: conf ``doe.factors`` (those with a ``coded_`` column in the table) and
    then every other ``coded_<name>`` column of gold.experiment_runs, in the table's column order
    (the import adds one per user factor, named as the user named it)."""
    names = list(columns)
    coded = [c[len("coded_"):] for c in names if c.startswith("coded_") and len(c) > len("coded_")]
    return tuple([f for f in conf_factors if f in coded] + [f for f in coded if f not in conf_factors])


# --------------------------------------------------------------------------- screening
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
    for rows in identical_rows(sig[present]):
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
    _flag(reasons, gid[bad], "completed run(s) without a finite tool_life")
    if params.log_response:
        _flag(reasons, gid[np.isfinite(y) & (y <= 0)], "non-positive tool_life cannot be log-transformed")
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
    runs[GID] = new_id[gid[keep]]
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

def factor_sets(keys: pd.DataFrame, params: DoeParams) -> Iterable[tuple[list[str], np.ndarray]]:
    """(factors, group ids) per distinct factor set (usually one per batch)."""
    fs = keys[FACTOR_MASK].to_numpy(np.int64)
    for value in np.unique(fs):
        yield _factors_of(int(value), params), np.flatnonzero(fs == value)

def _factors_of(mask: int, params: DoeParams) -> list[str]:
    return [f for j, f in enumerate(params.factors) if mask >> j & 1]

def runs_of(runs: pd.DataFrame, gids: np.ndarray, G: int) -> pd.DataFrame:
    if len(gids) == G:
        return runs
    return runs[np.isin(runs[GID].to_numpy(), gids)]
