# `make demo` installs the package alone; `make test`, `make bench` and `make lint` add the dev
# tools. Each creates .venv on first use.
PY := .venv/bin/python
RUN_STAMP := .venv/.installed-run
DEV_STAMP := .venv/.installed-dev

.PHONY: test demo bench bench-loop lint

.venv/bin/python:
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | .venv/bin/python
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | .venv/bin/python
	$(PY) -m pip install -q -e ".[dev]"
	touch $(DEV_STAMP) $(RUN_STAMP)

test: $(DEV_STAMP)
	$(PY) -m pytest -q

demo: $(RUN_STAMP)
	.venv/bin/largemargin demo

# the step-cost tables of docs/benchmarks.md: the MNIST network, then ResNet-20 and ResNet-9
# (about 3 + 4 minutes on 2 CPU cores)
bench: $(DEV_STAMP)
	$(PY) benchmarks/bench_step.py
	$(PY) benchmarks/bench_cifar.py

# the same comparison inside the Lightning training loop (docs/training.md)
bench-loop: $(DEV_STAMP)
	$(PY) benchmarks/bench_training_loop.py

lint: $(DEV_STAMP)
	.venv/bin/ruff check .
