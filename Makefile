# Every target does its own setup: a fresh clone needs only Python 3.11+, Node and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# jsii warns on every start that Node 20 is past its end of life; the pinned CLI works with it.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(shell node -p "process.versions.node.split('.')[0]" 2>/dev/null)

.PHONY: demo bench bench-scale test lint synth setup lock clean

PIP := $(BIN)/pip --quiet --disable-pip-version-check
# The dev lock, hashed (every package the demo, the tests and the tools need), then the project itself,
# editable and without dependencies, built by the locked hatchling (no unpinned build environment).
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r requirements.txt
	$(PIP) install --no-deps --no-build-isolation --editable .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

## lock: resolve both locks, hashed: pyproject.toml's dependencies and groups into requirements.txt (any
## platform, Python 3.11+), and functions/requirements.in into functions/requirements.lock (Lambda's 3.13, arm64)
lock: setup
	$(BIN)/uv pip compile pyproject.toml --group dev --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements.txt --quiet
	$(BIN)/python -m infra.layer_lock

## synth: synthesize the CloudFormation template with the pinned CDK CLI (offline, no credentials)
synth: setup
	cdk synth --quiet

## demo: archive the embedded demo plan locally, on the real synthesized state machine
demo: synth
	$(BIN)/archiver-local $(ARGS)

## bench: the archiver's streaming copy against upload_fileobj and read-all, over S3's wire protocol and in process (whole-process memory, speed)
bench: setup
	$(BIN)/python -m tests.bench.transfer $(ARGS)

## bench-scale: runs of growing plans on the synthesized definition: time per item, history events, transitions, invocations, cost per 1,000 artifacts
bench-scale: synth
	$(BIN)/python -m tests.bench.scale $(ARGS)

## lint: ruff and mypy
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions infra tests app.py

## test: lint, then the whole suite (unit, infrastructure, workflow)
test: lint synth
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) node_modules cdk.out .build
