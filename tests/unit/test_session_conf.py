"""What the session factory configures, checked without starting a JVM."""

import sys

import pytest

from toollife.config import load_config
from toollife.runtime.spark_conf import jar_paths, spark_conf, submit_args


@pytest.fixture
def config(tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_4.2_2.13-4.4.0.jar").write_bytes(b"")
    (jars / "kafka-clients-3.9.2.jar").write_bytes(b"")
    return load_config(environ={}, overrides={"spark": {"jars_dir": str(jars),
                                                        "class_archive_path": str(tmp_path / "not-built.jsa")}})


def test_delta_local_master_and_worker_python(config):
    conf = spark_conf(config)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.pyspark.python"] == sys.executable  # workers must find pandas/pyarrow
    assert conf["spark.sql.shuffle.partitions"] == str(config["spark"]["shuffle_partitions"])
    assert conf["spark.jars"].split(",")[0].endswith("delta-spark_4.2_2.13-4.4.0.jar")
    # generated code over HotSpot's 8,000-byte limit is JIT-compiled, not interpreted
    assert conf["spark.driver.extraJavaOptions"] == "-XX:-DontCompileHugeMethods"
    assert conf["spark.executor.extraJavaOptions"] == "-XX:-DontCompileHugeMethods"


def test_a_built_class_archive_reaches_the_driver_only(config, tmp_path):
    (tmp_path / "not-built.jsa").write_bytes(b"")      # now built
    conf = spark_conf(config)
    driver = conf["spark.driver.extraJavaOptions"].split()
    assert driver[:2] == ["-XX:-DontCompileHugeMethods", f"-XX:SharedArchiveFile={tmp_path / 'not-built.jsa'}"]
    assert "-Xlog:cds=off" in driver          # a JVM it does not match starts without it, silently
    assert conf["spark.executor.extraJavaOptions"] == "-XX:-DontCompileHugeMethods"   # other machines' JVMs
    args = submit_args(config)
    assert f"spark.driver.extraJavaOptions={conf['spark.driver.extraJavaOptions']}" in args


def test_no_java_options_leaves_the_jvm_defaults(tmp_path):
    conf = spark_conf(load_config(environ={}, overrides={"spark": {"jars_dir": None, "java_options": None,
                                                                   "class_archive_path": None}}))
    assert "spark.driver.extraJavaOptions" not in conf and "spark.executor.extraJavaOptions" not in conf


def test_cluster_leaves_master_to_spark_submit_and_uses_packages(tmp_path):
    config = load_config(environ={}, overrides={"spark": {"master": None, "jars_dir": None,
                                                          "packages": ["io.delta:delta-spark_4.2_2.13:4.4.0"]}})
    conf = spark_conf(config)
    assert "spark.master" not in conf and "spark.jars" not in conf
    assert conf["spark.jars.packages"] == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert "--packages" in submit_args(config)


def test_submit_args_put_jars_on_the_command_line(config):
    args = submit_args(config, master="spark://127.0.0.1:7077")
    assert args[:2] == ["--master", "spark://127.0.0.1:7077"]
    assert args[args.index("--jars") + 1].count(".jar") == 2
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in args
    assert "spark.driver.extraJavaOptions=-XX:-DontCompileHugeMethods" in args   # reaches the driver JVM


def test_missing_jar_cache_points_at_make_setup(tmp_path):
    with pytest.raises(RuntimeError, match="make setup"):
        jar_paths(str(tmp_path / "nothing-here"))


def test_python_driver_pid_finds_the_child_running_the_script_and_nothing_else(tmp_path):
    import subprocess
    import sys
    import time

    from toollife.runtime.submit import python_driver_pid

    script = tmp_path / "fake_job.py"
    script.write_text("import time\ntime.sleep(60)\n")
    # a parent standing in for spark-submit's JVM, whose child runs the job's Python
    parent = subprocess.Popen(["sh", "-c", f"{sys.executable} {script}; :"])
    try:
        deadline = time.monotonic() + 10
        while (child := python_driver_pid(parent.pid, "fake_job.py")) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child is not None and child != parent.pid
        assert python_driver_pid(parent.pid, "other_job.py") is None
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)])
        parent.wait(10)
