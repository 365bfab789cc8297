# Every target creates .venv from pyproject.toml first, so a fresh clone needs only
# python3 (>= 3.10) and make.  CI runs `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   := data/btc-synthetic.csv

.PHONY: install demo test test-fast lint bench data clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[train,dev]'
	@touch $(STAMP)

install: $(STAMP)

## demo: train a GRU and an LSTM on the bundled (synthetic) data, forecast, and compare them
demo: $(STAMP)
	$(BIN)/forecast train $(DATA) --model gru --out models/gru-btc-synthetic --force
	$(BIN)/forecast train $(DATA) --model lstm --out models/lstm-btc-synthetic --force
	$(BIN)/forecast predict models/gru-btc-synthetic --horizon 7 --interval 0.9
	$(BIN)/forecast compare --from models/gru-btc-synthetic models/lstm-btc-synthetic --out reports/demo --force
	@echo
	@echo "Model folders (model.keras, run.json, history.csv, test_predictions.csv, prediction.png):"
	@echo "  models/gru-btc-synthetic/  models/lstm-btc-synthetic/"
	@echo "Comparison: reports/demo/report.md and its plots (overlay.png, overlay_last90.png,"
	@echo "  loss_curves.png, error_distribution.png, rolling_mae.png, calibration.png, bands.png)"

## test: the whole suite, slow and real-data tests included (two workers)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

## test-fast: skip the tests that train networks
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check forecast tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: speed figures against the classic tutorial pipeline → benchmarks/results.json
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## data: regenerate the bundled synthetic dataset (committed; deterministic)
data: $(STAMP)
	$(BIN)/forecast data synth --out $(DATA) --days 2600 --seed 42 --force

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
