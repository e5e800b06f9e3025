#!/usr/bin/env bash
# Resident memory of one Rasa process (one Sanic worker) with a model loaded, for sizing
# (docs/deploy.md "Sizing"): starts python -m bot.serve on a free port with an in-memory lock
# store and a scratch SQLite tracker store, waits for GET /, parses one message, prints
# `ps -o rss` and the seconds until ready, stops it.
#   bench/rasa_rss.sh [MODEL]        # default models/current.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/current.tar.gz}
[ -f "$model" ] || { echo "no model at $model" >&2; exit 1; }
tmp=$(mktemp -d)
export RASA_TELEMETRY_ENABLED=false TUIBAO_ACTION_SECRET=unused SANIC_WORKERS=1 TUIBAO_METRICS_DIR="$tmp/metrics"
port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
sed "s|var/tracker.db|$tmp/tracker.db|" configs/endpoints.single.yml > "$tmp/endpoints.yml"
.venv/bin/python -m bot.serve run --enable-api --auth-token unused --interface 127.0.0.1 --port "$port" \
  --model "$model" --endpoints "$tmp/endpoints.yml" --credentials credentials.yml > "$tmp/rasa.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
start=$(date +%s)
until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do
  kill -0 $pid 2>/dev/null || { echo "Rasa exited:" >&2; tail -20 "$tmp/rasa.log" >&2; exit 1; }
  [ $(( $(date +%s) - start )) -lt 600 ] || { echo "not ready after 600 s" >&2; exit 1; }
  sleep 1
done
ready=$(( $(date +%s) - start ))
curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/model/parse?token=unused" -d '{"text":"我要退保"}'
sleep 2
# bot.serve is a small supervisor with Rasa as its child (bot/handover.py): Rasa's figure is the
# child's, the supervisor's is printed beside it
rasa_pid=$(cat /proc/$pid/task/$pid/children | awk '{print $1}')
rss=$(ps -o rss= -p "${rasa_pid:-$pid}")
supervisor_rss=$(ps -o rss= -p $pid)
echo "model: $model ($(du -m "$(readlink -f "$model")" | cut -f1) MB archive)"
echo "ready after ${ready} s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Rasa process RSS: $((rss / 1024)) MiB (${rss} kB), one Sanic worker, after one parse"
echo "bot.serve supervisor RSS: $((supervisor_rss / 1024)) MiB (${supervisor_rss} kB)"
