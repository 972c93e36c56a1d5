# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The live playground: the operator on the embedded Kubernetes and GCP emulators with examples/
## applied, until Ctrl-C (it prints the two export lines that point kubectl and gcloud at it).
run: $(STAMP)
	$(BIN)/iap-operator sandbox -f examples/ --live $(ARGS)

## Lint, type-check, layer contracts, then the whole test suite, in TEST_WORKERS processes (most tests wait
## on emulators over HTTP rather than compute, so a 2-core machine runs 3 well); TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3
test: $(STAMP) lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(ARGS)

.PHONY: release-manifest
## Writes the version (pyproject.toml) into the image tags and renders deploy/release/install.yaml.
release-manifest: $(STAMP)
	$(BIN)/python deploy/release/render.py

.PHONY: faults
## The fault suite's long run: more resources, more disturbances, several seeds (IAP_FAULTS_SEEDS=1,2,3).
faults: $(STAMP)
	IAP_FAULTS_LONG=1 $(BIN)/python -m pytest tests/faults $(ARGS)

.PHONY: bench
## The apply-to-Ready benchmark (bench/README.md); writes bench/results.json. ARGS="--runs 3" etc.
bench: $(STAMP)
	$(BIN)/python bench/apply_to_ready.py $(ARGS)

.PHONY: bench-faults
## The fault benchmark (bench/README.md): N=10 mixed resources under 429/503 faults; writes bench/faults.json.
bench-faults: $(STAMP)
	$(BIN)/python bench/faults_to_ready.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
