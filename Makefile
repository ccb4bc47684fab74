# Tool-life DOE platform. `make setup` once (idempotent), then `make demo` / `make test`.
# Needs only python3 (3.11), java 17 and mvn on PATH; everything else is installed here.
SHELL        := /bin/bash
PYTHON       ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
AIRFLOW_VENV := .venv-airflow
JARS         := var/jars
MVN          := mvn -B -q -s conf/maven/settings.xml
COPY_DEPS    := org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies
PYTEST_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help setup jars lock demo test test-unit bench package kafka-up kafka-down sql \
        mlflow-ui airflow-setup airflow airflow-standalone clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup: $(VENV)/.installed $(JARS)/.resolved $(JARS)/driver-classes.jsa  ## Python venv (.venv) from the lock + JVM jars from Maven Central

$(VENV)/.installed: requirements/jobs.lock setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements/jobs.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Delta + Kafka connector for Spark, and a Kafka broker, each in a classpath dir of its own.
$(JARS)/.resolved: conf/maven/spark-jars.pom.xml conf/maven/kafka-broker.pom.xml conf/maven/s3proxy.pom.xml conf/maven/settings.xml \
                   conf/maven/resolve-jars.sh $(VENV)/.installed
	conf/maven/resolve-jars.sh $(PY) $(JARS)
	touch $@

# The driver JVM's class-data-sharing archive (toollife.runtime.class_archive): rebuilt with the jars or the venv.
$(JARS)/driver-classes.jsa: $(JARS)/.resolved $(VENV)/.installed libs/toollife/runtime/class_archive.py
	$(PY) -m toollife.runtime.class_archive

jars: $(JARS)/.resolved  ## only the JVM jars

lock:  ## re-resolve requirements/jobs.in into requirements/jobs.lock (then commit it)
	rm -rf var/lock-venv && $(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/pip install -q --upgrade pip && var/lock-venv/bin/pip install -q -r requirements/jobs.in
	var/lock-venv/bin/pip freeze --exclude-editable | sort > requirements/jobs.lock

STORE ?= local
demo: setup  ## broker up -> the whole flow end to end -> summary -> broker down (STORE=s3: the lakehouse in a local S3 bucket)
	$(PY) -m toollife.demo --store $(STORE)

test: setup airflow-setup  ## the whole suite: unit, integration (real Kafka, Delta, spark-submit, Airflow), e2e
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup  ## only the fast pure-function tests
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: setup  ## reproducible throughput measurements (ratios against a baseline), see benchmarks/
	$(PY) -m benchmarks.run

package: setup  ## dist/: the wheel, plus a zip of the library for spark-submit --py-files
	rm -rf dist build var/package && $(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .
	$(PY) -m pip install -q --no-deps --no-compile --target var/package dist/toollife-*.whl
	$(PY) -c 'import shutil; shutil.make_archive("dist/toollife", "zip", "var/package", "toollife")'
	@ls -1 dist

kafka-up: setup  ## start the local KRaft broker (127.0.0.1:9092) in the background
	$(PY) -m toollife.cli kafka up

kafka-down:  ## stop it
	$(PY) -m toollife.cli kafka down

sql: setup  ## Spark SQL over the lakehouse tables: make sql Q="select * from gold.doe_effects" (no Q: a prompt)
	@$(PY) -m toollife.cli sql $(if $(Q),"$(Q)",)

.PHONY: dashboard
DASHBOARD_PORT ?= 8501
dashboard: setup  ## the Streamlit dashboard on 127.0.0.1:8501 (DASHBOARD_PORT=...), over the Delta tables, no Spark
	@$(PY) -m toollife.cli dashboard --host 127.0.0.1 --port $(DASHBOARD_PORT)

.PHONY: thrift
THRIFT_PORT ?= 10000
thrift: setup  ## the Spark Thrift Server: JDBC for BI tools at jdbc:hive2://127.0.0.1:10000/default (THRIFT_PORT=...)
	@$(PY) -m toollife.cli thrift --port $(THRIFT_PORT)

mlflow-ui: setup  ## MLflow UI (mlflow server) on 127.0.0.1:5000 over conf's tracking store (default var/mlflow)
	$(PY) -m toollife.cli mlflow ui

airflow-setup: $(AIRFLOW_VENV)/.installed  ## Airflow in its own venv (.venv-airflow), see requirements/airflow.in

$(AIRFLOW_VENV)/.installed: requirements/airflow.lock
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install -q -r requirements/airflow.lock
	touch $@

AIRFLOW_PORT ?= 8080
airflow: setup airflow-setup  ## Airflow standalone on 127.0.0.1:8080 (AIRFLOW_PORT=...): the toollife DAGs, spark_default=local[2]
	@echo "==> Airflow UI: http://127.0.0.1:$(AIRFLOW_PORT)  user: admin  password: the 'admin' entry of"
	@echo "    $(CURDIR)/var/airflow/simple_auth_manager_passwords.json.generated (written at the first start; also printed below)"
	AIRFLOW_HOME=$(CURDIR)/var/airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin \
	AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}' \
	TOOLLIFE_HOME=$(CURDIR) TOOLLIFE_CONF_DIR=$(CURDIR)/conf \
	$(AIRFLOW_VENV)/bin/airflow standalone

airflow-standalone: airflow  ## the same as `make airflow`

clean:  ## remove generated state (tables, checkpoints, broker data, build output); keeps .venv and jars
	-$(PY) -m toollife.cli kafka down 2>/dev/null
	rm -rf var/lakehouse var/checkpoints var/kafka var/log var/mlflow var/demo build dist *.egg-info libs/*.egg-info \
	       var/catalog spark-warehouse metastore_db derby.log .pytest_cache
