"""Data-quality gates: Great Expectations (GX Core) suites as code, one module per layer.

``validate(spark, config, layers=..., tables=...)`` checks the Delta versions each table gained
since its last passing validation and appends one row per expectation result to
``meta.data_quality`` (see :mod:`toollife.quality.core`). ``jobs/validate_tables.py`` is the job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from toollife.quality.core import DATA_QUALITY, Outcome, QualityGateFailed  # noqa: F401

LAYERS = ("bronze", "silver", "gold")


def _builder(layer: str):
    from toollife.quality import bronze, gold, silver

    return {"bronze": bronze.suites, "silver": silver.suites, "gold": gold.suites}[layer]


def validate(spark, config: Mapping[str, Any], *, layers: Iterable[str] = (), tables: Iterable[str] = (),
             as_of: datetime | None = None, full: bool = False) -> Outcome:
    """Run the suites of ``layers`` (all three when neither layers nor tables are given) and of
    ``tables`` (qualified names: only these tables of their layer)."""
    from functools import partial

    from toollife.quality import core

    layers, tables = list(layers), list(tables)
    builders = [_builder(layer) for layer in (layers or ([] if tables else LAYERS))]
    by_layer: dict[str, set[str]] = {}
    for name in tables:
        layer = name.partition(".")[0]
        if layer not in LAYERS:
            from toollife.errors import UsageError

            raise UsageError(f"--table {name}: must be <layer>.<table> with layer one of {', '.join(LAYERS)}")
        by_layer.setdefault(layer, set()).add(name)
    builders += [partial(_builder(layer), only=names) for layer, names in by_layer.items() if layer not in layers]
    return core.validate(spark, config, builders, as_of=as_of, full=full)
