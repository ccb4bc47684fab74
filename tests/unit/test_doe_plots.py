"""Plots are written as non-empty PNGs; the Pareto reference line is Lenth's ME / critical t."""
import pytest
from scipy import stats

from toollife.doe import (
    add_replicates,
    analyze_factorial,
    full_factorial,
    half_normal_plot,
    interaction_plot,
    main_effects_plot,
    pareto_chart,
)
from toollife.doe.plots import pareto_reference_line

PNG = b"\x89PNG\r\n\x1a\n"
FILTRATION = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]


@pytest.fixture(scope="module")
def example_6_2():
    runs = full_factorial(list("ABCD")).assign(y=FILTRATION)
    return runs, analyze_factorial(runs, list("ABCD"), "y")


def _is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG


def test_pareto_reference_is_lenth_me(example_6_2):
    assert round(pareto_reference_line(example_6_2[1]), 3) == 6.748


def test_pareto_reference_anova_critical_t():
    runs = add_replicates(full_factorial(list("ABC")), 2)
    runs["y"] = [550, 669, 633, 642, 1037, 749, 1075, 729, 604, 650, 601, 635, 1052, 868, 1063, 860]
    eff = analyze_factorial(runs, list("ABC"), "y")
    assert pareto_reference_line(eff) == pytest.approx(stats.t.ppf(0.975, 8), rel=1e-8)
    assert pareto_reference_line(eff, df=8) == pytest.approx(stats.t.ppf(0.975, 8))


def test_all_plots_write_png(example_6_2, tmp_path):
    runs, eff = example_6_2
    paths = [
        pareto_chart(eff, tmp_path / "pareto.png"),
        half_normal_plot(eff, tmp_path / "half_normal.png"),
        main_effects_plot(runs, list("ABCD"), "y", tmp_path / "main.png"),
        interaction_plot(runs, "A", "C", "y", tmp_path / "sub" / "ac.png"),
    ]
    for p in paths:
        assert p.exists() and _is_png(p), p


def test_plot_input_errors(example_6_2, tmp_path):
    runs, eff = example_6_2
    with pytest.raises(ValueError):
        pareto_chart(eff.drop(columns="method"), tmp_path / "x.png")
    with pytest.raises(ValueError):
        main_effects_plot(runs, ["A", "Z"], "y", tmp_path / "x.png")


TAYLOR = {"n": 0.25, "a": 0.6, "b": 0.15, "C": 400.0, "coolant_multiplier": 1.1, "coating_multiplier": 1.3}
COST = {"machine_rate": 1.5, "tool_cost": 6.0, "tool_change_time": 2.0, "handling_time": 1.0,
        "diameter": 80.0, "length": 250.0}


def test_figure_functions_return_the_figures_the_files_hold(example_6_2, tmp_path):
    from matplotlib.figure import Figure

    from toollife.doe import plots

    runs, eff = example_6_2
    figures = [
        plots.pareto_figure(eff), plots.half_normal_figure(eff),
        plots.main_effects_figure(runs, list("ABCD"), "y"), plots.interaction_figure(runs, "A", "C", "y"),
        plots.taylor_curve_figure(TAYLOR, 0.2, 2.0, cost=COST, coolant=True, coating=True),
        plots.cost_curve_figure(TAYLOR, 0.2, 2.0, COST, current_speed=240.0, coolant=True, coating=True),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / "f.png")            # own Agg canvas: no pyplot needed
        assert _is_png(tmp_path / "f.png")
    half_normal = figures[1].axes[0]
    labelled = {t.get_text() for t in half_normal.texts}
    assert labelled == set(eff.loc[eff["significant"], "term"])


def test_taylor_and_cost_curves_mark_the_library_optimum(tmp_path):
    from toollife.doe import cost_optimal_conditions, cost_per_part, taylor_life
    from toollife.doe import plots

    opt = cost_optimal_conditions(TAYLOR, 0.2, 2.0, COST, current_speed=240.0, coolant=True, coating=True)
    fig = plots.cost_curve_figure(TAYLOR, 0.2, 2.0, COST, current_speed=240.0, coolant=True, coating=True)
    ax = fig.axes[0]
    star = ax.collections[0].get_offsets()[0]
    assert star[0] == pytest.approx(opt["V_opt"]) and star[1] == pytest.approx(opt["cost_per_part_optimal"])
    V, y = ax.lines[0].get_data()
    assert y.min() >= opt["cost_per_part_optimal"] - 1e-9          # the marked point is the curve's minimum
    assert y[10] == pytest.approx(cost_per_part(V[10], 0.2, 2.0, TAYLOR, coolant=True, coating=True, **COST))

    fig = plots.taylor_curve_figure(TAYLOR, 0.2, 2.0, cost=COST, coolant=True, coating=True)
    V, T = fig.axes[0].lines[0].get_data()
    assert T == pytest.approx(taylor_life(V, 0.2, 2.0, TAYLOR, coolant=True, coating=True))
    star = fig.axes[0].collections[-1].get_offsets()[0]
    assert star[0] == pytest.approx(opt["V_opt"]) and star[1] == pytest.approx(opt["T_opt"])

    assert _is_png(plots.taylor_curve_plot(TAYLOR, 0.2, 2.0, tmp_path / "taylor.png", cost=COST))
    assert _is_png(plots.cost_curve_plot(TAYLOR, 0.2, 2.0, COST, tmp_path / "cost.png"))
    with pytest.raises(ValueError, match="speed range"):
        plots.taylor_curve_figure(TAYLOR, 0.2, 2.0)
