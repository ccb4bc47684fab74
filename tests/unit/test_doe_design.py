"""Design generation: standard order, generators, resolution, aliases, augmentation."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toollife.doe import (
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

TOOL_FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]


def test_full_factorial_standard_order():
    d = full_factorial(["A", "B", "C"])
    assert list(d.columns) == ["A", "B", "C"]
    assert d["A"].tolist() == [-1, 1] * 4
    assert d["B"].tolist() == [-1, -1, 1, 1] * 2
    assert d["C"].tolist() == [-1] * 4 + [1] * 4


def test_half_fraction_generator_and_resolution():
    d = fractional_factorial(TOOL_FACTORS, ["E=ABCD"])
    assert len(d) == 16 and list(d.columns) == TOOL_FACTORS
    assert (d["coating"] == d[TOOL_FACTORS[:4]].prod(axis=1)).all()
    assert d[TOOL_FACTORS[:4]].equals(full_factorial(TOOL_FACTORS[:4]))
    assert design_resolution(5, ["E=ABCD"]) == 5
    neg = fractional_factorial(TOOL_FACTORS, ["E=-ABCD"])
    assert (neg["coating"] == -d["coating"]).all()


def test_quarter_fraction_defining_relation():
    f = list("ABCDEF")
    assert defining_relation(f, ["E=ABC", "F=BCD"]) == ["A:B:C:E", "A:D:E:F", "B:C:D:F"]
    assert design_resolution(6, ["E=ABC", "F=BCD"]) == 4
    assert design_resolution(3, ["C=AB"]) == 3
    assert design_resolution(4, []) > 100


def test_alias_structure_half_fraction():
    al = alias_structure(list("ABCDE"), ["E=ABCD"])
    assert al["A"] == ["B:C:D:E"]
    assert al["A:B"] == ["C:D:E"]
    assert len(al) == 15 and list(al)[:5] == list("ABCDE")
    names = alias_structure(TOOL_FACTORS, ["E=-ABCD"])
    assert names["cutting_speed"] == ["-feed:depth_of_cut:coolant:coating"]


@pytest.mark.parametrize(
    "factors, gens",
    [
        (list("ABCD"), ["D=ABC", "D=AB"]),   # two generators for one factor
        (list("ABCD"), ["A=BCD"]),           # generated factor must be the last one
        (list("ABCDE"), ["E=AE"]),           # uses a generated factor on the right
        (list("ABCDE"), ["E=A"]),            # would alias two main effects
        (list("ABCDE"), ["nonsense"]),
    ],
)
def test_bad_generators(factors, gens):
    with pytest.raises(ValueError):
        fractional_factorial(factors, gens)


def test_replicates_center_points_randomize():
    d = add_replicates(full_factorial(["A", "B"]), 3)
    assert len(d) == 12 and d["replicate"].tolist() == [1] * 4 + [2] * 4 + [3] * 4
    c = add_center_points(d, 2)
    assert len(c) == 14 and (c[["A", "B"]].iloc[-2:] == 0).all().all()
    r1, r2 = randomize(c, seed=7), randomize(c, seed=7)
    pd.testing.assert_frame_equal(r1, r2)
    assert sorted(r1["std_order"]) == list(range(1, 15))
    assert r1["run_order"].tolist() == list(range(1, 15))
    perm = np.random.default_rng(7).permutation(14)
    assert (r1["std_order"].to_numpy() == perm + 1).all()
    back = r1.sort_values("std_order").reset_index(drop=True)
    pd.testing.assert_frame_equal(back[["A", "B"]], c[["A", "B"]])
    with pytest.raises(ValueError):
        add_replicates(d, 0)


def test_to_natural_numeric_and_categorical():
    d = add_center_points(full_factorial(["cutting_speed", "feed"]), 1)
    nat = to_natural(d, {"cutting_speed": (150, 350), "feed": (0.1, 0.3)})
    assert nat["cutting_speed"].tolist() == [150, 350, 150, 350, 250]
    assert nat["feed"].tolist()[:4] == [0.1, 0.1, 0.3, 0.3]        # exact, no float drift
    assert nat["feed"].iloc[4] == pytest.approx(0.2)
    d2 = full_factorial(["cutting_speed", "coating"])
    nat2 = to_natural(d2, {"coating": ("uncoated", "TiAlN")})
    assert nat2["coating"].tolist() == ["uncoated", "uncoated", "TiAlN", "TiAlN"]
    assert nat2["cutting_speed"].tolist() == d2["cutting_speed"].tolist()
    with pytest.raises(ValueError, match="centre"):
        to_natural(add_center_points(d2, 1), {"coating": ("uncoated", "TiAlN")})


def test_package_never_imports_pyspark():
    libs = Path(__file__).resolve().parents[2] / "libs"
    code = (
        "import sys; import toollife.doe, toollife.doe.plots, toollife.doe.vectorized; "
        "assert 'pyspark' not in sys.modules, 'pyspark imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(libs), "PATH": ""},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
