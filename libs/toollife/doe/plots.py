"""The DOE plots a Minitab/JMP user expects, as matplotlib Figures or written to PNG files.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend
switch), so it is safe on headless executors, inside notebooks and in the dashboard alike.
Each plot comes twice: ``*_figure`` returns the :class:`matplotlib.figure.Figure` (the
dashboard shows it, a notebook displays it), and the path-taking function (``pareto_chart``,
``half_normal_plot``, ...) draws the same figure and returns the saved :class:`pathlib.Path`.
"""
from __future__ import annotations

from pathlib import Path
from dataclasses import asdict
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import optimize, stats

from .factorial import CURVATURE_TERM
from .taylor import CostLike, as_machining_cost, cost_optimal_conditions, cost_per_part, taylor_life

__all__ = [
    "pareto_chart", "half_normal_plot", "main_effects_plot", "interaction_plot", "pareto_reference_line",
    "taylor_curve_plot", "cost_curve_plot",
    "pareto_figure", "half_normal_figure", "main_effects_figure", "interaction_figure",
    "taylor_curve_figure", "cost_curve_figure",
]

PathLike = Union[str, Path]


def _figure(figsize) -> Figure:
    """A Figure with its own Agg canvas, so ``fig.savefig`` works without pyplot."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _effect_rows(effects: pd.DataFrame) -> pd.DataFrame:
    need = [c for c in ("term", "effect", "method") if c not in effects.columns]
    if need:
        raise ValueError(f"effects table lacks column(s) {need}; pass the output of analyze_factorial")
    rows = effects[effects["term"] != CURVATURE_TERM]
    if rows.empty:
        raise ValueError("effects table has no effect rows")
    return rows


def _anova_df(rows: pd.DataFrame) -> float:
    """Residual df recovered from a (t, p) pair: p = 2 sf(|t|, df) is monotone in df."""
    ok = rows[np.isfinite(rows["t_value"]) & (rows["p_value"] > 1e-12) & (rows["p_value"] < 1 - 1e-9)]
    if ok.empty:
        raise ValueError("cannot infer the residual df; pass df= explicitly")
    t, p = abs(float(ok["t_value"].iloc[0])), float(ok["p_value"].iloc[0])
    f = lambda d: 2 * stats.t.sf(t, d) - p  # noqa: E731
    return float(optimize.brentq(f, 1e-3, 1e7, xtol=1e-10))


def pareto_reference_line(effects: pd.DataFrame, alpha: float = 0.05, df: Optional[float] = None) -> float:
    """Reference line of :func:`pareto_chart`.

    Lenth tables: Lenth's margin of error ME = t_{1-alpha/2, m/3} PSE, in effect units (bars are
    |effect|). ANOVA tables: the critical t_{1-alpha/2, df} (bars are |t|); the residual df is
    inferred from the table unless given.
    """
    rows = _effect_rows(effects)
    if str(rows["method"].iloc[0]) == "lenth":
        m = len(rows)
        return float(stats.t.ppf(1 - alpha / 2, m / 3.0) * float(rows["std_error"].iloc[0]))
    return float(stats.t.ppf(1 - alpha / 2, df if df is not None else _anova_df(rows)))


def pareto_chart(effects: pd.DataFrame, path: PathLike, *, alpha: float = 0.05, df: Optional[float] = None,
                 title: Optional[str] = None) -> Path:
    """:func:`pareto_figure` saved as a PNG at ``path``."""
    return _save(pareto_figure(effects, alpha=alpha, df=df, title=title), path)


def pareto_figure(effects: pd.DataFrame, *, alpha: float = 0.05, df: Optional[float] = None,
                  title: Optional[str] = None) -> Figure:
    """Horizontal bars of the effects sorted by size, with the significance reference line.

    Unreplicated (Lenth) designs show |effect| against ME; replicated designs show the
    standardised effects |t| against the critical t (:func:`pareto_reference_line`).
    """
    rows = _effect_rows(effects)
    lenth = str(rows["method"].iloc[0]) == "lenth"
    values = np.abs(rows["effect"] if lenth else rows["t_value"]).to_numpy(dtype=float)
    ref = pareto_reference_line(effects, alpha, df)
    order = np.argsort(values, kind="stable")
    fig = _figure((7, 0.35 * len(values) + 1.5))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(values)), values[order], color="tab:blue")
    ax.set_yticks(np.arange(len(values)), list(rows["term"].to_numpy()[order]))
    ax.axvline(ref, color="tab:red", linestyle="--", label=f"{'ME' if lenth else 't crit'} = {ref:.3f}")
    ax.set_xlabel("|effect|" if lenth else "standardised effect |t|")
    ax.set_title(title or f"Pareto chart of effects (alpha = {alpha:g}, {'Lenth' if lenth else 'ANOVA'})")
    ax.legend(loc="lower right")
    return fig


def half_normal_plot(effects: pd.DataFrame, path: PathLike, *, title: Optional[str] = None) -> Path:
    """:func:`half_normal_figure` saved as a PNG at ``path``."""
    return _save(half_normal_figure(effects, title=title), path)


def half_normal_figure(effects: pd.DataFrame, *, title: Optional[str] = None) -> Figure:
    """|effect| against half-normal quantiles (Daniel 1959); inert effects fall on a line
    through the origin, significant ones (labelled) stand off it."""
    rows = _effect_rows(effects)
    a = np.abs(rows["effect"].to_numpy(dtype=float))
    order = np.argsort(a, kind="stable")
    m = len(a)
    q = stats.norm.ppf(0.5 + 0.5 * (np.arange(1, m + 1) - 0.5) / m)
    sig = rows["significant"].to_numpy(dtype=bool)[order] if "significant" in rows else np.zeros(m, bool)
    terms = rows["term"].to_numpy()[order]
    fig = _figure((6, 5))
    ax = fig.add_subplot()
    ax.scatter(a[order][~sig], q[~sig], color="tab:blue", label="not significant")
    ax.scatter(a[order][sig], q[sig], color="tab:red", label="significant")
    for x, y, t in zip(a[order][sig], q[sig], terms[sig]):
        ax.annotate(t, (x, y), textcoords="offset points", xytext=(4, 2))
    ax.set_xlabel("|effect|")
    ax.set_ylabel("half-normal quantile")
    ax.set_title(title or "Half-normal plot of effects")
    ax.legend(loc="lower right")
    return fig


def main_effects_plot(runs: pd.DataFrame, factors: Sequence[str], response: str, path: PathLike) -> Path:
    """:func:`main_effects_figure` saved as a PNG at ``path``."""
    return _save(main_effects_figure(runs, factors, response), path)


def main_effects_figure(runs: pd.DataFrame, factors: Sequence[str], response: str) -> Figure:
    """Mean response at each coded level of every factor (centre runs shown at 0 if present)."""
    factors = list(factors)
    missing = [c for c in [*factors, response] if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    fig = _figure((3 * len(factors), 3.2))
    axes = fig.subplots(1, len(factors), sharey=True, squeeze=False)[0]
    grand = runs[response].mean()
    for ax, f in zip(axes, factors):
        means = runs.groupby(f)[response].mean().sort_index()
        ax.plot(means.index.to_numpy(dtype=float), means.to_numpy(), marker="o")
        ax.axhline(grand, color="grey", linestyle=":")
        ax.set_xlabel(f)
    axes[0].set_ylabel(f"mean {response}")
    fig.suptitle("Main effects plot")
    return fig


def interaction_plot(runs: pd.DataFrame, f1: str, f2: str, response: str, path: PathLike) -> Path:
    """:func:`interaction_figure` saved as a PNG at ``path``."""
    return _save(interaction_figure(runs, f1, f2, response), path)


def interaction_figure(runs: pd.DataFrame, f1: str, f2: str, response: str) -> Figure:
    """Mean response against ``f1``, one line per level of ``f2``; non-parallel lines mean
    interaction. Centre runs are left out."""
    missing = [c for c in (f1, f2, response) if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    data = runs[(runs[f1] != 0) & (runs[f2] != 0)]
    means = data.groupby([f2, f1])[response].mean()
    fig = _figure((5, 4))
    ax = fig.add_subplot()
    for lev in sorted(data[f2].unique()):
        s = means.loc[lev].sort_index()
        ax.plot(s.index.to_numpy(dtype=float), s.to_numpy(), marker="o", label=f"{f2} = {lev:+g}")
    ax.set_xlabel(f1)
    ax.set_ylabel(f"mean {response}")
    ax.set_title(f"Interaction plot {f1} x {f2}")
    ax.legend()
    return fig


def _speed_grid(centre: float, extra: Sequence[Optional[float]] = (), num: int = 120) -> np.ndarray:
    """Geometric speeds from a third to three times ``centre``, widened to cover ``extra``."""
    points = [float(v) for v in (centre, *extra) if v is not None and np.isfinite(v) and v > 0]
    lo, hi = min(points) / 3.0, max(points) * 3.0
    return np.geomspace(lo, hi, num)


def taylor_curve_plot(taylor: Mapping[str, float], f: float, d: float, path: PathLike, **kwargs) -> Path:
    """:func:`taylor_curve_figure` saved as a PNG at ``path``."""
    return _save(taylor_curve_figure(taylor, f, d, **kwargs), path)


def taylor_curve_figure(taylor: Mapping[str, float], f: float, d: float, *, coolant: bool = False,
                        coating: bool = False, cost: Optional[CostLike] = None,
                        speeds: Optional[Sequence[float]] = None, observed: Optional[pd.DataFrame] = None,
                        speed: str = "cutting_speed", life: str = "tool_life_min",
                        title: Optional[str] = None) -> Figure:
    """Tool life against cutting speed from the fitted Taylor equation (:func:`taylor_life`) at
    feed ``f``, depth ``d`` and the given coolant/coating, on log-log axes (a straight line of
    slope -1/n). With ``cost`` the minimum-cost speed and life (:func:`cost_optimal_conditions`)
    are marked; ``observed`` runs (columns ``speed``, ``life``) are drawn as points.
    """
    opt = cost_optimal_conditions(taylor, f, d, cost, coolant=coolant, coating=coating) if cost is not None else None
    obs = None
    if observed is not None and len(observed):
        obs = observed[[speed, life]].astype(float)
        obs = obs[np.isfinite(obs).all(axis=1) & (obs > 0).all(axis=1)]
    if speeds is None:
        if opt is not None:
            speeds = _speed_grid(opt["V_opt"])
        elif obs is not None and len(obs):
            speeds = np.geomspace(obs[speed].min() / 1.5, obs[speed].max() * 1.5, 120)
        else:
            raise ValueError("pass speeds, cost or observed runs to choose the speed range")
    V = np.asarray(speeds, dtype=float)
    T = taylor_life(V, f, d, taylor, coolant=coolant, coating=coating)
    fig = _figure((6, 4.5))
    ax = fig.add_subplot()
    ax.plot(V, T, color="tab:blue", label=f"Taylor fit, n = {float(taylor['n']):.3f}")
    if obs is not None and len(obs):
        ax.scatter(obs[speed], obs[life], color="grey", s=18, label="observed runs")
    if opt is not None:
        ax.scatter([opt["V_opt"]], [opt["T_opt"]], marker="*", s=180, color="tab:red", zorder=3,
                   label=f"cost optimum: V = {opt['V_opt']:.0f} m/min, T = {opt['T_opt']:.1f} min")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cutting speed V (m/min)")
    ax.set_ylabel("tool life T (min)")
    ax.set_title(title or f"Taylor curve at f = {f:g} mm/rev, d = {d:g} mm")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def cost_curve_plot(taylor: Mapping[str, float], f: float, d: float, cost: CostLike, path: PathLike,
                    **kwargs) -> Path:
    """:func:`cost_curve_figure` saved as a PNG at ``path``."""
    return _save(cost_curve_figure(taylor, f, d, cost, **kwargs), path)


def cost_curve_figure(taylor: Mapping[str, float], f: float, d: float, cost: CostLike, *, coolant: bool = False,
                      coating: bool = False, current_speed: Optional[float] = None,
                      speeds: Optional[Sequence[float]] = None, title: Optional[str] = None) -> Figure:
    """Cost per part (:func:`cost_per_part`) against cutting speed at feed ``f`` and depth ``d``,
    with the minimum (:func:`cost_optimal_conditions`) marked and, if given, the current speed."""
    opt = cost_optimal_conditions(taylor, f, d, cost, current_speed=current_speed, coolant=coolant, coating=coating)
    V = np.asarray(speeds if speeds is not None else _speed_grid(opt["V_opt"], [current_speed]), dtype=float)
    kw = dict(asdict(as_machining_cost(cost)), coolant=coolant, coating=coating)
    y = np.array([cost_per_part(v, f, d, taylor, **kw) for v in V])
    fig = _figure((6, 4.5))
    ax = fig.add_subplot()
    ax.plot(V, y, color="tab:blue", label="cost per part")
    ax.scatter([opt["V_opt"]], [opt["cost_per_part_optimal"]], marker="*", s=180, color="tab:red", zorder=3,
               label=f"optimum: V = {opt['V_opt']:.0f} m/min, {opt['cost_per_part_optimal']:.3f} per part")
    if current_speed is not None:
        ax.axvline(current_speed, color="grey", linestyle=":")
        ax.scatter([current_speed], [opt["cost_per_part_current"]], color="grey", zorder=3,
                   label=f"current: V = {current_speed:g} m/min, {opt['cost_per_part_current']:.3f} per part")
    ax.set_xscale("log")
    finite = y[np.isfinite(y)]
    if len(finite):   # the curve shoots up at both ends: keep the interesting part in view
        ax.set_ylim(0.95 * finite.min(), min(finite.max(), 2.5 * finite.min()) * 1.02)
    ax.set_xlabel("cutting speed V (m/min)")
    ax.set_ylabel("cost per part")
    ax.set_title(title or f"Cost per part at f = {f:g} mm/rev, d = {d:g} mm")
    ax.legend(loc="upper right", fontsize="small")
    return fig
