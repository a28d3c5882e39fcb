# Two commands do all the setup on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck lab serve clean notebooks

$(STAMP): pyproject.toml
	@echo "Installing dalle_nb and what it needs into $(VENV) (a minute or two, once) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lab]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dalle-nb demo

lint: $(STAMP)
	$(BIN)/ruff check dalle_nb tests $(wildcard bench)
	$(BIN)/ruff format --check dalle_nb tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	OPENAI_API_KEY= DALLE_NB_GALLERY_DIR=$$(mktemp -d) DALLE_NB_OFFLINE=1 $(BIN)/python -m pytest -q tests notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg

notebooks: $(STAMP)
	$(BIN)/dalle-nb run-notebooks notebooks/*.ipynb

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$(test "$$(id -u)" = 0 && echo --allow-root)

serve: $(STAMP)
	$(BIN)/dalle-nb serve

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-output
