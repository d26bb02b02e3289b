# Two commands do everything: `make demo` and `make test`. Both create .venv from uv.lock first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin

export IMGPIPE_HOME ?= $(CURDIR)/.data
export DAGSTER_HOME ?= $(IMGPIPE_HOME)/dagster
export AIRFLOW_HOME ?= $(IMGPIPE_HOME)/airflow
export PYTHONDONTWRITEBYTECODE := 1

# Two pytest workers, one test file each at a time: the integration tier mostly waits on servers and subprocesses.
PYTEST := $(VENV)/pytest -p no:cacheprovider -n 2 --dist loadfile
# pytest exits 5 when it collected nothing: a tier that runs no test is a failure.
define run_pytest
	@$(PYTEST) $(1); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests ($(1)): failing"; exit 1; fi; exit $$rc
endef

.PHONY: help setup warm demo test test-fast test-integration lint dev mlflow bench bench-pipeline clean airflow snapshots fmt fuzz

help:
	@echo "make demo       set up, then run the whole pipeline for the local source and today's partition"
	@echo "make test       set up, lint, then the fast tier and the integration tier (everything)"
	@echo "make test-fast  the fast tier only: no JVM, no servers (the inner loop, ~2 min)"
	@echo "make lint       ruff check, ruff format --check and mypy"
	@echo "make snapshots  rewrite the committed asset-graph snapshots after an intended graph change"
	@echo "make dev    Dagster UI on http://127.0.0.1:3000 (same instance as the demo)"
	@echo "make mlflow MLflow UI on http://127.0.0.1:5000 for the embedded tracking store"
	@echo "make airflow  Airflow 3 standalone on http://127.0.0.1:8080 with the exported DAGs"
	@echo "make bench  benchmarks (codec speed and size against JPEG/WebP)"
	@echo "make bench-pipeline  the whole pipeline against the bare codec (BENCH_ARGS=\"--images 240\")"

setup:
	@scripts/bootstrap.sh

# The codec's numba kernels compiled into their cache (~50 s on a clean clone; nothing when already done).
warm: setup
	@scripts/warm_codec.sh

demo: warm
	@mkdir -p "$(DAGSTER_HOME)"
	$(VENV)/imgpipe demo

# Lint and the kernel compilation side by side: each keeps one core busy for ~50 s on a clean clone.
test: setup
	@$(MAKE) --no-print-directory -j2 lint warm
	$(call run_pytest,-m "not integration")
	$(call run_pytest,-m integration)

test-fast: warm
	$(call run_pytest,-m "not integration")

test-integration: warm
	$(call run_pytest,-m integration)

lint: setup
	$(VENV)/ruff check image_assets airflow_bridge tests benchmarks scripts
	$(VENV)/ruff format --check image_assets airflow_bridge tests benchmarks scripts
	$(VENV)/mypy image_assets airflow_bridge

fmt: setup
	$(VENV)/ruff check --fix image_assets airflow_bridge tests benchmarks scripts
	$(VENV)/ruff format image_assets airflow_bridge tests benchmarks scripts

# A longer run of the .svdz fuzzer than the suite's 2,000 cases; unacceptable inputs land in tests/codec/fuzz_corpus.
fuzz: warm
	$(VENV)/python -m tests.codec.fuzz --cases $${FUZZ_CASES:-20000} --seed $${FUZZ_SEED:-1}

snapshots: setup
	$(VENV)/python -m airflow_bridge.export
	$(VENV)/python -m tests.snapshots

# MLflow UI for the embedded tracking store; `imgpipe catalog list` links each image's run here.
mlflow: setup
	$(VENV)/mlflow ui --backend-store-uri "sqlite:///$(IMGPIPE_HOME)/mlflow.db" --host 127.0.0.1 --port 5000

dev: warm
	@mkdir -p "$(DAGSTER_HOME)"
	@$(VENV)/imgpipe runs --limit 0  # runs of imgpipe processes that died show as failed, not in progress
	$(VENV)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: warm
	$(VENV)/python benchmarks/codec.py
	$(VENV)/python benchmarks/crops.py

# The whole pipeline against the bare codec on the same cores: BENCH_ARGS="--images 240 --rerun --kill-halfway"
bench-pipeline: warm
	$(VENV)/python benchmarks/pipeline.py $(BENCH_ARGS)

clean:
	rm -rf .data spark-warehouse mlruns

# Airflow UI on http://127.0.0.1:8080 with the exported DAGs (airflow_bridge/dags); user admin, password in
# $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated. Tasks run in-process against $(DAGSTER_HOME)
# unless IMGPIPE_AIRFLOW_MODE=remote (see docs/airflow.md).
airflow: warm
	@mkdir -p "$(AIRFLOW_HOME)" "$(DAGSTER_HOME)"
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/airflow_bridge/dags" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=8080 AIRFLOW__API__BASE_URL=http://127.0.0.1:8080 \
	SPARK_LOCAL_IP=127.0.0.1 PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/airflow standalone
