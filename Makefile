# Switchboard: `make run` (fresh machine to a running app) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
MQTT_PORT ?= 1883
MQTT_DIR ?= .mqtt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Prerequisites are made side by side: the Python and the npm installs, then the bundle and the
# node tests (each recipe's own lines still run in order).
MAKEFLAGS += -j3

.PHONY: run serve-demo test test-fast soak test-js bench lint lint-copies-baseline format system-deps clean

# uv installs the pinned requirements in a few seconds where pip takes twenty; it comes from PyPI
# itself, pinned here, into the venv (nothing outside it is touched), by the system's pip when
# there is one (the venv then needs no pip of its own: 3 s saved), else by the venv's. uv reads
# UV_* settings, not pip's: behind a mirror, set UV_INDEX_URL (and UV_CONSTRAINT for a
# constraints file).
UV_VERSION := 0.13.9
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PY) -m uv --version 2>/dev/null | grep -qF $(UV_VERSION) || \
	  $(PYTHON) -m pip --python $(PY) install -q uv==$(UV_VERSION) 2>/dev/null || \
	  { $(PY) -m ensurepip >/dev/null && $(PY) -m pip install -q uv==$(UV_VERSION); }
	$(PY) -m uv pip install -q --compile-bytecode --python $(PY) -r requirements-dev.txt
	touch $@

# Browser libraries (uPlot, Yjs, Leaflet, ...) from the npm registry, exactly as
# package-lock.json says.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The page scripts and their libraries, bundled by esbuild (build.mjs) into static/dist:
# generated, not committed, and rebuilt whenever a module under static/js changes.
static/dist/.built: node_modules/.installed build.mjs $(shell find static/js -name '*.js')
	npm run build --silent
	touch $@

## run: install, migrate, load demo data and serve on http://localhost:$(PORT) (SQLite, in-memory
## layer), with the built-in server sampler and the device simulator running inside the server
run: $(VENV)/.installed static/dist/.built
	@$(MAKE) --no-print-directory serve-demo

## serve-demo: `run` once installed: migrate, seed and serve (tests/integration/test_demo.py runs it)
serve-demo:
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo
	DJANGO_DEBUG=1 $(PY) manage.py seed_dashboards
	@echo ""
	@echo "  Switchboard is starting on http://localhost:$(PORT)"
	@echo "  Log in as alice, bob or carol (admin for /admin/) with password: switchboard-demo"
	@echo ""
	@# With Mosquitto installed, a broker of the demo's own (in MQTT_DIR, on MQTT_PORT) runs beside the
	@# server, in make's process group (Ctrl+C stops both); $(MQTT_DIR)/env points the server at it.
	@rm -f $(MQTT_DIR)/env; if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then \
	  DJANGO_DEBUG=1 $(PY) manage.py mqtt_dev_broker --dir $(MQTT_DIR) --port $(MQTT_PORT) && \
	  { PATH="$$PATH:/usr/sbin" mosquitto -c $(MQTT_DIR)/mosquitto.conf & }; fi
	@# The sampler, the simulator, the MQTT bridge and the alert worker run as tasks of the
	@# server: as processes of their own, their readings could not reach it over the in-memory layer.
	SWITCHBOARD_LOG_FORMAT=console DJANGO_DEBUG=1 SWITCHBOARD_DEMO_SOURCES=1 SWITCHBOARD_ALERT_WORKER_IN_SERVER=1 exec env $$(cat $(MQTT_DIR)/env 2>/dev/null) $(PY) -m realtime.serve -b 127.0.0.1 -p $(PORT) config.asgi:application

## system-deps: Debian packages the tests drive for real (redis-server, PostgreSQL, Chromium, nginx,
## Mosquitto)
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

## test: the whole suite: unit, consumer, multi-process (real Redis, Daphne, PostgreSQL) and browser
# Parallel workers for make test (pytest-xdist; each has its own test database, Redis, Daphnes
# and browser). Modules stay whole on one worker: their fixtures are module- or session-wide.
TEST_WORKERS ?= 3

# The app's bytecode is compiled once first: under PYTHONDONTWRITEBYTECODE, each of the hundred
# server and manage.py processes the suite starts would compile it again (60 ms of CPU each).
test: $(VENV)/.installed system-deps static/dist/.built test-js
	$(PY) -m compileall -q -j0 config chat dashboard games realtime
	SWITCHBOARD_SOAK_SECONDS=$${SWITCHBOARD_SOAK_SECONDS:-60} \
	  $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## test-fast: unit and socket tests alone (no processes, no browser), for the edit loop
# The markers choose the tests; the ignores only spare each worker the import of modules whose
# tests are all left out (the schema fuzz alone takes 3 s to collect).
test-fast: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest -q -n 3 -m "not integration and not browser and not slow" \
	  --ignore=tests/integration --ignore=tests/e2e --ignore=tests/test_api_schema_fuzz.py

## soak: the long soak (SWITCHBOARD_SOAK_SECONDS, 600 by default) and the load tests at full size
soak: $(VENV)/.installed node_modules/.installed system-deps
	SWITCHBOARD_SOAK_SECONDS=$${SWITCHBOARD_SOAK_SECONDS:-600} SWITCHBOARD_TEST_SCALE=full \
	  $(PY) -m pytest -n 2 --dist loadfile -m "soak or scale"

## bench: every benchmark beside its floors (writes bench/results/): fan-out, connect and memory,
## the reconnect storm, games, search over 1,000,000 messages, and ingestion (REST, socket, MQTT)
bench: $(VENV)/.installed static/dist/.built system-deps
	$(PY) -m bench.fanout
	$(PY) -m bench.connect -n 5000
	$(PY) -m bench.storm --docs
	$(PY) -m bench.games
	$(PY) -m bench.search
	$(PY) -m bench.ingest

## test-js: the front end's logic without a browser (seq order, outbox, backoff...): node --test tests/js/
test-js: node_modules/.installed
	node --test tests/js/

## lint: ruff, ESLint, Prettier and the copy ratchet (jscpd: no new copy of 6+ lines in non-test code;
## after removing a known copy, `make lint-copies-baseline` records the smaller set)
lint: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	node_modules/.bin/eslint .
	node_modules/.bin/prettier --check static/js tests/js eslint.config.js build.mjs
	node_modules/.bin/jscpd --config .jscpd.json --baseline .jscpd-baseline.json --fail-on-new-clones --silent

lint-copies-baseline: node_modules/.installed
	node_modules/.bin/jscpd --config .jscpd.json --baseline .jscpd-baseline.json --update-baseline --silent

format: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules db.sqlite3* staticfiles artifacts static/dist
