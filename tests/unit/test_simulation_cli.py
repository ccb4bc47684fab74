"""`toollife simulate`: options, --dry-run JSONL + manifest, producer settings, unreachable broker."""

from __future__ import annotations

import json

import pytest

from toollife.cli import main
from toollife.config import load_config
from toollife.simulation.publisher import PublishError, producer_config, redacted

TINY = ["--machines", "1", "--tools", "1", "--replicates", "1", "--seed", "4", "--sample-interval", "300"]


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--machines", "--tools", "--replicates", "--seed", "--factor", "--generators", "--full-factorial",
                   "--sigma", "--sample-interval", "--start-time", "--drift-rate", "--spike-rate", "--chipping-rate",
                   "--dropout-rate", "--bad", "--bad-rate", "--oversize-bytes", "--rate-limit", "--bootstrap-servers",
                   "--dry-run", "--experiment-id", "--no-progress", "--no-table"):
        assert option in text
    assert "malformed_json" in text and "(default: None)" not in text


def test_dry_run_writes_jsonl_and_manifest(tmp_path, capsys):
    out = tmp_path / "messages.jsonl"
    rc = main(["simulate", *TINY, "--experiment-id", "EXP-42", "--bad", "oversize=1", "--bad", "duplicate=2",
               "--oversize-bytes", "2048", "--dry-run", str(out), "--manifest-dir", str(tmp_path), "--no-table"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == summary["counts"]["messages"]
    assert {line["topic"] for line in lines} == {"sensor-readings", "tool-events"}
    assert sum(line["kind"] == "oversize" for line in lines) == 1
    assert all(json.loads(line["value"])["experiment_id"] == "EXP-42" for line in lines if line["kind"] == "valid")
    manifest = json.loads((tmp_path / f"{summary['simulation_id']}.json").read_text())
    assert manifest["seed"] == 4 and manifest["target"] == "jsonl" and manifest["output_path"] == str(out)
    assert manifest["counts"]["injected"]["duplicate"] == 2
    truth = manifest["truth"]
    assert len(truth["taylor"]) == 1 and len(truth["runs"]) == 16
    assert {"n", "a", "b", "C", "u_machine", "u_tool"} <= set(truth["taylor"][0])
    assert truth["coating_multiplier"] == {"TiN": 1.0, "TiAlN": 1.15}
    assert all(r["true_tool_life_min"] > 0 for r in truth["runs"])
    assert len(manifest["config_hash"]) == 64


def test_invalid_options_exit_2(tmp_path, capsys):
    rc = main(["simulate", *TINY, "--bad", "bogus=1", "--dry-run", str(tmp_path / "x.jsonl"), "--no-table"])
    assert rc == 2
    assert "bogus" in capsys.readouterr().err
    rc = main(["simulate", *TINY, "--factor", "coolant=dry,mist", "--full-factorial",
               "--dry-run", str(tmp_path / "x.jsonl"), "--no-table"])
    assert rc == 2


def test_unreachable_broker_fails_fast_with_a_clear_message(tmp_path, capsys):
    from toollife.services.kafka_local import free_port

    port = free_port()  # nothing listens there
    rc = main(["simulate", *TINY, "--bootstrap-servers", f"127.0.0.1:{port}", "--no-progress", "--no-table",
               "--manifest-dir", str(tmp_path)])
    assert rc == 1          # the reachability check refuses before any message is produced (no timing asserted)
    err = capsys.readouterr().err
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in err
    assert not list(tmp_path.glob("*.json"))  # no manifest for a simulation that was not published


def test_producer_settings_and_secrets():
    config = load_config("local")
    settings = producer_config(config)
    assert settings["acks"] == "all" and settings["compression_type"] == "gzip"
    assert settings["security_protocol"] == "PLAINTEXT" and "sasl_plain_password" not in settings
    config["kafka"]["security"].update(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", ssl_cafile="/etc/ca.pem")
    env = {"TOOLLIFE_KAFKA_USERNAME": "sim", "TOOLLIFE_KAFKA_PASSWORD": "s3cr3t-value"}
    settings = producer_config(config, environ=env)
    assert settings["sasl_plain_username"] == "sim" and settings["sasl_plain_password"] == "s3cr3t-value"
    assert settings["ssl_cafile"] == "/etc/ca.pem"
    assert "s3cr3t-value" not in repr(redacted(settings))
    with pytest.raises(PublishError, match="TOOLLIFE_KAFKA_PASSWORD") as err:
        producer_config(config, environ={"TOOLLIFE_KAFKA_USERNAME": "sim"})
    assert "s3cr3t" not in str(err.value)
    config["simulation"]["publish"]["compression_type"] = "lz4"
    try:
        import lz4  # noqa: F401
    except ImportError:
        with pytest.raises(PublishError, match="gzip"):
            producer_config(config, environ=env)


def test_an_experiment_too_large_to_publish_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "x.jsonl"
    monkeypatch.setenv("TOOLLIFE__SIMULATION__PUBLISH__MAX_READINGS", "1000")
    rc = main(["simulate", *TINY, "--sample-interval", "1", "--dry-run", str(out), "--no-table"])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sensor readings, over simulation.publish.max_readings = 1,000" in err[0], err
    assert "--sample-interval" in err[0]
