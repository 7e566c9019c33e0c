#!/usr/bin/env bash
# Screenshot of the MLflow UI comparing the IMDB runs, taken by headless Chromium against a
# real `mlflow ui` on 127.0.0.1 serving the pipeline's store.
# Usage: scripts/ui_screenshot.sh [store-dir (default: repo root)] [output.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=$(cd "${1:-$root}" && pwd)
out=${2:-$root/docs/mlflow-compare-imdb.png}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/mlflow" ui --backend-store-uri "sqlite:///$store/mlflow.db" \
  --default-artifact-root "$store/mlartifacts" --host 127.0.0.1 --port "$port" >/tmp/mlflow-ui.log 2>&1 &
ui=$!
trap 'kill $ui' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done
query=$("$root/.venv/bin/python" - "$store" <<'PY'
import json, sys, urllib.parse
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
exp = mlflow.get_experiment_by_name("imdb-sentiment")
runs = mlflow.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
runs = runs.drop_duplicates("tags.mlflow.runName")
print(urllib.parse.urlencode({"runs": json.dumps(list(runs["run_id"])),
                              "experiments": json.dumps([exp.experiment_id])}))
PY
)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --window-size=1600,1300 --virtual-time-budget=20000 \
  --screenshot="$out" "http://127.0.0.1:$port/#/compare-runs?$query" 2>/dev/null
echo "wrote $out"
