"""Design and analysis of 2-level factorial experiments on tool life (pure numpy/scipy/pandas).

This package never imports pyspark: Spark jobs wrap it (``applyInPandas`` calls the
``*_groups`` functions), never the reverse, so the statistics are testable in milliseconds.

References: D. C. Montgomery, *Design and Analysis of Experiments* (ch. 6 two-level factorials,
ch. 8 fractional factorials, ch. 11 response surfaces); R. V. Lenth (1989), Technometrics 31:469-473.
"""
from .design import (
    add_center_points,
    add_replicates,
    alias_structure,
    defining_relation,
    design_resolution,
    fractional_factorial,
    full_factorial,
    randomize,
    to_natural,
)
from .augment import axial_points, central_composite, fold_over, rotatable_alpha
from .factorial import CURVATURE_TERM, RESULT_COLUMNS, analyze_factorial, code_levels
from .incomplete import IncompleteAnalysis, analyze_incomplete
from .optimize import optimal_settings, reduce_model
from .power import power_two_level, replicates_for_power
from .recommend import RECOMMENDATION_KINDS, Recommendation, recommend_next
from .response_surface import ResponseSurface, fit_response_surface, steepest_ascent
from .taylor import (
    TAYLOR_KEYS,
    MachiningCost,
    cost_optimal_conditions,
    cost_optimal_speed,
    cost_per_part,
    cost_per_part_at_life,
    fit_taylor,
    taylor_life,
)
from .vectorized import analyze_factorial_groups, fit_taylor_groups, optimal_settings_groups

__all__ = [
    "full_factorial", "fractional_factorial", "design_resolution", "defining_relation", "alias_structure",
    "add_replicates", "add_center_points", "randomize", "to_natural",
    "analyze_factorial", "code_levels", "RESULT_COLUMNS", "CURVATURE_TERM",
    "analyze_incomplete", "IncompleteAnalysis",
    "fold_over", "central_composite", "axial_points", "rotatable_alpha",
    "fit_response_surface", "ResponseSurface", "steepest_ascent",
    "power_two_level", "replicates_for_power",
    "recommend_next", "Recommendation", "RECOMMENDATION_KINDS",
    "reduce_model", "optimal_settings",
    "fit_taylor", "taylor_life", "cost_per_part", "cost_per_part_at_life", "cost_optimal_conditions",
    "cost_optimal_speed", "MachiningCost", "TAYLOR_KEYS",
    "analyze_factorial_groups", "optimal_settings_groups", "fit_taylor_groups",
    "pareto_chart", "half_normal_plot", "main_effects_plot", "interaction_plot",
]


def __getattr__(name):
    # plots import matplotlib lazily: Spark executors computing effects never pay for it
    if name in ("pareto_chart", "half_normal_plot", "main_effects_plot", "interaction_plot", "pareto_reference_line"):
        from . import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
