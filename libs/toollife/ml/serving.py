"""What scoring needs beside a model version's trees, kept on the version as tags (pure numpy/pandas).

* ``interval_calibration`` - the calibrated interval (:class:`~toollife.ml.intervals.Interval`, JSON),
  ``interval`` its level;
* ``wear_curve`` - the wear curve the version learned (``tool_rul``; JSON knots), against
  which a tool's readings give the feature :data:`~toollife.ml.features.WEAR_CURVE_LIFE`;
* ``prediction_offset`` - the feature the trees' output is relative to: ln T = output + ln(feature).

A version trained before these existed has ``residual_q_low`` / ``residual_q_high`` instead:
a one-bin interval, no curve, no offset. Batch scoring, the live scorer and the promotion's
re-scoring all read a version through :meth:`Serving.from_tags`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from toollife.ml.intervals import Interval
from toollife.ml.wear_curve import WearCurve


def ln_offset(offset: str | None, frame: pd.DataFrame) -> np.ndarray:
    """ln of the feature the trees' output is relative to (zeros without one)."""
    return np.log(frame[offset].to_numpy(float)) if offset else np.zeros(len(frame))


@dataclass(frozen=True)
class Serving:
    interval: Interval
    curve: WearCurve | None = None
    offset: str | None = None

    def to_tags(self) -> dict[str, str]:
        tags = {"interval_calibration": self.interval.to_json(), "interval": f"{self.interval.level:g}"}
        if self.curve is not None:
            tags["wear_curve"] = self.curve.to_json()
        if self.offset:
            tags["prediction_offset"] = self.offset
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> "Serving":
        if "interval_calibration" in tags:
            interval = Interval.from_json(tags["interval_calibration"])
        else:
            interval = Interval.one_bin(float(tags.get("interval", "nan")), float(tags.get("residual_q_low", "nan")),
                                        float(tags.get("residual_q_high", "nan")))
        curve = WearCurve.from_json(tags["wear_curve"]) if "wear_curve" in tags else None
        return cls(interval, curve, tags.get("prediction_offset") or None)

    def ln_life(self, output: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        """ln T from the trees' ``output`` for the rows of ``frame``."""
        return np.asarray(output, float).ravel() + ln_offset(self.offset, frame)

    def predictor(self, predict: Callable[[pd.DataFrame], Any], columns) -> Callable[[pd.DataFrame], np.ndarray]:
        """ln T of a frame of features, through the model's ``predict`` of its ``columns``."""
        return lambda frame: self.ln_life(np.asarray(predict(frame[list(columns)]), float), frame)
