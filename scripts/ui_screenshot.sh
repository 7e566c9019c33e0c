#!/usr/bin/env bash
# Screenshot of the MLflow UI's chart view comparing the IMDB runs of the last reproduction
# on test_accuracy, taken by headless Chromium against a real `mlflow ui` on 127.0.0.1
# serving the pipeline's store. The view (runs of one pipeline id, charts matching
# "test_accuracy") is saved in the store as a shared view of the imdb-sentiment experiment
# (the experiment tag mlflow.sharedViewState.readme, as the UI's own "Share" button does).
# Usage: scripts/ui_screenshot.sh [store-dir (default: repo root)] [output.png]
# Needs chromium (apt-get install chromium).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=$(cd "${1:-$root}" && pwd)
out=${2:-$root/docs/mlflow-compare-imdb.png}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/mlflow" ui --backend-store-uri "sqlite:///$store/mlflow.db" \
  --default-artifact-root "$store/mlartifacts" --host 127.0.0.1 --port "$port" >/tmp/mlflow-ui.log 2>&1 &
ui=$!
trap 'kill $ui' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "mlflow ui did not start: /tmp/mlflow-ui.log" >&2; exit 1; }
page=$("$root/.venv/bin/python" - "$store" <<'PY'
import json, sys, urllib.parse
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
exp = mlflow.get_experiment_by_name("imdb-sentiment")
runs = mlflow.search_runs(
    [exp.experiment_id], "metrics.test_accuracy > 0", order_by=["attributes.start_time DESC"]
)
pipeline = runs["tags.rnnlab.pipeline_id"].dropna() if "tags.rnnlab.pipeline_id" in runs else []
where = f"tags.rnnlab.pipeline_id = '{pipeline.iloc[0]}'" if len(pipeline) else ""
view = {
    "searchFilter": " and ".join(filter(None, ["metrics.test_accuracy > 0", where])),
    "orderByKey": "metrics.`test_accuracy`",
    "orderByAsc": False,
    "chartsSearchFilter": "test_accuracy",
    "compareRunsMode": "CHART",
}
mlflow.MlflowClient().set_experiment_tag(
    exp.experiment_id, "mlflow.sharedViewState.readme", json.dumps(view)
)
query = urllib.parse.urlencode({"viewStateShareKey": "readme", "compareRunsMode": "CHART"})
print(f"#/experiments/{exp.experiment_id}/runs?{query}")
PY
)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --window-size=1600,1000 --virtual-time-budget=30000 \
  --screenshot="$out" "http://127.0.0.1:$port/$page" 2>/dev/null
echo "wrote $out"
