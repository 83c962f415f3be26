# MedWS: `make run` opens the workstation on a sample CT; `make test` runs the whole test suite.
# Both create .venv when missing. torch==2.13.0 is installed first: it is the CPU wheel on the
# machine's local index, while a bare `torch` resolves to a 2.7 GB CUDA build.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medws-installed

# Debian packages for Qt's xcb platform + VTK rendering under Xvfb/Mesa (llvmpipe), and
# dicom3tools (dciodvfy) that validates the DICOM SEG we write, and orthanc + orthanc-dicomweb: the
# real PACS the tests in tests/app/io/pacs start on loopback.
APT_PACKAGES := xvfb xauth libgl1-mesa-dri libegl1 libglx-mesa0 libosmesa6 x11-utils \
	libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-image0 \
	libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 \
	libfontconfig1 dicom3tools orthanc orthanc-dicomweb

.PHONY: run test venv system-deps lint bench bench-viewer clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

# Installs missing Debian packages when run as root; otherwise only reports what is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
		else echo "missing Debian packages (install as root):$$missing"; fi; \
	fi

run: $(STAMP)
	$(BIN)/medws samples fetch
	$(BIN)/medws view --sample lung1

test: $(STAMP) system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" xvfb-run -a -s "-screen 0 1600x1200x24" pytest

lint: $(STAMP)
	$(BIN)/ruff check app analysis render ui tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/load.py

# NAPARI_PYTHON=/path/to/python (an interpreter with napari) adds the alternated napari runs.
bench-viewer: $(STAMP) system-deps
	xvfb-run -a -s "-screen 0 1600x1200x24" $(BIN)/python bench/viewer.py $(if $(NAPARI_PYTHON),--napari $(NAPARI_PYTHON))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
