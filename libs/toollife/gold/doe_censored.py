"""The censored-life rows of gold.doe_effects for one batch of combinations (pure pandas).

A combination with runs that did not complete but survived a known time (status censored, aborted
or running with a positive censored_life: :data:`toollife.gold.doe_screen.CENSORED`) gets, beside
its least-squares rows on the completed runs (``fit = 'least_squares'``), the rows of the lognormal
AFT maximum-likelihood fit of every run (``fit = 'censored_mle'``, response ``ln_tool_life``,
:func:`toollife.doe.censored.fit_censored`). Only those combinations are fitted: one vectorised
test finds them, so a batch without censored runs pays one ``isfinite``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toollife.doe.factorial import RESULT_COLUMNS
from toollife.gold.doe_screen import CENSORED, COMPLETED, FACTOR_MASK, LIFE, DoeParams, group_ids

LEAST_SQUARES = "least_squares"
CENSORED_FIT = "censored_mle"
FITS = (LEAST_SQUARES, CENSORED_FIT)             # gold.doe_effects.fit


def censored_frame(pdf: pd.DataFrame, params: DoeParams, groups=None) -> pd.DataFrame:
    """``fit='censored_mle'`` effect rows (key columns of ``groups`` + effect columns + ``note``) of
    every combination in ``pdf`` with at least one censored run; empty when there is none."""
    from toollife.doe.censored import fit_censored

    gid_all, keys = groups if groups is not None else group_ids(pdf)
    if CENSORED not in pdf.columns or not len(pdf):
        return pd.DataFrame()
    cens = pdf[CENSORED].to_numpy(float)
    has = np.isfinite(cens) & (cens > 0)
    if not has.any():
        return pd.DataFrame()
    completed = pdf[COMPLETED].to_numpy(bool) if COMPLETED in pdf.columns else np.ones(len(pdf), bool)
    all_bits = (1 << len(params.factors)) - 1
    masks = pdf[FACTOR_MASK].to_numpy(np.int64) if FACTOR_MASK in pdf.columns else np.full(len(pdf), all_bits)
    parts = []
    for g in np.unique(gid_all[has]):
        rows = np.flatnonzero(gid_all == g)
        mask = int(masks[rows[0]])
        factors = [f for j, f in enumerate(params.factors) if mask >> j & 1]
        if not factors:
            continue
        coded = pdf.iloc[rows][[f"coded_{f}" for f in factors]].to_numpy(float)
        life = np.where(completed[rows], pdf[LIFE].to_numpy(float)[rows], np.nan)
        frame = pd.DataFrame(coded, columns=factors).assign(_life=life, _cens=np.where(completed[rows], np.nan,
                                                                                            cens[rows]))
        fit = fit_censored(frame, factors, "_life", "_cens", alpha=params.alpha)
        eff = fit.effects
        if not len(eff):         # the design itself cannot be analysed: one row saying so
            eff = pd.DataFrame({"term": ["(model)"], "method": ["not_identifiable"], "significant": [False]})
        key = keys.iloc[[g] * len(eff)].reset_index(drop=True)
        parts.append(key.assign(**{c: eff[c].to_numpy() if c in eff.columns else None
                                   for c in RESULT_COLUMNS},
                                n_runs=fit.n_runs, fit=CENSORED_FIT, note=fit.note))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
