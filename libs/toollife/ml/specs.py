"""The two registered models (what each answers from which features) and what a training reads;
pure, so the scorers know a model without importing the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from toollife.ml import features as feat


@dataclass(frozen=True)
class ModelSpec:
    name: str
    question: str
    features: tuple[str, ...]
    numeric: tuple[str, ...]
    offset: str | None = None        # the trees predict ln T - ln(this feature)


SPECS = {
    "tool_life": ModelSpec("tool_life", "what life will a tool get at these settings? (ln T, before cutting)",
                           tuple(feat.PLANNING_FEATURES), tuple(feat.NUMERIC_SETTINGS)),
    "tool_rul": ModelSpec("tool_rul", "how long will the tool cutting now last? (ln T; remaining life T - t)",
                          tuple(feat.RUL_FEATURES), tuple([*feat.NUMERIC_SETTINGS, *feat.SENSOR_FEATURES]),
                          offset=feat.WEAR_CURVE_LIFE),
}


@dataclass
class TrainingData:
    """What one training reads, pinned to one Delta version per table."""

    runs: pd.DataFrame                       # completed runs: key, settings, started_at, tool_life_min
    samples: pd.DataFrame                    # tool_rul samples (run x cut-off fraction)
    versions: dict[str, int]                 # qualified table -> Delta version read
    paths: dict[str, str]                    # qualified table -> its location
    wear: pd.DataFrame | None = None         # flank-wear readings of the completed runs (features.WEAR_COLUMNS)
    truth: dict[str, Any] | None = None      # taylor (DataFrame), coating/coolant multipliers
    simulation_ids: list[str] = field(default_factory=list)
