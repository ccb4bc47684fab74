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
