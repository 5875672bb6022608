# hydra — one Makefile, top to bottom: settings, the binary, plugins, tests, install.
#
#   make            build build/hydra and build/plugins/<kind>/<name>.so
#   make test       install missing Debian packages, build, run every test, then again under ASan + UBSan
#   make web        the dashboard (web/, npm ci + Vite) into build/web, which hydra serve serves at /
#   make screenshots the dashboard's pictures in docs/screenshots, taken by the browser test
#   make demo       run the main job on the embedded default
#   make live-demo  the daemon driven by the Ramadan scenario at 600x, the dashboard at http://127.0.0.1:8080/
#   make bench      benchmarks (figures and ratios measured in the same run)
#   make nab-scores NAB scores of every detector over the NAB subset (the README's table)
#   make install    PREFIX=/usr/local DESTDIR=
#   make container-check  build deploy/container/Containerfile for real and run it until healthy (minutes)
#   make clean

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
O         ?= build
SANITIZE  ?=

CC        ?= cc
DEPS_PKGS := lua5.4 libconfig jansson libmicrohttpd libcrypto libcurl
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS    ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARNINGS) -fno-common -Iinclude
LDFLAGS   ?=
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif
# Core code sees core/ and every library the core links; plugins see only include/ and their own libraries.
CORE_CFLAGS := -Icore -Isimulator $(shell pkg-config --cflags $(DEPS_PKGS))
CORE_LIBS   := $(shell pkg-config --libs $(DEPS_PKGS)) -ldl -lm -pthread -litl

PLUGIN_CFLAGS  := -fPIC -fvisibility=hidden
PLUGIN_LDFLAGS := -shared -Wl,-z,defs

# Where the binary looks for plugins when none is configured and none sits beside it.
PLUGIN_INSTALL_DIR := $(PREFIX)/lib/hydra/plugins
override CFLAGS += -DHYDRA_VERSION='"$(VERSION)"' -DHYDRA_PLUGIN_INSTALL_DIR='"$(PLUGIN_INSTALL_DIR)"' \
             -DHYDRA_DATA_DIR='"$(PREFIX)/share/hydra"'

## The binary ---------------------------------------------------------------------------------------------------

CORE_SRCS := $(filter-out core/main.c,$(wildcard core/*.c)) $(wildcard simulator/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(O)/%.o)

all: $(O)/hydra plugins

$(O)/hydra: $(O)/core/main.o $(CORE_OBJS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(CORE_LIBS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -MMD -MP -c -o $@ $<

## Plugins: plugins/<kind>/<name>.c -> $(O)/plugins/<kind>/<name>.so, each linking only its own libraries ----------

PLUGIN_SRCS := $(wildcard plugins/*/*.c)
PLUGIN_SOS  := $(PLUGIN_SRCS:plugins/%.c=$(O)/plugins/%.so)

LIBS_forecaster/seasonal_naive := -lm
LIBS_forecaster/holt_winters   := -lm
LIBS_forecaster/calendar       := -litl -lm
LIBS_forecaster/linear         := -lm
LIBS_forecaster/ensemble       := -lm
LIBS_forecaster/lua            := $(shell pkg-config --libs lua5.4) -lm
LIBS_anomaly/robust_z          := -lm
LIBS_anomaly/ewma              := -lm
LIBS_anomaly/residual          := -lm
LIBS_anomaly/isolation_forest  := -lm
LIBS_anomaly/consensus         := -lm
LIBS_anomaly/lua               := $(shell pkg-config --libs lua5.4) -lm
CFLAGS_forecaster/lua          := $(shell pkg-config --cflags lua5.4)
CFLAGS_anomaly/lua             := $(shell pkg-config --cflags lua5.4)
LIBS_store/sqlite              := $(shell pkg-config --libs sqlite3)
LIBS_store/postgres            := $(shell pkg-config --libs libpq)
CFLAGS_store/postgres          := $(shell pkg-config --cflags libpq)
LIBS_notifier/webhook          := $(shell pkg-config --libs libcurl jansson libcrypto) -pthread
LIBS_notifier/slack            := $(shell pkg-config --libs libcurl jansson) -pthread
LIBS_notifier/email            := $(shell pkg-config --libs libcurl) -lm -pthread
LIBS_source/prometheus         := $(shell pkg-config --libs libcurl jansson) -lm
LIBS_scaler/docker             := $(shell pkg-config --libs libcurl jansson) -pthread
# libyaml reads kubeconfig files (YAML); libcrypto decodes their base64 *-data fields.
LIBS_scaler/kubernetes         := $(shell pkg-config --libs libcurl jansson yaml-0.1 libcrypto) -lm

plugins: $(PLUGIN_SOS)

$(O)/plugins/%.so: plugins/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_$*) $(PLUGIN_CFLAGS) -MMD -MP $(LDFLAGS) $(PLUGIN_LDFLAGS) -o $@ $< $(LIBS_$*)

## The dashboard: web/ built with npm packages into $(O)/web; running it needs no Node.js ----------------------

WEB_SRCS := web/index.html web/vite.config.js web/package.json $(wildcard web/src/*.js web/src/*/*.js web/src/*.css)

web: $(O)/web/index.html

# npm ci installs exactly the locked versions (from the npm registry, or npm's cache) and records it in this file.
web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { echo "make web: npm is missing (Node.js 20 with npm builds the dashboard)"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(O)/web/index.html: web/node_modules/.package-lock.json $(WEB_SRCS)
	cd web && HYDRA_WEB_OUT=$(abspath $(O))/web node_modules/.bin/vite build --logLevel warn

# The README's pictures: the browser test saves them in $(O)/screenshots; this copies them into docs/screenshots.
screenshots: tests-build web
	HYDRA_BUILD_DIR=$(O) $(O)/tests/test_dashboard
	cp $(O)/screenshots/live-overview.png docs/screenshots/overview.png
	cp $(O)/screenshots/live-action-center.png docs/screenshots/action-center.png
	cp $(O)/screenshots/live-overview-phone.png docs/screenshots/overview-phone.png

## Tests: one cmocka binary per core module, fixture plugins, then the whole suite under sanitizers --------------

TEST_SRCS     := $(wildcard tests/test_*.c)
BENCH_BINS := $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/bench_*.c))
TEST_BINS     := $(TEST_SRCS:tests/%.c=$(O)/tests/%)
FIXTURE_SRCS  := $(wildcard tests/fixtures/*.c)
FIXTURE_SOS   := $(FIXTURE_SRCS:tests/fixtures/%.c=$(O)/tests/fixtures/%.so)

# support: plugins, logs, commands; servers: the real servers (hydra serve, PostgreSQL) tests and benchmarks start.
TEST_SUPPORT_OBJS := $(O)/tests/support.o $(O)/tests/servers.o $(O)/tests/peers.o $(O)/tests/dockerd.o

$(O)/tests/test_%: $(O)/tests/test_%.o $(TEST_SUPPORT_OBJS) $(CORE_OBJS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(CORE_LIBS) -lcmocka

# The tests that talk to the fake Kubernetes API server (tests/kube_fake.py) share its harness.
KUBE_TESTS := $(O)/tests/test_scaler_kubernetes $(O)/tests/test_kube_kubectl $(O)/tests/test_kube_daemon \
              $(O)/tests/test_kube_daemon_slow
$(filter $(TEST_BINS),$(KUBE_TESTS)): $(O)/tests/kube_harness.o

$(O)/tests/fixtures/%.so: tests/fixtures/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PLUGIN_CFLAGS) -MMD -MP $(LDFLAGS) -shared -o $@ $<

$(O)/tests/fixtures/not_a_plugin.so: tests/fixtures/not_a_plugin.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC $(LDFLAGS) -shared -o $@ $<

# The benchmarks are built here too, so a change that breaks them fails the tests rather than `make bench` later.
tests-build: all $(TEST_BINS) $(FIXTURE_SOS) $(BENCH_BINS)

# Runs every test binary; prints one closing line "N passed, N failed" over all of them. The browser test runs in
# the plain pass only (see tests/test_dashboard.c), so only that pass builds the dashboard.
check: tests-build $(if $(SANITIZE),,web)
	@tests/run-tests $(O) $(SANITIZE)

# Debian packages the build and the tests need; `make deps` installs the missing ones (as root, or with sudo).
DEBIAN_PACKAGES := gcc make pkg-config liblua5.4-dev libconfig-dev libcmocka-dev libmicrohttpd-dev libjansson-dev \
                   libsqlite3-dev sqlite3 curl libssl-dev libitl-dev itools postgresql libcurl4-openssl-dev libpq-dev zlib1g \
                   gnuplot-nox wrk python3 python3-aiosmtpd prometheus python3-statsmodels \
                   libyaml-dev openssl python3-yaml nodejs chromium docker.io busybox-static iproute2
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The sub-makes read pkg-config again, after deps has installed what it reports on.
test: deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory O=build-asan SANITIZE=1 check

# The Containerfile built for real and run until healthy, on a Debian base made with debootstrap (nothing can be
# pulled here): minutes and Debian's archive, so not part of `make test`, which checks the file without building it.
container-check: web
	@dpkg-query -W -f='$${Status}' debootstrap 2>/dev/null | grep -q 'ok installed' || \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq debootstrap
	$(SUDO) tests/container-build

## Demo and benchmarks ----------------------------------------------------------------------------------------

demo: deps
	$(MAKE) all
	$(O)/hydra simulate scripts/scenarios/ramadan.lua --report $(O)/ramadan-report.png --json $(O)/ramadan.json
	@echo "the report is $(O)/ramadan-report.png; the README says what to look at in it"

# The live demo: the real daemon on the embedded default, driven by a scenario on a fast clock; a person approves in
# the dashboard. A new store each time (the key printed is its only one), and the scenario's reports beside it.
LIVE_SCENARIO  ?= scripts/scenarios/ramadan.lua
LIVE_SPEED     ?= 600
LIVE_START_DAY ?= 9.5
LIVE_LISTEN    ?= 127.0.0.1:8080
LIVE_DIR       := $(O)/live-demo

live-demo: deps
	@$(MAKE) --no-print-directory all
	@if [ -f web/package.json ]; then $(MAKE) --no-print-directory web; fi
	@rm -rf $(LIVE_DIR) && mkdir -p $(LIVE_DIR)/reports
	@echo "simulating the scenario for the reports page..."
	@$(O)/hydra simulate $(LIVE_SCENARIO) --quiet --json $(LIVE_DIR)/reports/scenario.json \
	    2> $(LIVE_DIR)/simulate.log || { cat $(LIVE_DIR)/simulate.log; exit 1; }
	@$(O)/hydra simulate $(LIVE_SCENARIO) --quiet --json $(LIVE_DIR)/reports/policies.json \
	    --compare scripts/policies/default.lua,scripts/policies/always_ask.lua,scripts/policies/auto.lua \
	    > /dev/null 2>> $(LIVE_DIR)/simulate.log || { cat $(LIVE_DIR)/simulate.log; exit 1; }
	@key=$$($(O)/hydra keys create --tenant default --name demo --scopes read,approve --data $(LIVE_DIR)/hydra.db \
	    2>/dev/null) || exit 1; \
	echo; echo "  dashboard: http://$(LIVE_LISTEN)/"; echo "  key:       $$key  (read, approve)"; \
	echo "  Ctrl-C stops the demo"; echo; \
	exec $(O)/hydra serve --scenario $(LIVE_SCENARIO) --speed $(LIVE_SPEED) --start-day $(LIVE_START_DAY) \
	    --listen $(LIVE_LISTEN) --data $(LIVE_DIR)/hydra.db --reports $(LIVE_DIR)/reports

$(O)/tests/bench_%: $(O)/tests/bench_%.o $(TEST_SUPPORT_OBJS) $(CORE_OBJS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(CORE_LIBS) -lcmocka

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@for bench in $(BENCH_BINS); do HYDRA_PLUGIN_DIR=$(O)/plugins $$bench || exit 1; done

# NAB scores of every detector over the NAB subset (the README's table). NAB_DIR: where the data set is.
NAB_DIR ?= ../shared/datasets/nab
nab-scores: all
	@scripts/eval/nab-scores.sh $(NAB_DIR) $(O)

## Install ----------------------------------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PLUGIN_INSTALL_DIR) $(DESTDIR)$(PREFIX)/include/hydra \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/hydra/configs
	install -m 755 $(O)/hydra $(DESTDIR)$(PREFIX)/bin/hydra
	cd $(O)/plugins && for so in */*.so; do \
	    install -D -m 644 $$so $(DESTDIR)$(PLUGIN_INSTALL_DIR)/$$so; done
	install -m 644 include/hydra/plugin.h $(DESTDIR)$(PREFIX)/include/hydra/plugin.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@PLUGINDIR@|$(PLUGIN_INSTALL_DIR)|g' \
	    hydra.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydra.pc
	install -m 644 configs/*.cfg $(DESTDIR)$(PREFIX)/share/hydra/configs/
	cd scripts && find . -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/hydra/scripts/{} \;
	if [ -d $(O)/web ]; then cd $(O)/web && find . -type f -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/hydra/web/{} \;; fi
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed -e 's|@PREFIX@|$(PREFIX)|g' deploy/systemd/hydra.service.in > $(DESTDIR)$(PREFIX)/lib/systemd/system/hydra.service
	install -D -m 644 deploy/container/Containerfile $(DESTDIR)$(PREFIX)/share/hydra/deploy/container/Containerfile

clean:
	rm -rf build build-asan

# Test objects are intermediate files to make; keep them, so a rebuild is quick and the output ends with the tests'.
.SECONDARY:

.PHONY: all plugins web screenshots tests-build check deps test demo live-demo bench nab-scores install clean \
        container-check

-include $(shell find $(O) -name '*.d' 2>/dev/null)
