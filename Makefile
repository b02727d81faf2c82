# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
export HYMY_ENV ?= development
export HYMY_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test bench lint translations clean

$(BIN)/hymy: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/hymy

run: $(BIN)/hymy
	$(BIN)/hymy db upgrade
	$(BIN)/hymy demo
	@echo
	@echo "Hymy runs on http://$(HOST):$(PORT)"
	@echo "  manager pages: http://$(HOST):$(PORT)/manage/"
	@echo "  sign in as admin@hymy.example, director@hymy.example, manager@hymy.example or staff@hymy.example"
	@echo "  with the password hymy-demo-2026"
	@echo "  kiosk pages:"
	@$(BIN)/hymy units list --json | $(BIN)/python -c "import json,sys; [print('   ', u['name'], '\n      kiosk http://$(HOST):$(PORT)/k/' + u['code'], ' phone http://$(HOST):$(PORT)/q/' + u['code']) for u in json.load(sys.stdin)]"
	@echo
	$(BIN)/hymy serve --host $(HOST) --port $(PORT)

# axe-core (npm, pinned in package-lock.json) runs inside Chromium in the accessibility tests.
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(BIN)/hymy node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(BIN)/hymy
	$(BIN)/python -m tests.bench

lint: $(BIN)/hymy
	$(BIN)/ruff check server tests

# Extract, merge and compile the catalogues; lists every fi/sv message still to translate.
translations: $(BIN)/hymy
	$(BIN)/python tools/translations.py

clean:
	rm -rf $(VENV) build *.egg-info
