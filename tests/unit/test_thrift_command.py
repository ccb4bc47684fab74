"""`toollife thrift`'s spark-submit command (pure: no JVM)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toollife.services import thrift
from toollife.config import load_config
from toollife.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def _config(**thrift_conf):
    return load_config("local", overrides={"thrift": thrift_conf} if thrift_conf else None,
                       environ={"TOOLLIFE_CONF_DIR": str(REPO / "conf")})


def test_command_puts_the_delta_jars_on_both_paths_and_the_port_in_hadoop_conf():
    config = _config(port=10123, host="0.0.0.0")
    if not list(Path(config["spark"]["jars_dir"]).glob("*.jar")):
        pytest.skip("no jars: make setup")
    cmd = thrift.build_command(config, ["lakehouse.root=/x"], "local")
    jars = cmd[cmd.index("--jars") + 1].split(",")
    assert cmd[cmd.index("--driver-class-path") + 1].split(os.pathsep) == jars
    assert any("delta-spark" in j for j in jars)
    assert "spark.hadoop.hive.server2.thrift.port=10123" in cmd
    assert "spark.hadoop.hive.server2.thrift.bind.host=0.0.0.0" in cmd
    assert "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog" in cmd
    assert "spark.sql.catalogImplementation=in-memory" in cmd      # no Derby metastore to lock
    assert "--hiveconf" not in cmd
    driver = cmd.index(str(Path(thrift.__file__).resolve()))
    assert cmd[driver + 1:] == ["--env", "local", "--set", "lakehouse.root=/x"]
    assert thrift.jdbc_url("h", 1) == "jdbc:hive2://h:1/default"


def test_a_taken_port_is_a_usage_error_before_any_jvm(capsys):
    import argparse
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        parser = argparse.ArgumentParser()
        thrift.add_arguments(parser)
        args = parser.parse_args(["--port", str(port)])
        args.env = None
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is already in use"):
            thrift.run(args)
