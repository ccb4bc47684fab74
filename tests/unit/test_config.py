"""The config loader: defaults <- conf file <- environment, strict about keys and types."""

import pytest

from toollife.config import ConfigError, embedded_defaults, env_overrides, load_config, merge


def test_embedded_defaults_are_enough_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no conf/ dir here: only what ships in the wheel
    config = load_config(environ={})
    assert config["spark"]["master"] == "local[2]"
    assert config["kafka"]["topics"] == {"sensor_readings": "sensor-readings", "tool_events": "tool-events",
                                         "tool_alerts": "tool-alerts"}
    assert config["lakehouse"]["root"] == str(tmp_path / "var" / "lakehouse")


def test_conf_file_then_environment_then_overrides(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "staging.yaml").write_text("spark:\n  shuffle_partitions: 16\nkafka:\n  partitions: 6\n")
    environ = {"TOOLLIFE_CONF_DIR": str(conf), "TOOLLIFE__KAFKA__PARTITIONS": "12",
               "TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS": "k1:9092,k2:9092"}
    config = load_config("staging", environ=environ, overrides={"spark": {"master": "local[1]"}})
    assert config["spark"]["shuffle_partitions"] == 16
    assert config["kafka"]["partitions"] == 12
    assert config["kafka"]["bootstrap_servers"] == "k1:9092,k2:9092"
    assert config["spark"]["master"] == "local[1]"
    assert config["env"] == "staging"
    # relative paths resolve against the project dir (parent of conf/), not the cwd
    assert config["lakehouse"]["root"] == str(tmp_path / "var" / "lakehouse")


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'kafka\.bootstrap_server'"):
        load_config(environ={}, overrides={"kafka": {"bootstrap_server": "x"}})


def test_unknown_key_from_environment_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'spark\.shufle_partitions'"):
        load_config(environ={"TOOLLIFE__SPARK__SHUFLE_PARTITIONS": "4"})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"'spark\.shuffle_partitions' must be of type int"):
        load_config(environ={}, overrides={"spark": {"shuffle_partitions": "many"}})
    with pytest.raises(ConfigError, match=r"'kafka\.topics' must be a mapping"):
        load_config(environ={}, overrides={"kafka": {"topics": "sensor-readings"}})


def test_free_form_section_accepts_any_key(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "local.yaml").write_text("spark:\n  extra_conf:\n    spark.a: 1\n")
    config = load_config(environ={"TOOLLIFE_CONF_DIR": str(conf)},
                         overrides={"spark": {"extra_conf": {"spark.foo.bar": 2}}})
    assert config["spark"]["extra_conf"] == {"spark.a": 1, "spark.foo.bar": 2}


def test_missing_env_file_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no conf file for environment 'prod'"):
        load_config("prod", environ={"TOOLLIFE_CONF_DIR": str(tmp_path)})


def test_env_override_parsing():
    assert env_overrides({"TOOLLIFE__SPARK__EXTRA_CONF__X": "true", "OTHER": "1"}) == {
        "spark": {"extra_conf": {"x": True}}}


def test_merge_does_not_mutate_inputs():
    base = embedded_defaults()
    before = repr(base)
    merge(base, {"spark": {"master": "local[4]"}})
    assert repr(base) == before


def test_repository_conf_files_are_valid(monkeypatch):
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "conf"
    for env in ("local", "cluster"):
        config = load_config(env, environ={"TOOLLIFE_CONF_DIR": str(conf)})
        assert config["env"] == env
    assert load_config("cluster", environ={"TOOLLIFE_CONF_DIR": str(conf)})["lakehouse"]["root"].startswith("s3a://")
