#!/usr/bin/env bash
# grammarflow's one entry point for set-up: `bash dev.sh example` and `bash dev.sh test`.
# Idempotent: installs the Debian packages it needs (graphviz for `dot`, python3-venv;
# podman, runc and debootstrap for container kinds; chromium and its driver for the
# browser tests), creates .venv, installs the project
# with its test extras, builds the local image container tasks run in (once), then does
# the job.
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

# Container kinds (Kind(image=...)) run through podman. The tests and
# examples/containers.py run theirs in IMAGE, a minimal Debian root with python3 made
# here: no container registry is reachable, only Debian's packages.
IMAGE=localhost/grammarflow/python3:test
# podman's settings for our processes only (CONTAINERS_CONF; the machine's own files are
# left alone), for hosts whose cgroups crun cannot use (v1 controllers on a tmpfs at
# /sys/fs/cgroup) and where a container may not raise rlimits: runc, cgroupfs, no default
# ulimits; and no network (none is reachable).
CONTAINERS_CONF_TEXT='[containers]
default_ulimits = []
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
'

need_containers() {
  local missing=() tool
  for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing Debian packages: ${missing[*]}"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  printf '%s' "$CONTAINERS_CONF_TEXT" > .venv/containers.conf
  export CONTAINERS_CONF=$PWD/.venv/containers.conf
  need_image
}

# IMAGE carries the hash of its recipe (this function) as a label: built once, again only
# when the recipe changes (about a minute: debootstrap fetches ~30 packages).
need_image() {
  local key have root log=.venv/image.log release
  key=$(declare -f need_image | sha256sum | cut -c1-16)
  have=$(podman image inspect --format '{{index .Labels "io.grammarflow.recipe"}}' \
    "$IMAGE" 2>/dev/null || true)
  [ "$have" = "$key" ] && return 0
  release=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  echo "dev.sh: building the image container tasks run in, $IMAGE (debootstrap" \
    "--variant=minbase $release with python3; about a minute; log: $log)"
  root=$(mktemp -d "$PWD/.venv/image-root.XXXXXX")
  if ! {
    as_root debootstrap --variant=minbase --include=python3 "$release" "$root" &&
    as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* &&
    as_root tar -C "$root" -c . | podman import --change "LABEL=io.grammarflow.recipe=$key" \
      --change 'CMD ["python3"]' - "$IMAGE" &&
    podman run --rm --network none "$IMAGE" python3 -c 'import asyncio, json'
  } > "$log" 2>&1; then
    as_root rm -rf "$root"; tail -20 "$log" >&2
    echo "dev.sh: could not build $IMAGE (see $log)" >&2; exit 1
  fi
  as_root rm -rf "$root"
}

# The browser tests (tests/e2e/test_browser.py) drive Debian's headless Chromium through
# its ChromeDriver: nothing is downloaded at test time.
need_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing Debian packages: ${missing[*]} (for the browser tests)"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

main() {
  cd "$(dirname "$0")"
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    example)
      need_debian; need_venv; need_containers
      if [ $# -eq 0 ]; then set -- run examples/random_map.py; fi
      local code=0
      .venv/bin/grammarflow "$@" || code=$?
      echo "dev.sh: to watch and steer runs in the browser: .venv/bin/grammarflow serve" \
        "(then open the address it prints)" >&2
      exit "$code"
      ;;
    test)
      need_debian; need_venv; need_containers; need_browser
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
