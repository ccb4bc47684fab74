"""`toollife sql`'s pure parts: splitting statements, when the prompt runs one, the plain table."""

from __future__ import annotations

from toollife.runtime.spark_conf import spark_conf
from toollife.config import load_config
from toollife.services.sql_shell import complete, format_csv, format_table, split_statements


def test_statements_split_at_semicolons_outside_quotes_and_comments():
    text = ("select 'a;b' as s, \"c;d\" as `e;f`; -- a comment; with a semicolon\n"
            "select 'it\\'s'; /* block; comment */ show tables in gold;;  ")
    assert split_statements(text) == ["select 'a;b' as s, \"c;d\" as `e;f`", "select 'it\\'s'",
                                      "show tables in gold"]
    assert split_statements("select 1") == ["select 1"]
    assert split_statements(" ; -- only a comment\n") == []


def test_the_prompt_runs_a_statement_once_it_ends_with_a_semicolon():
    assert not complete("select 1")
    assert not complete("select 'a;")            # inside a string
    assert not complete("select 1 -- done;")     # inside a comment
    assert complete("select 1;") and complete("select 1\n  from t;  ")


def test_a_plain_table_right_aligns_numbers_and_shows_null():
    text = format_table(["term", "effect", "n"], [("A", -1.25, 3), ("AB", None, 12)])
    assert text.splitlines() == ["term | effect | n",
                                 "-----+--------+---",
                                 "A    |  -1.25 |  3",
                                 "AB   |   NULL | 12"]
    assert format_table(["x"], []).splitlines() == ["x", "-"]


def test_csv_has_a_header_and_empty_nulls():
    assert format_csv(["a", "b"], [(1, "x,y"), (None, [1, 2])]) == 'a,b\n1,"x,y"\n,"[1, 2]"'


def test_the_catalog_state_of_a_local_driver_is_under_catalog_dir(tmp_path):
    config = load_config(environ={}, overrides={"spark": {"jars_dir": None, "catalog_dir": str(tmp_path / "cat")}})
    assert f"-Dderby.system.home={tmp_path / 'cat'}" in spark_conf(config)["spark.driver.defaultJavaOptions"]
    assert "spark.hadoop.javax.jdo.option.ConnectionURL" not in spark_conf(config)   # in-memory catalog
    hive = load_config(environ={}, overrides={"spark": {"jars_dir": None, "catalog": "hive",
                                                        "catalog_dir": str(tmp_path / "cat")}})
    assert spark_conf(hive)["spark.hadoop.javax.jdo.option.ConnectionURL"] == \
        f"jdbc:derby:;databaseName={tmp_path / 'cat' / 'metastore_db'};create=true"
    cluster = load_config(environ={}, overrides={"spark": {"jars_dir": None, "master": None, "catalog": "hive"}})
    conf = spark_conf(cluster)
    assert "derby" not in conf.get("spark.driver.defaultJavaOptions", "") and \
        "spark.hadoop.javax.jdo.option.ConnectionURL" not in conf      # a cluster's metastore is its own
