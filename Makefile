# oomguard.fleet -- two commands for everyone:
#   make run    read-only OOM audit of this machine (playbooks/audit.yml against localhost)
#   make test   install what is missing, then every test, stopping at the first failure (summary at the end)
# The other targets are for people working on the code: `make help` lists them.
# Everything built goes under .build/ (ignored by git); helpers live in hack/.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(CURDIR)
BUILD := $(ROOT)/.build
COLLECTIONS := $(BUILD)/collections
COLLECTION := $(COLLECTIONS)/ansible_collections/oomguard/fleet
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)

# Two controller lanes: ansible-core 2.21 on the newest Python >= 3.12 found, ansible-core 2.19 on Python 3.11
# (Debian 12's). Override with `make PYTHON_2_21=/path/to/python3.13 ...`.
PYTHON_2_21 ?= $(shell hack/find-python 3.12 3.13)
PYTHON_2_19 ?= $(shell hack/find-python 3.11 3.11)
VENV_2_21 := $(BUILD)/venv-2.21
VENV_2_19 := $(BUILD)/venv-2.19
# The tools lane (lint, integration, molecule, run): 2.21 when it exists, else 2.19.
TOOLS_LANE := $(if $(PYTHON_2_21),2.21,2.19)
TOOLS_VENV := $(BUILD)/venv-$(TOOLS_LANE)
# The documentation site's own venv (requirements/docs.txt: antsibull-docs with ansible-core 2.21, so the 2.21
# lane's Python).
DOCS_VENV := $(BUILD)/venv-docs

# Podman through the project's own config (runtime, ulimits), never the host's /etc.
export CONTAINERS_CONF := $(ROOT)/hack/podman/containers.conf
# Molecule and ansible keep their state in the build tree, not in ~/.ansible.
MOLECULE_ENV := ANSIBLE_HOME=$(BUILD)/molecule-home NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1
ANSIBLE_ENV := ANSIBLE_HOME=$(BUILD)/ansible-home ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) \
	PATH=$(TOOLS_VENV)/bin:$$PATH

# `guests-core&`: the real-host scenarios of the guest lane start in the background right after setup and run
# alongside the stages after it (the emulated guests use the core that those mostly single-process stages
# leave idle); the pipeline waits for them at the end and reports their own time (docs/testing.md).
# `images&`: the fleet images are built in the background too (mostly downloads and dpkg, on a fresh machine);
# molecule's own `images` prerequisite waits for that build (hack/images/build-all holds a lock) and reuses it.
TEST_STAGES := setup guests-core& images& units-2.19 units-2.21 sanity-2.19 sanity-2.21 lint docs integration \
	molecule fleet-cleanup

.PHONY: help run test setup deps venvs venv-2.19 venv-2.21 link units units-2.19 units-2.21 sanity sanity-2.19 \
	sanity-2.21 lint docs venv-docs integration images molecule guests guests-core fleet-cleanup changelog build lock clean \
	distclean

help: ## this list
	@echo "oomguard.fleet -- make run: audit this machine (read-only); make test: everything (needs root, Debian 12)"
	@grep -hE '^[a-z0-9.-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  make \1\t\2/' | expand -t 22

run: venv-$(TOOLS_LANE) link ## read-only audit of this machine: OOM facts, kill order, protection compliance
	@$(ANSIBLE_ENV) ansible-playbook playbooks/audit.yml -i localhost, -c local \
		-e ansible_python_interpreter=$(TOOLS_VENV)/bin/python

test: ## install what is missing, run every stage, stop at the first failure, print a summary
	@hack/pipeline $(BUILD) $(foreach stage,$(TEST_STAGES),'$(stage)')

setup: deps venvs link ## Debian packages, both venvs, the collection symlink

deps: ## install missing Debian packages (requirements/debian-packages.txt; root)
	@hack/system-deps requirements/debian-packages.txt

venvs: venv-2.19 venv-2.21

venv-2.19:
	@test -n "$(PYTHON_2_19)" || { echo "no Python 3.11 found: it is needed for the ansible-core 2.19 lane" >&2; exit 1; }
	@hack/ensure-venv $(VENV_2_19) $(PYTHON_2_19) requirements/controller-2.19.txt requirements/podman-collection.txt $(BUILD)/cache

venv-2.21:
ifeq ($(PYTHON_2_21),)
	@hack/note "WARNING: no Python >= 3.12 found (tried python3.13, python3.12, pyenv): the ansible-core 2.21 lane does NOT run"
else
	@hack/ensure-venv $(VENV_2_21) $(PYTHON_2_21) requirements/controller-2.21.txt requirements/podman-collection.txt $(BUILD)/cache
endif

# ansible_collections/oomguard/fleet -> this repository (relative link), for imports, ansible and ansible-test.
link:
	@mkdir -p $(dir $(COLLECTION))
	@test "$$(readlink $(COLLECTION) || true)" = "../../../.." || ln -sfn ../../../.. $(COLLECTION)

units: units-2.19 units-2.21 ## unit tests under both ansible-core lanes

units-2.19: venv-2.19 link
	@hack/run-pytest $(VENV_2_19) $(BUILD) tests/unit units-2.19

units-2.21: venv-2.21 link
ifeq ($(PYTHON_2_21),)
	@hack/note "skipped: no Python >= 3.12 (see above)"
else
	@hack/run-pytest $(VENV_2_21) $(BUILD) tests/unit units-2.21
endif

# Also compile/import of the module code with each lane's oldest target Python (2.19: 3.8, 2.21: 3.9), if present.
sanity: sanity-2.19 sanity-2.21 ## ansible-test sanity under both ansible-core lanes (ignore files stay empty)

sanity-2.19: venv-2.19 link
	@OOMGUARD_TARGET_PYTHON=3.8 hack/run-sanity $(VENV_2_19) $(COLLECTION) $(BUILD)

sanity-2.21: venv-2.21 link
ifeq ($(PYTHON_2_21),)
	@hack/note "skipped: no Python >= 3.12 (see above)"
else
	@OOMGUARD_TARGET_PYTHON=3.9 hack/run-sanity $(VENV_2_21) $(COLLECTION) $(BUILD)
endif

lint: venvs link ## ansible-lint (profile production), shellcheck, changelog up to date
	@# ansible-lint installs a copy of this collection into ANSIBLE_HOME once and then keeps using it; drop the
	@# copy so that it always checks the working tree (a module added since would be "unknown" otherwise).
	@rm -rf $(BUILD)/ansible-home/collections/ansible_collections/oomguard
	@$(ANSIBLE_ENV) ansible-lint --offline $(if $(CI),--nocolor)
	@shellcheck --external-sources .ci/run $$(grep -rlE '^#!/usr/bin/env bash' hack)
	@$(ANSIBLE_ENV) hack/check-changelog $(VERSION) $(BUILD)
	@echo "lint: passed"

# antsibull-docs (the Ansible documentation's tool) and Sphinx, in their own venv: lint-collection-docs first,
# then the site with warnings as errors (hack/build-docs). No server but PyPI is reached.
docs: venv-docs link ## lint the collection's documentation and build its HTML site into .build/docs
ifeq ($(PYTHON_2_21),)
	@hack/note "skipped: no Python >= 3.12 for the documentation venv (see above)"
else
	@ANSIBLE_HOME=$(BUILD)/ansible-home hack/build-docs $(DOCS_VENV) $(BUILD) $(COLLECTIONS)
endif

venv-docs:
ifneq ($(PYTHON_2_21),)
	@hack/ensure-venv $(DOCS_VENV) $(PYTHON_2_21) requirements/docs.txt - $(BUILD)/cache
endif

integration: venvs link ## pytest tests/integration: the real kernel, real processes, real ansible runs
	@$(ANSIBLE_ENV) hack/run-pytest $(TOOLS_VENV) $(BUILD) tests/integration integration

images: deps ## build the fleet's Debian 12/13 systemd images (only when their recipe changed)
	@hack/images/build-all $(BUILD)

molecule: venvs images ## every molecule scenario in extensions/molecule on the podman fleet
	@source $(BUILD)/images.env && $(MOLECULE_ENV) hack/run-molecule $(TOOLS_VENV) test --all

# Real hosts: Debian 12 and 13 QEMU guests (software emulation, 1 GiB each, reachable only through one loopback
# SSH forward), built from Debian packages and cached in .build/guests; always stopped at the end.
guests: deps venv-$(TOOLS_LANE) link ## pytest tests/guests on real Debian 12/13 hosts (QEMU guests; one lane per machine)
	@$(ANSIBLE_ENV) hack/guests/run-lane $(TOOLS_VENV) $(BUILD)

# The real-host issue's scenarios (host facts, the role end to end, the global drill) and real container runtimes
# with a Kubernetes node's layout (one audit): the part of the lane that fits into make test's budget; the
# memory-stack and audit-finding guest tests run in `make guests`.
# test_killers_on_guests passed in make test (2026-12-04, d27c7ba) but once waited in vain for systemd-oomd's
# pressure kill on the Debian 13 guest while the other stages loaded the machine: it runs in `make guests`
# until that is understood and fixed (a flaky real-host test is fixed, never retried into green).
GUESTS_CORE := test_guest_host or test_role_on_guests or test_global_drill or test_containers_on_guests
guests-core: deps venv-$(TOOLS_LANE) link ## the guest lane's real-host scenarios only (make test's guest stage)
	@$(ANSIBLE_ENV) hack/guests/run-lane $(TOOLS_VENV) $(BUILD) -k '$(GUESTS_CORE)'

fleet-cleanup: venvs images link ## proves that a failed or interrupted molecule or guest run leaves nothing behind
	@source $(BUILD)/images.env && $(MOLECULE_ENV) hack/test-fleet-cleanup $(TOOLS_VENV) $(BUILD)

changelog: venvs link ## fold changelogs/fragments into the galaxy.yml version's release, regenerate CHANGELOG.md
	@# --update-existing adds new fragments and new plugins to an existing release; its date stays.
	@date=$$(sed -n '/^  $(VERSION):$$/,/^  [^ ]/s/^    release_date: .\([0-9-]*\).*/\1/p' changelogs/changelog.yaml); \
	$(ANSIBLE_ENV) antsibull-changelog release --version $(VERSION) --update-existing --reload-plugins $${date:+--date $$date}
	@$(ANSIBLE_ENV) antsibull-changelog generate

build: venvs ## the collection tarball, in .build/dist
	@$(ANSIBLE_ENV) ansible-galaxy collection build --force --output-path $(BUILD)/dist .

lock: ## re-resolve requirements/controller-*.txt and requirements/docs.txt from the .in files
	@hack/lock-requirements 2.21 $(PYTHON_2_21) $(BUILD)
	@hack/lock-requirements 2.19 $(PYTHON_2_19) $(BUILD)
	@hack/lock-requirements docs $(PYTHON_2_21) $(BUILD)

# Fleet containers are not touched here: another run may own them (hack/run-molecule removes leftovers).
clean: ## remove the build tree (keeps the images)
	@rm -rf $(BUILD) tests/output

distclean: clean ## also remove the fleet images (those no container uses)
	@podman images --format '{{.Repository}}:{{.Tag}}' --filter reference='localhost/oomguard-*' 2>/dev/null \
		| xargs -r podman rmi >/dev/null || echo "distclean: some fleet images are in use and were kept"
