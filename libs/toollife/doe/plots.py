"""The DOE plots a Minitab/JMP user expects, written to PNG files.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend
switch), so it is safe on headless executors and inside notebooks alike. Every function returns
the saved :class:`pathlib.Path`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import optimize, stats

from .factorial import CURVATURE_TERM

__all__ = ["pareto_chart", "half_normal_plot", "main_effects_plot", "interaction_plot", "pareto_reference_line"]

PathLike = Union[str, Path]


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
    """Horizontal bars of the effects sorted by size, with the significance reference line.

    Unreplicated (Lenth) designs show |effect| against ME; replicated designs show the
    standardised effects |t| against the critical t (:func:`pareto_reference_line`).
    """
    rows = _effect_rows(effects)
    lenth = str(rows["method"].iloc[0]) == "lenth"
    values = np.abs(rows["effect"] if lenth else rows["t_value"]).to_numpy(dtype=float)
    ref = pareto_reference_line(effects, alpha, df)
    order = np.argsort(values, kind="stable")
    fig = Figure(figsize=(7, 0.35 * len(values) + 1.5))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(values)), values[order], color="tab:blue")
    ax.set_yticks(np.arange(len(values)), list(rows["term"].to_numpy()[order]))
    ax.axvline(ref, color="tab:red", linestyle="--", label=f"{'ME' if lenth else 't crit'} = {ref:.3f}")
    ax.set_xlabel("|effect|" if lenth else "standardised effect |t|")
    ax.set_title(title or f"Pareto chart of effects (alpha = {alpha:g}, {'Lenth' if lenth else 'ANOVA'})")
    ax.legend(loc="lower right")
    return _save(fig, path)


def half_normal_plot(effects: pd.DataFrame, path: PathLike, *, title: Optional[str] = None) -> Path:
    """|effect| against half-normal quantiles (Daniel 1959); inert effects fall on a line
    through the origin, significant ones (labelled) stand off it."""
    rows = _effect_rows(effects)
    a = np.abs(rows["effect"].to_numpy(dtype=float))
    order = np.argsort(a, kind="stable")
    m = len(a)
    q = stats.norm.ppf(0.5 + 0.5 * (np.arange(1, m + 1) - 0.5) / m)
    sig = rows["significant"].to_numpy(dtype=bool)[order] if "significant" in rows else np.zeros(m, bool)
    terms = rows["term"].to_numpy()[order]
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.scatter(a[order][~sig], q[~sig], color="tab:blue", label="not significant")
    ax.scatter(a[order][sig], q[sig], color="tab:red", label="significant")
    for x, y, t in zip(a[order][sig], q[sig], terms[sig]):
        ax.annotate(t, (x, y), textcoords="offset points", xytext=(4, 2))
    ax.set_xlabel("|effect|")
    ax.set_ylabel("half-normal quantile")
    ax.set_title(title or "Half-normal plot of effects")
    ax.legend(loc="lower right")
    return _save(fig, path)


def main_effects_plot(runs: pd.DataFrame, factors: Sequence[str], response: str, path: PathLike) -> Path:
    """Mean response at each coded level of every factor (centre runs shown at 0 if present)."""
    factors = list(factors)
    missing = [c for c in [*factors, response] if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    fig = Figure(figsize=(3 * len(factors), 3.2))
    axes = fig.subplots(1, len(factors), sharey=True, squeeze=False)[0]
    grand = runs[response].mean()
    for ax, f in zip(axes, factors):
        means = runs.groupby(f)[response].mean().sort_index()
        ax.plot(means.index.to_numpy(dtype=float), means.to_numpy(), marker="o")
        ax.axhline(grand, color="grey", linestyle=":")
        ax.set_xlabel(f)
    axes[0].set_ylabel(f"mean {response}")
    fig.suptitle("Main effects plot")
    return _save(fig, path)


def interaction_plot(runs: pd.DataFrame, f1: str, f2: str, response: str, path: PathLike) -> Path:
    """Mean response against ``f1``, one line per level of ``f2``; non-parallel lines mean
    interaction. Centre runs are left out."""
    missing = [c for c in (f1, f2, response) if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    data = runs[(runs[f1] != 0) & (runs[f2] != 0)]
    means = data.groupby([f2, f1])[response].mean()
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    for lev in sorted(data[f2].unique()):
        s = means.loc[lev].sort_index()
        ax.plot(s.index.to_numpy(dtype=float), s.to_numpy(), marker="o", label=f"{f2} = {lev:+g}")
    ax.set_xlabel(f1)
    ax.set_ylabel(f"mean {response}")
    ax.set_title(f"Interaction plot {f1} x {f2}")
    ax.legend()
    return _save(fig, path)
