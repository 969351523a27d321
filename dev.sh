#!/usr/bin/env bash
# grammarflow's one entry point for set-up: `bash dev.sh example` and `bash dev.sh test`.
# Idempotent: installs the Debian packages it needs (graphviz for `dot`, python3-venv),
# creates .venv, installs the project with its test extras, then does the job.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Seconds to wait for another package manager (unattended-upgrades, a second apt-get)
# to let go of apt's or dpkg's lock before giving up.
APT_WAIT=${GRAMMARFLOW_APT_WAIT:-900}

# apt-get, waiting while another package manager holds a lock instead of failing:
# DPkg::Lock::Timeout makes `install` wait for dpkg's lock, but `update` fails at once on
# the lists' lock whatever it says, so a lock error is tried again until APT_WAIT is up.
apt_get() {
  local deadline=$((SECONDS + APT_WAIT)) err said=""
  err=$(mktemp)
  until as_root env LC_ALL=C DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout="$APT_WAIT" "$@" 2>"$err"; do
    if ! grep -q "Could not get lock\|Unable to lock\|Unable to acquire" "$err" ||
        [ "$SECONDS" -ge "$deadline" ]; then
      cat "$err" >&2; rm -f "$err"; return 1
    fi
    if [ -z "$said" ]; then
      said=yes
      echo "dev.sh: another package manager holds apt's lock; waiting for it (up to" \
        "${APT_WAIT} s): $(grep -m1 "Could not get lock\|Unable to" "$err")" >&2
    fi
    sleep 2
  done
  cat "$err" >&2; rm -f "$err"
}

need_debian() {
  local missing=()
  command -v dot >/dev/null 2>&1 || missing+=(graphviz)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing Debian packages: ${missing[*]}"
    apt_get update -qq
    apt_get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_venv() {
  # Resolve the real interpreter: a pyenv shim costs ~130 ms per start.
  local py
  py=$(python3 -c 'import sys; print(sys.executable)')
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  local stamp=.venv/.grammarflow-installed want log=.venv/install.log
  want=$(cat pyproject.toml dev.sh | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "dev.sh: installing Python packages into .venv (log: $log)"
    {
      .venv/bin/python -m pip install --upgrade pip &&
      # compat mode: a plain .pth path, not an import hook that every task start pays
      .venv/bin/python -m pip install -e '.[test]' --config-settings editable_mode=compat
    } > "$log" 2>&1 || { tail -40 "$log" >&2; echo "dev.sh: pip failed (see $log)" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
  # Bytecode once, here: every task process imports grammarflow, and where
  # PYTHONDONTWRITEBYTECODE is set nothing would ever cache it (~0.2 s a task).
  .venv/bin/python -m compileall -q grammarflow >/dev/null
}

main() {
  cd "$(dirname "$0")"
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    example)
      need_debian; need_venv
      if [ $# -eq 0 ]; then set -- run examples/random_map.py; fi
      exec .venv/bin/grammarflow "$@"
      ;;
    test)
      need_debian; need_venv
      export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
      .venv/bin/ruff check grammarflow tests examples bench
      .venv/bin/mypy
      # Two workers, one a core (GRAMMARFLOW_TEST_WORKERS=0: one process, e.g. for --pdb).
      exec .venv/bin/python -m pytest -n "${GRAMMARFLOW_TEST_WORKERS:-2}" "$@"
      ;;
    *)
      echo "usage: bash dev.sh example [ARGS]   # install everything, run an example workflow" >&2
      echo "       bash dev.sh test [PYTEST-ARGS] # install everything, run the whole test suite" >&2
      exit 2
      ;;
  esac
}

# Sourced (`source dev.sh`, as tests/e2e/test_setup.py does), it only defines its functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
