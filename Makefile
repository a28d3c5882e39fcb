# Two commands do all the setup on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck lab serve clean notebooks labextension

# The prebuilt JupyterLab extension that highlights %%dalle cells (committed; `make labextension` rebuilds it).
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/dalle-nb-highlight

$(STAMP): pyproject.toml
	@echo "Installing dalle_nb and what it needs into $(VENV) (a minute or two, once) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lab]'
	@# a wheel installs the extension (data-files); setuptools' editable installs skip data-files, so link it
	rm -rf $(LABEXT_LINK) && mkdir -p $(dir $(LABEXT_LINK)) && ln -s $(CURDIR)/dalle_nb/labextension $(LABEXT_LINK)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dalle-nb demo

lint: $(STAMP)
	$(BIN)/ruff check dalle_nb tests $(wildcard bench)
	$(BIN)/ruff format --check dalle_nb tests $(wildcard bench)
	@# the wings' layering and no import cycle (contracts in pyproject.toml, [tool.importlinter])
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	OPENAI_API_KEY= DALLE_NB_GALLERY_DIR=$$(mktemp -d) DALLE_NB_OFFLINE=1 $(BIN)/python -m pytest -q tests notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg

notebooks: $(STAMP)
	$(BIN)/dalle-nb run-notebooks notebooks/*.ipynb

# dalle_nb.nodelay: widget replies (the mask editor's strokes) leave at once; see dalle_nb/nodelay.py
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ --ServerApp.jpserver_extensions="{'dalle_nb.nodelay': True}" \
		$$(test "$$(id -u)" = 0 && echo --allow-root)

serve: $(STAMP)
	$(BIN)/dalle-nb serve

# Dev only (needs node >= 18 and npm): rebuild dalle_nb/labextension/ from labextension/src; commit the result.
labextension: $(STAMP) labextension/node_modules/.package-lock.json
	cd labextension && npm run build:lib
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter labextension build labextension \
		--core-path "$$($(BIN)/python -c 'import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / "staging")')"
	$(BIN)/python labextension/source_hash.py > dalle_nb/labextension/source.sha256

labextension/node_modules/.package-lock.json: labextension/package.json labextension/package-lock.json
	cd labextension && npm ci --no-audit --no-fund

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-output labextension/lib labextension/node_modules
