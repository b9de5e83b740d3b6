# The course's two commands: `make lab` (open the course) and `make test` (run every test).
# Both create .venv when it is missing and (re)install only when pyproject.toml or setup.py changed.
# `make site` builds the course website into build/site/.
PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-stamp
WORKSPACE ?= workspace
EXECUTED  := build/executed
# where root can install chromium with apt-get (CI), the browser tests must run, never skip
CAN_APT   := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo 1)

.PHONY: install lab test site exercises chromium clean

# PyTorch's CPU-only wheels: on Linux a plain `pip install torch` from PyPI is the CUDA build and
# several GB of nvidia-* packages. As an extra index, pip takes 2.13.0+cpu from it where it is
# reachable and keeps an installed CPU torch as it is (`make lab TORCH_INDEX=` uses PyPI alone:
# where PyPI's torch is the CPU build, e.g. macOS, Windows or a mirror that provides it).
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || { echo "== creating the virtual environment $(VENV)/"; $(PYTHON) -m venv $(VENV); }
	@echo "== [1/3] PyTorch, CPU build only ($(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX) or PyPI)): a first install downloads about 200 MB and takes a few minutes"
	$(PY) -m pip install --progress-bar on --no-deps "$(TORCH)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	@echo "== [2/3] the course and its packages (JupyterLab, scikit-learn, Opacus, Jupyter Book, ...)"
	$(PY) -m pip install --progress-bar on "$(TORCH)" -e ".[dev]"  # keeps the torch of step 1; its needs from PyPI
	@echo "== [3/3] the Jupyter kernel (its threads sleep while they wait: OMP_WAIT_POLICY=PASSIVE)"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" \
	  --env OMP_WAIT_POLICY PASSIVE >/dev/null
	@$(PY) -c "import torch; assert not torch.version.cuda, 'a CUDA build of torch was installed'; print('== installed: torch', torch.__version__, '(CPU only)')"
	@touch $(STAMP)

install: $(STAMP)

# the learner's workspace: copies of notebooks/ and exercises/ side by side in $(WORKSPACE)/
# (your runs and edits stay there; the repository's notebooks never get outputs), nbgrader's
# instructor tools hidden; `mia-course lab` adds --allow-root only as root
lab: install
	$(VENV)/bin/mia-course lab $(WORKSPACE)

# Debian's chromium for the browser tests (`playwright install` cannot download browsers here).
# As root with apt-get it is installed when missing, and a failed install fails `make test`;
# elsewhere the browser tests skip with a message saying how to enable them.
chromium:
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then :; \
	elif [ -n "$(CAN_APT)" ]; then \
	  echo "installing chromium (apt-get) for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "could not install chromium with apt-get: the browser tests cannot run"; exit 1; }; \
	else echo "no chromium (installing it needs root and apt-get): the browser tests will be skipped"; fi

# 1. the tests that time nothing, on $(TEST_WORKERS) cores at once (pytest-xdist, a file per worker),
#    the longest first: the exercise and solution notebooks where an instructor runs them, in
#    nbgrader's autograde (tests/test_nbgrader_roundtrip.py: every exercise as released scores zero,
#    every solution full marks, each within the 60 s budget even next to a busy worker)
# 2. what is timed, one at a time on a machine the tests leave idle (marker `timed`): every lesson
#    under nbval (lax mode; its 60 s budget), its run kept in $(EXECUTED)/ (each lesson runs once);
#    the playground's latency
# 3. the website from those runs (no second execution), then 4. its tests, in chromium
TEST_WORKERS ?= 2
test: install chromium
	MIA_REQUIRE_BROWSER=$(CAN_APT) $(PY) -m pytest tests -m "not timed" \
	  -n $(TEST_WORKERS) --dist loadfile --durations=15 --ignore=tests/test_site.py
	MIA_REQUIRE_BROWSER=$(CAN_APT) $(PY) -m pytest tests notebooks -m timed --nbval-lax \
	  --durations=15 --executed-dir=$(EXECUTED) --ignore=tests/test_site.py
	$(PY) docs/site/build.py --executed $(EXECUTED) --out build/site
	MIA_REQUIRE_BROWSER=$(CAN_APT) $(PY) -m pytest tests/test_site.py --durations=5

# the website alone: run every lesson under nbval (its test; the build stops on a failing
# lesson, while a lesson over the 60 s budget is only noted: a slow or busy laptop still gets
# its website, whose first page names the lessons that ran over), then build the pages from
# those runs into build/site/ (open build/site/index.html)
site: install
	$(PY) -m pytest notebooks --nbval-lax -q --executed-dir=$(EXECUTED) --over-budget=note
	$(PY) docs/site/build.py --executed $(EXECUTED) --out build/site

exercises: install
	$(PY) -m mia_course.grading.release

clean:
	rm -rf $(VENV) .pytest_cache build
