# gliopet: all set-up happens here, so a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

.PHONY: demo test lint validate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch 2.13.0 comes from the sources pip is configured with: from the default index, Linux gets
# the CUDA build (several GB), macOS and Windows the CPU build. TORCH_INDEX_URL picks the wheel
# index for torch alone, e.g. PyTorch's CPU wheel index (README.md, "Two commands"); it applies
# when .venv is made (make clean first to change it).
TORCH_INDEX_URL ?=
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gliopet demo $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

# Cohort-scale evaluations (not CI): they write their figures to docs/validation.md.
validate: $(STAMP)
	$(BIN)/python scripts/validate.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
