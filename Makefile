# The two commands of the README: `make run` and `make test`.
# Everything they need is installed here, on a fresh Debian with Python 3.11.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)
APT_UPDATED := $(VENV)/.apt-updated

.PHONY: run test lint bench chaos rabbitmq system-packages node-clients wrk clean

run: $(STAMP)
	$(BIN)/lgsp up

test: $(STAMP) system-packages node-clients lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check lgsp contracts adapters tests benchmarks
	$(BIN)/mypy lgsp
	$(BIN)/lint-imports

bench: $(STAMP) rabbitmq wrk
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.exchange_log
	$(BIN)/python -m benchmarks.warehouse
	$(BIN)/python -m benchmarks.opendata
	$(BIN)/python -m benchmarks.network
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.chart

# Faults during steady load (100,000 events a fault; CHAOS_EVENTS to change),
# the table written to benchmarks/results/chaos.json. The suite runs a bounded one.
chaos: $(STAMP) rabbitmq
	$(BIN)/python -m benchmarks.chaos

# Debian's python3 ships venv separately (python3-venv); add it only if needed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(MAKE) --no-print-directory $(APT_UPDATED) && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(APT_UPDATED):
	$(SUDO) apt-get update
	mkdir -p $(dir $@) && touch $@

# RabbitMQ from Debian's packages, when missing. The test harness starts its
# own node on free ports with its own data folder, and stops it afterwards.
rabbitmq:
	@if [ -x /usr/sbin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; then :; else \
	  $(MAKE) --no-print-directory $(APT_UPDATED) && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server; fi

# What the suite runs against for real: RabbitMQ, PostgreSQL (the harness
# runs initdb into a temporary folder), Prometheus (with promtool) and
# Chromium (the dashboard's and portal's browser tests), rsyslog with its TLS
# driver (the collector the security feed is tested against) and Node with
# npm (the AMQP wire's non-Python provider), from Debian; jq, which the open
# data guide's calls (run by the docs test) use.
system-packages:
	@missing=""; \
	  { [ -x /usr/sbin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; } || missing="$$missing rabbitmq-server"; \
	  { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	  { [ -x /usr/sbin/rsyslogd ] || command -v rsyslogd >/dev/null 2>&1; } || missing="$$missing rsyslog"; \
	  ls /usr/lib/*/rsyslog/lmnsd_gtls.so /usr/lib/rsyslog/lmnsd_gtls.so 2>/dev/null | grep -q . || missing="$$missing rsyslog-gnutls"; \
	  command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	  command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	  if [ -n "$$missing" ]; then \
	    $(MAKE) --no-print-directory $(APT_UPDATED) && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi

# The Node clients the interoperability tests run (amqplib), from the npm
# registry at the versions their lock file pins.
NODE_CLIENTS := tests/interop/node
node-clients: system-packages
	@if [ -f $(NODE_CLIENTS)/package-lock.json ]; then \
	  $(MAKE) --no-print-directory $(NODE_CLIENTS)/node_modules/.installed; fi

$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

wrk:
	@command -v wrk >/dev/null 2>&1 || { $(MAKE) --no-print-directory $(APT_UPDATED) && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
