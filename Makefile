# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast bench lint format servers fuzz

FUZZ_SECONDS ?= 60

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tuidesk

# Servers the tests start on 127.0.0.1 (PostgreSQL, Dovecot IMAP), and tmux for the console's
# end-to-end test; installed from apt when missing. Debian may try to start its own dovecot
# service: ours never meets it (private base_dir, 127.0.0.1, high ports).
servers:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql; \
	fi
	@if ! [ -x /usr/sbin/dovecot ] && ! command -v dovecot >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd; \
	fi
	@if ! command -v tmux >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q tmux; \
	fi

test: $(STAMP) servers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n auto

# The quick loop while working: the engine, and storage through the CLI, on SQLite, with no
# server to start (no PostgreSQL, Dovecot, SMTP or identity provider) and no console.
test-fast: $(STAMP)
	$(BIN)/pytest -q -n auto -m "not servers" -k "not postgresql" --ignore-glob='tests/test_console*'

bench: $(STAMP) servers
	$(BIN)/python -m bench --keep-venv

# A time-boxed campaign of hostile mail against the parser, classifier, quote stripper, the
# whole engine and the ingest path (SQLite in a temporary folder); exit 1 on any finding.
fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz --seconds $(FUZZ_SECONDS)

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
