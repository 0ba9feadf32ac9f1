# rolegate — the two commands: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test-deps fuzz bench bench-scale bench-micro run test test-unit test-build test-sqlite test-mysql test-postgres test-timing test-browser browser-deps lint fmt openapi deny build release deb

## Serve the API on embedded SQLite (data/rolegate.db), port 8080. No set-up needed.
run:
	$(CARGO) run --bin rolegate -- serve

## Unit tests, then the integration suite on SQLite, MariaDB/MySQL and PostgreSQL
## (each suite's wall time printed), then the timing test alone.
## MySQL/PostgreSQL run when ROLEGATE_TEST_MYSQL_URL / ROLEGATE_TEST_POSTGRES_URL are set.
test: test-deps test-unit test-build test-sqlite test-mysql test-postgres test-timing test-browser

## What the integration suite runs besides rolegate, from PyPI into .venv
## (beside schemathesis): a real SMTP server (aiosmtpd), a non-Rust JWT
## verifier (PyJWT with its crypto extra), the Prometheus client's
## exposition parser (prometheus-client) that reads /metrics, and fido2
## (Yubico's CBOR/COSE pieces) under the suite's software authenticator
## (crates/server/tests/soft_authenticator.py).
AIOSMTPD_VERSION := 1.4.6
PYJWT_VERSION := 2.10.1
PROMETHEUS_CLIENT_VERSION := 0.26.0
FIDO2_VERSION := 2.2.1
test-deps:
	@.venv/bin/python -c 'import aiosmtpd, jwt, cryptography' 2>/dev/null || { \
		echo "installing aiosmtpd $(AIOSMTPD_VERSION) and PyJWT $(PYJWT_VERSION) into .venv (test dependencies)"; \
		test -x .venv/bin/python || python3 -m venv .venv; \
		.venv/bin/pip install -q "aiosmtpd==$(AIOSMTPD_VERSION)" "pyjwt[crypto]==$(PYJWT_VERSION)"; }
	@.venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("prometheus-client") != "$(PROMETHEUS_CLIENT_VERSION)")' 2>/dev/null || { \
		echo "installing prometheus-client $(PROMETHEUS_CLIENT_VERSION) into .venv (the metrics parser)"; \
		.venv/bin/pip install -q "prometheus-client==$(PROMETHEUS_CLIENT_VERSION)"; }
	@.venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("fido2") != "$(FIDO2_VERSION)")' 2>/dev/null || { \
		echo "installing fido2 $(FIDO2_VERSION) into .venv (the software authenticator's CBOR/COSE)"; \
		.venv/bin/pip install -q "fido2==$(FIDO2_VERSION)"; }

# Runs a command and prints its wall time: $(call timed,LABEL,COMMAND)
timed = start=$$(date +%s%3N); $(2); status=$$?; ms=$$(( $$(date +%s%3N) - start )); \
	printf '=== %s: %d.%d s wall time ===\n' "$(1)" $$((ms / 1000)) $$((ms % 1000 / 100)); exit $$status

test-unit:
	@echo "=== unit tests, doc tests and examples ==="
	@$(call timed,unit tests,$(CARGO) test --workspace --all-targets --exclude rolegate && $(CARGO) test -p rolegate --lib --bins && $(CARGO) test -p rolegate-guard --all-features --all-targets && $(CARGO) test --workspace --doc && $(CARGO) test -p rolegate-domain -p rolegate-guard --doc --all-features)

# Builds the integration suite once, so the per-backend times below are the suites' own.
test-build:
	$(CARGO) test -p rolegate --test api --no-run

test-sqlite:
	@echo "=== integration suite on SQLite ==="
	@$(call timed,integration suite on SQLite,ROLEGATE_TEST_DB=sqlite $(CARGO) test -p rolegate --test api)

test-mysql:
	@if [ -n "$$ROLEGATE_TEST_MYSQL_URL" ]; then \
		echo "=== integration suite on MySQL/MariaDB ($${ROLEGATE_TEST_MYSQL_URL%%@*}@…) ==="; \
		$(call timed,integration suite on MySQL/MariaDB,ROLEGATE_TEST_DB=mysql $(CARGO) test -p rolegate --test api); \
	else \
		echo "!!! SKIPPED: integration suite on MySQL/MariaDB — set ROLEGATE_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306) !!!"; \
	fi

test-postgres:
	@if [ -n "$$ROLEGATE_TEST_POSTGRES_URL" ]; then \
		echo "=== integration suite on PostgreSQL ($${ROLEGATE_TEST_POSTGRES_URL%%@*}@…) ==="; \
		$(call timed,integration suite on PostgreSQL,ROLEGATE_TEST_DB=postgres $(CARGO) test -p rolegate --test api); \
	else \
		echo "!!! SKIPPED: integration suite on PostgreSQL — set ROLEGATE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) !!!"; \
	fi

## The timing test (unknown user vs wrong password), alone: not beside the parallel suite.
test-timing:
	@echo "=== timing test, alone ==="
	@$(call timed,timing test,ROLEGATE_TEST_DB=sqlite $(CARGO) test -p rolegate --test api -- --ignored --exact signin::unknown_user_costs_the_same_as_a_wrong_password)

## The real-browser test: Debian's Chromium (apt-get install chromium) with
## its virtual authenticator registers a passkey and signs in with it through
## tests/browser/passkey.html, driven by playwright-core (npm ci into
## tests/browser/node_modules, from the committed package-lock.json).
CHROMIUM ?= /usr/bin/chromium
# As pinned in tests/browser/package.json (and its package-lock.json).
PLAYWRIGHT_VERSION := 1.65.1
browser-deps:
	@test -x $(CHROMIUM) || { echo "installing chromium (Debian package) for the browser test"; \
		apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }; }
	@test "$$(node -p 'require("./tests/browser/node_modules/playwright-core/package.json").version' 2>/dev/null)" = "$(PLAYWRIGHT_VERSION)" || { \
		echo "installing playwright-core $(PLAYWRIGHT_VERSION) into tests/browser/node_modules (npm ci)"; \
		cd tests/browser && npm ci --no-audit --no-fund --loglevel=error; }

test-browser: browser-deps
	@echo "=== browser test: passkeys in Chromium ==="
	@$(CARGO) build -q --bin rolegate
	@$(call timed,browser test,CHROMIUM_PATH=$(CHROMIUM) ROLEGATE_BIN=$${CARGO_TARGET_DIR:-target}/debug/rolegate node tests/browser/passkey.mjs)

## schemathesis against the service's own OpenAPI document (installed into .venv from PyPI).
fuzz:
	bash .ci/fuzz

## Load benchmark: release build, rolegate on a fresh database, wrk over loopback (~3 min).
## BENCH_DB=mysql|postgres to run on MariaDB/PostgreSQL. Writes bench-results/latest.md.
bench:
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }; }
	$(CARGO) build --release -p rolegate -p bench-bare
	python3 bench/run.py --db $${BENCH_DB:-sqlite}

## The same scenarios at 1000 users and at BENCH_SCALE_USERS (default 1000000) in one run, side by
## side with the ratio, and the EXPLAIN of the hot admin queries. BENCH_DB=postgres (default)|mysql|sqlite.
## Seeds with `rolegate dev seed`. Writes bench-results/scale.md (~4 min at a million users).
bench-scale:
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }; }
	$(CARGO) build --release --bin rolegate
	python3 bench/scale.py --db $${BENCH_DB:-postgres}

## Criterion micro-benchmarks: token issue/verify per algorithm, claims (de)serialisation.
bench-micro:
	$(CARGO) bench -p rolegate-auth --bench tokens

## fmt check, clippy with warnings as errors, layer rules, committed OpenAPI up to date.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@if [ -x ../shared/tools/check-layers ]; then ../shared/tools/check-layers; else echo "check-layers not found beside the checkout: skipped"; fi
	@$(CARGO) run -q --bin rolegate -- openapi > $${CARGO_TARGET_DIR:-target}/openapi.json
	@diff -u docs/openapi.json $${CARGO_TARGET_DIR:-target}/openapi.json || { echo "docs/openapi.json is stale: run make openapi"; exit 1; }

fmt:
	$(CARGO) fmt --all

## Regenerate the committed OpenAPI document.
openapi:
	$(CARGO) run -q --bin rolegate -- openapi > docs/openapi.json

## Licence and duplicate-crate checks (needs cargo-deny).
deny:
	cargo deny check licenses bans sources

build:
	$(CARGO) build --workspace

## The binary to ship (release profile: thin LTO, no debug info); prints where it is.
RELEASE_BIN = $${CARGO_TARGET_DIR:-target}/release/rolegate
release:
	$(CARGO) build --release --bin rolegate
	@echo "built $(RELEASE_BIN) ($$(du -h $(RELEASE_BIN) | cut -f1)); copy it anywhere, or: make deb"

## The Debian package (cargo-deb, installed from crates.io when missing):
## /usr/bin/rolegate, /etc/rolegate/rolegate.toml, rolegate.service. Builds the release binary.
CARGO_DEB_VERSION := 3.8.0
deb:
	@command -v cargo-deb >/dev/null || $(CARGO) install --locked cargo-deb@$(CARGO_DEB_VERSION)
	$(CARGO) deb -p rolegate
	@ls -l $${CARGO_TARGET_DIR:-target}/debian/rolegate_*.deb
