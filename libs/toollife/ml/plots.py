"""The figures a training run logs as MLflow artifacts (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def predicted_vs_actual(ln_true, ln_pred, path: Path, title: str) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    t, p = np.exp(ln_true), np.exp(ln_pred)
    ax.scatter(t, p, s=12, alpha=0.7)
    lims = [min(t.min(), p.min()) * 0.9, max(t.max(), p.max()) * 1.1]
    ax.plot(lims, lims, "k--", lw=1, label="perfect")
    ax.set(xscale="log", yscale="log", xlabel="observed tool life [min]", ylabel="predicted tool life [min]",
           title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def residuals(ln_true, ln_pred, path: Path, title: str) -> Path:
    plt = _figure()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    res = np.asarray(ln_true) - np.asarray(ln_pred)
    a1.scatter(np.exp(ln_pred), res, s=12, alpha=0.7)
    a1.axhline(0, color="k", lw=1)
    a1.set(xscale="log", xlabel="predicted tool life [min]", ylabel="residual of ln T", title=title)
    a2.hist(res, bins=20)
    a2.set(xlabel="residual of ln T", ylabel="runs")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def partial_dependence(model, X, features: Sequence[str], path: Path, title: str) -> Path:
    from sklearn.inspection import PartialDependenceDisplay

    plt = _figure()
    fig, ax = plt.subplots(1, len(features), figsize=(4 * len(features), 3.5))
    PartialDependenceDisplay.from_estimator(model, X, list(features), ax=ax)
    fig.suptitle(f"{title}: partial dependence of ln T")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def error_by_fraction(fractions, abs_errors: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Mean absolute error of the remaining life against the fraction of life cut, per predictor."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    fr = np.asarray(fractions)
    levels = np.unique(fr)
    for label, err in abs_errors.items():
        ax.plot(100 * levels, [err[fr == lv].mean() for lv in levels], marker="o", label=label)
    ax.set(xlabel="share of life cut [%]", ylabel="MAE of remaining life [min]", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
