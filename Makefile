# The course's two commands: `make lab` (open the course) and `make test` (run every test).
# Both create .venv when it is missing and (re)install only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# JupyterLab refuses to run as root without this flag; never pass it otherwise.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install lab test exercises clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch is named explicitly (==2.13.0): the CPU build, never a multi-GB CUDA download
	$(PY) -m pip install --quiet torch==2.13.0 -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) notebooks/00_start_here.ipynb

# unit tests, then every lesson, solution and exercise notebook under nbval (lax mode).
# tests/test_browser.py drives JupyterLab in Debian's chromium (`playwright install` cannot
# download browsers here): as root with apt-get it is installed when missing; an apt failure
# only prints a message, and without chromium that one test skips.
test: install
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
	  || { echo "installing chromium (apt-get) for tests/test_browser.py"; \
	       apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium with apt-get; tests/test_browser.py will be skipped"
	$(PY) -m pytest tests notebooks solutions exercises --nbval-lax --durations=15

exercises: install
	$(PY) -m mia_course.release

clean:
	rm -rf $(VENV) .pytest_cache
