# The two commands of the README: `make demo` and `make test`.
# Both create .venv and install everything on first use (again when requirements change).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
DEMO_CUSTOMERS ?= 2000
DEMO_ADDR ?= 127.0.0.1:8000

.PHONY: install browser demo test faults lint worker benchmarks churn-benchmarks load load-soak \
	uplift-coverage clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel
	# The CPU build of torch, first: a bare `torch` from another package would pull CUDA.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/mypy
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

# The browser tests drive Debian's Chromium, never a browser build Playwright downloads.
# Installed here when missing and we are root (as CI is); anyone else is told how.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "The browser tests need Debian's Chromium: sudo apt-get install chromium" >&2; \
		exit 1; \
	fi

test: lint browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Fault tests (tests/faults): real workers killed, a Redis of their own stopped and started,
# messages delivered twice; on PostgreSQL (DATABASE_URL, default a local crm_faults).
# FAULTS_RESTART_POSTGRES=1 also restarts the machine's PostgreSQL mid-work (CI does).
FAULTS_REDIS_PORT ?= 6390
faults: install
	@redis-server --port $(FAULTS_REDIS_PORT) --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize yes >/dev/null
	@trap 'redis-cli -p $(FAULTS_REDIS_PORT) shutdown nosave >/dev/null 2>&1 || true' EXIT; \
	FAULTS_REDIS_PORT=$(FAULTS_REDIS_PORT) REDIS_URL=redis://127.0.0.1:$(FAULTS_REDIS_PORT)/0 \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crm_faults} \
	$(VENV)/bin/pytest tests/faults $(PYTEST_ARGS)

# Runs the product with demo data: web server + a real Celery worker (with beat).
# Ctrl-C stops everything it started.
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_setup --customers $(DEMO_CUSTOMERS) --addr $(DEMO_ADDR)
	@trap 'kill 0' INT TERM; \
	$(VENV)/bin/celery -A config worker --beat --concurrency 2 --loglevel INFO & \
	$(PY) manage.py runserver --noreload $(DEMO_ADDR) & \
	wait

worker: install
	$(VENV)/bin/celery -A config worker --beat --loglevel INFO

benchmarks: install
	$(PY) benchmarks/demo_generation.py --customers 100000
	$(PY) benchmarks/import_orders.py --rows 1000000

# PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres): each
# script creates and drops a scratch database of its own.
churn-benchmarks: install
	$(PY) benchmarks/churn_speed.py --customers 100000
	$(PY) benchmarks/churn_cdnow.py

# Load (issue 7): reviews and events through the API into 2 gunicorn web and 2 Celery worker
# processes on PostgreSQL and Redis (DATABASE_URL / REDIS_URL, default the local servers; a
# scratch database and Redis database 13 of the run's own). `load` steps the rate up to the
# highest sustained one; `load-soak` runs LOAD_SOAK_MINUTES at LOAD_SOAK_RATE (half that).
LOAD_CUSTOMERS ?= 10000
LOAD_SOAK_RATE ?= 4
LOAD_SOAK_MINUTES ?= 30
load: install
	$(PY) benchmarks/load.py --customers $(LOAD_CUSTOMERS) --rates 4,8,12,16,20,24,32

load-soak: install
	$(PY) benchmarks/load.py --customers $(LOAD_CUSTOMERS) --soak-minutes $(LOAD_SOAK_MINUTES) \
		--rate $(LOAD_SOAK_RATE)

# How often the uplift report's 95% intervals cover the demo world's true effects.
uplift-coverage: install
	$(PY) benchmarks/uplift_coverage.py --seeds 1 2 3 4

clean:
	rm -rf var staticfiles
