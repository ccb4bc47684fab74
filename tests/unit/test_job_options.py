"""The jobs reading gold.experiment_runs share one --experiment-id option and one missing-input
answer on an empty lakehouse (exit 3, "run ... first"), checked without Spark."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from toollife.config import load_config
from toollife.errors import EXIT_MISSING_INPUT, MissingInputError

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _job(name):
    spec = importlib.util.spec_from_file_location(f"job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["aggregate_experiments", "compute_doe_effects", "plan_next_experiments",
                                  "score_tool_life"])
def test_experiment_id_is_repeatable_and_defaults_to_all(name):
    parser = argparse.ArgumentParser()
    _job(name).add_arguments(parser)
    assert parser.parse_args([]).experiment_id is None
    assert parser.parse_args(["--experiment-id", "A", "--experiment-id", "B"]).experiment_id == ["A", "B"]


def test_plan_next_experiments_on_an_empty_lakehouse_says_which_job_to_run_first(tmp_path):
    config = load_config("local", overrides={"lakehouse": {"root": str(tmp_path / "tables")}})
    with pytest.raises(MissingInputError, match=r"gold\.experiment_runs.*aggregate_experiments.*first") as err:
        _job("plan_next_experiments").preflight(config, argparse.Namespace(experiment_id=None))
    assert err.value.exit_code == EXIT_MISSING_INPUT
