# `make test`, `make demo`, `make bench` create .venv on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: test demo bench lint

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	.venv/bin/largemargin demo

bench: $(STAMP)
	$(PY) benchmarks/bench_step.py
	$(PY) benchmarks/bench_training_loop.py

lint: $(STAMP)
	.venv/bin/ruff check .
