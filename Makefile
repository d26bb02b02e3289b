# Two commands do everything: `make demo` and `make test`. Both create .venv from uv.lock first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin

export IMGPIPE_HOME ?= $(CURDIR)/.data
export DAGSTER_HOME ?= $(IMGPIPE_HOME)/dagster
export AIRFLOW_HOME ?= $(IMGPIPE_HOME)/airflow
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup demo test lint dev bench clean airflow

help:
	@echo "make demo   set up, then run the whole pipeline for the local source and today's partition"
	@echo "make test   set up, then run ruff and the whole test suite"
	@echo "make dev    Dagster UI on http://127.0.0.1:3000 (same instance as the demo)"
	@echo "make airflow  Airflow 3 standalone on http://127.0.0.1:8080 with the exported DAGs"
	@echo "make bench  benchmarks (codec speed and size against JPEG/WebP)"

setup:
	@scripts/bootstrap.sh

demo: setup
	@mkdir -p "$(DAGSTER_HOME)"
	$(VENV)/imgpipe demo

test: setup
	$(VENV)/ruff check image_assets airflow_bridge tests benchmarks
	@$(VENV)/pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/ruff check image_assets airflow_bridge tests benchmarks

dev: setup
	@mkdir -p "$(DAGSTER_HOME)"
	$(VENV)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: setup
	$(VENV)/python benchmarks/codec.py

clean:
	rm -rf .data spark-warehouse mlruns

# Airflow UI on http://127.0.0.1:8080 with the exported DAGs (airflow_bridge/dags); user admin, password in
# $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated. Tasks run in-process against $(DAGSTER_HOME)
# unless IMGPIPE_AIRFLOW_MODE=remote (see README.md, "Airflow").
airflow: setup
	@mkdir -p "$(AIRFLOW_HOME)" "$(DAGSTER_HOME)"
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/airflow_bridge/dags" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=8080 AIRFLOW__API__BASE_URL=http://127.0.0.1:8080 \
	AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=120 AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT=180 \
	SPARK_LOCAL_IP=127.0.0.1 PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/airflow standalone
