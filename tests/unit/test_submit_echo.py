"""The line `toollife submit` prints before a run: short, the jars and settings elided (pure)."""

from __future__ import annotations

from toollife.runtime.submit import short_command


def test_the_echo_keeps_the_master_the_job_and_its_arguments_and_elides_the_rest():
    cmd = ["/v/bin/spark-submit", "--master", "local[2]", "--jars", "/j/a.jar,/j/b.jar",
           "--conf", "spark.sql.shuffle.partitions=4", "jobs/ingest_sensors.py", "--trigger", "available_now"]
    assert short_command(cmd, ["--trigger", "available_now"]) == \
        "spark-submit --master 'local[2]' ... jobs/ingest_sensors.py --trigger available_now"


def test_nothing_to_elide_shows_no_ellipsis_and_a_job_argument_equal_to_an_option_stays_put():
    assert short_command(["/v/bin/spark-submit", "jobs/x.py"], []) == "spark-submit jobs/x.py"
    assert short_command(["spark-submit", "--jars", "a.jar", "jobs/x.py", "--master", "m"], ["--master", "m"]) == \
        "spark-submit ... jobs/x.py --master m"
