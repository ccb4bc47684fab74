"""jobs/run_jobs.py: several jobs in one Spark application, each as its own spark-submit runs it.

In-process, on the test session (the chain asks get_spark for its session, as each job does)."""

from __future__ import annotations

import json
from pathlib import Path

from toollife.errors import EXIT_MISSING_INPUT, EXIT_CONFIG
from toollife import cli
from toollife.runtime.chain import run_jobs

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def test_a_chain_runs_each_job_as_its_own_submit_would_and_stops_at_the_first_failure(spark, lakehouse_config,
                                                                                       capsys):
    root = lakehouse_config["lakehouse"]
    common = ["--set", f"lakehouse.root={root['root']}", "--set", f"lakehouse.checkpoint_root={root['checkpoint_root']}",
              "--set", "spark.shuffle_partitions=2"]

    # every job's options are checked before anything runs: a typo in the last one, nothing written
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "compute_doe_effects --experiment"]) == EXIT_CONFIG
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "no_such_job"]) == EXIT_CONFIG
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "score_tool_life --set spark.master=local[1]"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "no job no_such_job" in err and "init_lakehouse" in err.split("no job no_such_job")[1]
    assert "cannot change the session the jobs share" in err
    assert not Path(root["root"], "meta", "job_runs").exists()

    # init runs; the effects job's preflight stops the chain (no gold.experiment_runs yet) with its exit code
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "compute_doe_effects", "train_tool_life"]) == EXIT_MISSING_INPUT
    captured = capsys.readouterr()
    summaries = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert [(s["job"], s["status"]) for s in summaries] == [("init_lakehouse", "succeeded")]
    assert "compute_doe_effects:" in captured.err and "jobs/aggregate_experiments.py" in captured.err
    runs = spark.read.format("delta").load(str(Path(root["root"], "meta", "job_runs"))).collect()
    assert [(r.job, r.status, r.spark_app_id) for r in runs] == [
        ("init_lakehouse", "succeeded", spark.sparkContext.applicationId)]


def test_a_toollife_simulate_step_runs_between_jobs_and_its_mistakes_stop_the_chain_before_spark(
        spark, lakehouse_config, tmp_path, capsys):
    root = lakehouse_config["lakehouse"]
    common = ["--set", f"lakehouse.root={root['root']}", "--set", f"lakehouse.checkpoint_root={root['checkpoint_root']}"]
    simulate = (f"toollife simulate --machines 1 --tools 1 --replicates 1 --no-table --no-progress "
                f"--manifest-dir {tmp_path} --dry-run {tmp_path / 'messages.jsonl'}")

    # only commands that end by themselves; a wrong option is argparse's exit 2; nothing runs either way
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "toollife dashboard"]) == EXIT_CONFIG
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", "toollife simulate --machines many"]) == 2
    err = capsys.readouterr().err
    assert "only these toollife commands between its jobs: toollife simulate" in err
    assert "--machines: invalid int value: 'many'" in err
    assert not Path(root["root"], "meta", "job_runs").exists() and not (tmp_path / "messages.jsonl").exists()

    # the command runs where it stands in the chain, with a summary line like a job's
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, "init_lakehouse", simulate, "init_lakehouse"]) == 0
    out = capsys.readouterr().out
    summaries = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"job"' in line]
    assert [(s["job"], s["status"]) for s in summaries] == [
        ("init_lakehouse", "succeeded"), ("toollife simulate", "succeeded"), ("init_lakehouse", "succeeded")]
    assert len((tmp_path / "messages.jsonl").read_text().splitlines()) > 16   # 16 runs' readings and events

    # a failing command stops the chain with its exit code, before the jobs after it
    failing = simulate.replace("--machines 1", "--machines 0")
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*common, failing, "init_lakehouse"]) != 0
    out = capsys.readouterr().out
    assert [json.loads(line)["job"] for line in out.splitlines() if line.startswith("{") and '"job"' in line] == [
        "toollife simulate"]
