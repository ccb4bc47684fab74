"""Tool life from wear at a criterion: hand-checked numbers."""

import math

import pytest

from toollife.imports.life import life_from_wear


def test_first_crossing_is_interpolated_between_the_bracketing_readings():
    # 0.2 mm at 10 min, 0.4 mm at 20 min: 0.3 mm is reached half-way, at 15 min
    life = life_from_wear([0, 10, 20, 30], [0.0, 0.2, 0.4, 0.6], 0.3)
    assert life.status == "completed" and life.tool_life == pytest.approx(15.0) and life.censored_life is None
    assert life.final_wear == 0.6 and life.n_readings == 4


def test_a_reading_exactly_at_the_criterion_is_the_life():
    assert life_from_wear([0, 4, 8], [0.1, 0.3, 0.5], 0.3).tool_life == 4.0


def test_only_the_first_crossing_counts_when_wear_dips_back():
    # crosses 0.3 between 2 (0.25) and 3 (0.35): 2.5; the dip to 0.28 afterwards does not matter
    assert life_from_wear([1, 2, 3, 4, 5], [0.1, 0.25, 0.35, 0.28, 0.5], 0.3).tool_life == pytest.approx(2.5)


def test_never_reaching_the_criterion_is_censored_at_the_last_reading():
    life = life_from_wear([0, 5, 9], [0.05, 0.1, 0.2], 0.3)
    assert life.status == "censored" and life.tool_life is None and life.censored_life == 9.0


def test_blank_wear_is_skipped_not_an_error():
    # the blank at 10 is not measured: the bracket is (5, 0.2) .. (15, 0.4) -> 10
    life = life_from_wear([0, 5, 10, 15], [0.0, 0.2, math.nan, 0.4], 0.3)
    assert life.tool_life == pytest.approx(10.0) and life.n_readings == 3


@pytest.mark.parametrize("times, wear", [([0], [0.0]), ([3, 3], [0.1, 0.2]), ([0, 5], [0.1, math.nan]), ([], [])])
def test_no_reading_beyond_the_start_has_no_life(times, wear):
    life = life_from_wear(times, wear, 0.3)
    assert life.status == "no_life" and life.tool_life is None and life.censored_life is None


def test_a_first_reading_already_above_the_criterion_is_the_life():
    assert life_from_wear([2, 4], [0.5, 0.6], 0.3).tool_life == 2.0
