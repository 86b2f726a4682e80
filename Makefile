# Two commands for a fresh machine:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test lint bench system-deps clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Graphviz's `dot` draws graph pictures (pydotprint, graph_html); a headless chromium
# lets the tests open graph_html's page in a real browser. Install them where missing.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null || \
	  echo "chromium not installable here: the browser test of graph_html will skip"; }

# The "Advanced Theano" tour (pictures into out/), then the tutorial's logistic regression.
demo: $(VENV)/.installed system-deps
	$(PY) examples/demo.py out
	$(PY) examples/logreg.py

test: $(VENV)/.installed system-deps
	$(PY) -m ruff check theanine tests benchmarks examples
	$(PY) -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS) tests

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
