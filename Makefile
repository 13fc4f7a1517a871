# The two commands: `make demo` and `make test`. Everything else is what they stand on.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Offline-friendly AWS settings for the template checks and moto; no account is used.
AWS_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	SAM_CLI_TELEMETRY=0 SAM_CLI_CONTEXT=

.PHONY: help venv demo test lint typecheck security template build unit pytest bench bench-large clean rds-ca-bundle layer-lock migrate-aws

help:
	@echo "make demo   - run the whole pipeline locally (embedded Postgres + Zoho emulator + real state machine)"
	@echo "make test   - lint, type-check, template checks, sam build and the whole test suite"
	@echo "make bench  - the benchmarks (figures printed, not asserted)"
	@echo "make bench-large - a 10,000- and a 100,000-customer tenant side by side (about 15 minutes)"

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		py=$$(.ci/find-python) || exit 1; \
		echo "creating $(VENV) with $$py"; \
		"$$py" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The steps' structured INFO logs and metric lines would bury the demo's tables.
demo: $(STAMP)
	$(AWS_ENV) POWERTOOLS_LOG_LEVEL=ERROR POWERTOOLS_METRICS_DISABLED=true $(BIN)/zoho-sync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Static security check of what ships: no SQL built by string formatting (B608), no secrets in code.
security: $(STAMP)
	$(BIN)/bandit -q -c pyproject.toml -r layers functions

template: $(STAMP)
	$(AWS_ENV) $(BIN)/cfn-lint --include-checks I -- template.yaml
	$(AWS_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam validate --lint --template-file template.yaml

build: $(STAMP)
	$(AWS_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build --template-file template.yaml

# The layer's exact pins and hashes (layers/common/requirements.txt) from its ranges (requirements.in), resolved for
# the functions' platform: Linux arm64, CPython 3.12. botocore is left out: the Lambda runtime provides it.
# Existing pins are kept; `make layer-lock UPGRADE=--upgrade` moves every pin to the newest allowed,
# `make layer-lock UPGRADE='--upgrade-package requests'` one package.
UPGRADE ?=
layer-lock: $(STAMP)
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile layers/common/requirements.in --output-file layers/common/requirements.txt $(UPGRADE) \
		--generate-hashes --python-version 3.12 --python-platform aarch64-manylinux_2_34 \
		--no-emit-package botocore --custom-compile-command 'make layer-lock'

# Two workers (pytest-xdist), each with its own embedded Postgres: PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(AWS_ENV) $(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck security template build pytest

bench: $(STAMP)
	$(AWS_ENV) $(BIN)/python bench/run_all.py

bench-large: $(STAMP)
	$(AWS_ENV) POWERTOOLS_LOG_LEVEL=WARNING POWERTOOLS_METRICS_DISABLED=true $(BIN)/python bench/large_tenant.py --scale

# AWS's RDS certificate authorities, shipped in the layer so Lambda can verify the database's
# certificate (DB_SSL_ROOT_CERT's default). A deploy step, before `sam build`; git-ignored; tests never need it.
RDS_CA_BUNDLE := layers/common/books_sync/certs/rds-global-bundle.pem
RDS_CA_URL := https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem

rds-ca-bundle:
	@mkdir -p $(dir $(RDS_CA_BUNDLE))
	@tmp=$$(mktemp) && trap 'rm -f "$$tmp"' EXIT && \
	curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 --output "$$tmp" $(RDS_CA_URL) && \
	{ grep -q 'BEGIN CERTIFICATE' "$$tmp" || { echo "$(RDS_CA_URL): not a PEM bundle" >&2; exit 1; }; } && \
	cp "$$tmp" $(RDS_CA_BUNDLE) && chmod 644 $(RDS_CA_BUNDLE) && \
	echo "$(RDS_CA_BUNDLE): $$(grep -c 'BEGIN CERTIFICATE' $(RDS_CA_BUNDLE)) certificates from $(RDS_CA_URL)"

# After `sam deploy`: apply pending migrations with the stack's migrate function (a deploy step, never part of a
# sync). Uses your AWS credentials; a migration longer than 15 minutes runs with `zoho-sync migrate` instead.
migrate-aws: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make migrate-aws STACK=<stack name>" >&2; exit 2; }
	$(BIN)/python -m zoho_sync_cli.migrate_aws --stack-name "$(STACK)"

clean:
	rm -rf .aws-sam .mypy_cache .ruff_cache .pytest_cache
