# Dockyard: one entry point for setting up, running and testing the cluster.
#
#   make up      install what is missing, then run `dockyard up` in the foreground
#   make test    install what is missing, then lint, type check and run every test
#   make lint    ruff + mypy --strict on hand-written code
#   make protos  regenerate the committed gRPC code from protos/*.proto
#   make bench   run the benchmarks (python -m bench)
#   make down    stop a cluster started by `make up` (or `dockyard up --detach`)
#   make clean   remove caches and benchmark results (distclean also drops .venv)
#
# Assumes a Debian 12 machine and root (no sudo): the real parts (etcd, runc,
# conmon, iptables, netlink, cgroupfs) are driven as root.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp records the pyproject.toml the venv was installed from: editing the
# dependencies reinstalls, anything else is a no-op.
VENV_STAMP := $(VENV)/.dockyard-installed

# Debian packages of the real parts Dockyard drives and its tests use.
DEB_PACKAGES := etcd-server runc conmon iptables busybox-static docker-registry tini

ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help deps sysdeps up down status test lint pytest protos bench clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

deps: sysdeps $(VENV_STAMP)

# Check-based rather than stamp-based: a package removed behind our back is
# noticed. dpkg-query is fast, so this costs little when everything is there.
sysdeps:
	@missing=(); \
	for pkg in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing+=("$$pkg"); \
	done; \
	if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  missing+=(python3 python3-venv); \
	fi; \
	if ! command -v docker-compose >/dev/null 2>&1; then missing+=(docker-compose); fi; \
	want_docker=0; \
	if ! command -v docker >/dev/null 2>&1; then missing+=(docker.io); want_docker=1; fi; \
	if [ $${#missing[@]} -eq 0 ]; then exit 0; fi; \
	echo "installing: $${missing[*]}"; \
	if [ "$$(id -u)" -ne 0 ]; then echo "make deps: run as root to install $${missing[*]}" >&2; exit 1; fi; \
	dockerd_pids() { for c in /proc/[0-9]*/comm; do \
	  [ "$$(cat "$$c" 2>/dev/null)" = dockerd ] && echo "$${c//[^0-9]/}"; done; true; }; \
	dockerd_before=$$(dockerd_pids); \
	policy=/usr/sbin/policy-rc.d; saved=""; \
	if [ -e "$$policy" ]; then saved=$$(mktemp); cp -p "$$policy" "$$saved"; fi; \
	restore() { if [ -n "$$saved" ]; then mv "$$saved" "$$policy"; else rm -f "$$policy"; fi; }; \
	trap restore EXIT; \
	printf '#!/bin/sh\n# Dockyard: no package may start a daemon during install.\nexit 101\n' > "$$policy"; \
	chmod 755 "$$policy"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq --no-install-recommends "$${missing[@]}"; \
	if [ "$$want_docker" -eq 1 ]; then \
	  if [ -d /run/systemd/system ]; then \
	    systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true; \
	  fi; \
	  for svc in docker containerd; do update-rc.d -f "$$svc" remove >/dev/null 2>&1 || true; done; \
	  if [ "$$(dockerd_pids)" != "$$dockerd_before" ]; then \
	    echo "make deps: dockerd was started by the docker.io install; stop it: Dockyard's tests need the docker CLI only" >&2; \
	    exit 1; \
	  fi; \
	fi

$(VENV_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

up: deps
	$(VENV)/bin/dockyard up $(ARGS)

down: $(VENV_STAMP)
	$(VENV)/bin/dockyard down $(ARGS)

status: $(VENV_STAMP)
	$(VENV)/bin/dockyard status $(ARGS)

test: deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory pytest

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy launcher gateway services tests bench scripts

# pytest exits 5 when it collected nothing; any non-zero status fails the target.
pytest: $(VENV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

protos: $(VENV_STAMP)
	$(PY) scripts/genprotos.py

bench: deps
	$(PY) -m bench $(BENCH_ARGS)

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache bench/results build

distclean: clean
	rm -rf $(VENV) dockyard.egg-info
