#!/usr/bin/env bash
# Before/after in one run: the demo stack as it was at a base commit, then as it is in this
# tree, each started on the demo's ports (Procfile, SANDBOX_TODAY=2026-11-25), loaded with the
# same bench/load.py arguments, and stopped. On a shared machine the two runs see about the same
# neighbours, so their ratio means more than either figure alone.
#
#   bench/ab.sh [load.py arguments...]          e.g. bench/ab.sh --users 20 --seconds 60
#   AB_BASE=<commit> AB_ORDER="tuned base" bench/ab.sh ...
#
# The base tree is `git archive AB_BASE` (default: c18c00f; the commit before issue 23's work,
# 08c1d07, no longer loads today's model nor runs today's sandbox) with this
# tree's sandbox_insurer/ (load-policies, spec addition 5, which the load needs), .venv and model.
# The tuned tree is a copy of this working tree (its tracked and untracked files, changes
# included). Both start with an empty var/: the tracker, sandbox and credential databases of
# this checkout grow with every run (200,000 events, 32,000 policies after a day), and a stack
# on them is not compared with one on empty ones.
# Needs the demo's ports free (stop `make demo` first) and Redis for the tuned stack.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=${AB_BASE:-c18c00f}
ORDER=${AB_ORDER:-base tuned}
WORK=$(mktemp -d /tmp/tuibao-ab.XXXXXX)
for port in 5005 5055 8080 8088 8090; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "bench/ab.sh: port $port is in use (stop make demo first)" >&2; exit 1
  fi
done
mkdir -p "$WORK/base/models" "$WORK/base/var"
git archive "$BASE" | tar -x -C "$WORK/base"
rm -rf "$WORK/base/sandbox_insurer" && cp -r sandbox_insurer "$WORK/base/"
ln -s "$ROOT/.venv" "$WORK/base/.venv"
cp models/tuibao.tar.gz "$WORK/base/models/"
ln -s "$(readlink -f models/current.tar.gz)" "$WORK/base/models/current.tar.gz"
mkdir -p "$WORK/tuned/models" "$WORK/tuned/var"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$WORK/tuned"
ln -s "$ROOT/.venv" "$WORK/tuned/.venv"
ln -s "$(readlink -f models/tuibao.tar.gz)" "$WORK/tuned/models/tuibao.tar.gz"
ln -s "$(readlink -f models/current.tar.gz)" "$WORK/tuned/models/current.tar.gz"

stack_pid=""
stop_stack() {
  if [ -n "$stack_pid" ]; then
    kill -INT "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.5; done
    stack_pid=""
  fi
}
trap stop_stack EXIT

run() {  # run <label> <dir>
  local label=$1 dir=$2 workers
  shift 2
  workers=$(cd "$dir" && grep -q 'SANIC_WORKERS' Procfile && echo "${SANIC_WORKERS:-2}" || echo 1)
  : >"$WORK/$label.log"
  (cd "$dir" && SANDBOX_TODAY=2026-11-25 RASA_TELEMETRY_ENABLED=false \
     exec setsid "$ROOT/.venv/bin/honcho" start -f Procfile >"$WORK/$label.log" 2>&1) &
  stack_pid=$!
  for _ in $(seq 1 600); do
    [ "$(grep -c 'Rasa server is up' "$WORK/$label.log" || true)" -ge "$workers" ] && break
    sleep 1
  done
  curl -fs -o /dev/null http://127.0.0.1:8090/health || sleep 5
  echo "== $label ($dir, $workers Rasa worker(s)); uptime: $(uptime)"
  "$ROOT/.venv/bin/python" "$ROOT/bench/load.py" --label "$label" --json "$WORK/$label.json" "$@"
  echo "uptime after $label: $(uptime)"
  stop_stack
  sleep 3
}

for which in $ORDER; do
  case $which in
    base) run "base ($BASE)" "$WORK/base" "$@" ;;
    tuned) run "tuned ($(git rev-parse --short HEAD)$(git diff --quiet || echo +))" "$WORK/tuned" "$@" ;;
  esac
done
echo "logs and JSON figures: $WORK"
