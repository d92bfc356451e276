#!/usr/bin/env bash
# The local demo: starts the AWS emulator (moto) on 127.0.0.1, creates the ECS
# cluster and services the example expects, then runs driftd against the
# example desired state in desired-state/: a plan, an apply, and the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${DRIFTD_DEMO_PORT:-5055}"
METRICS="${DRIFTD_DEMO_METRICS:-127.0.0.1:9477}"
scripts/install-emulator.sh
cargo build --quiet --bin driftd

.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" >/tmp/driftd-demo-moto.log 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
export APP_SECRETS_JSON='{"SECRET_KEY":"demo"}'
.venv/bin/python scripts/demo-seed.py

driftd=target/debug/driftd
echo; echo "\$ driftd validate"; $driftd validate
echo; echo "\$ driftd plan"; $driftd plan || true
echo; echo "\$ driftd apply"; $driftd apply || true
echo; echo "\$ driftd plan --detailed-exitcode"; $driftd plan --detailed-exitcode && echo "(exit 0: no drift)" || true

cat <<TXT

driftd run is starting against the emulator at $AWS_ENDPOINT_URL.
  metrics:  curl http://$METRICS/metrics
  status:   curl http://$METRICS/status
Inject drift in another terminal and watch it corrected, e.g. with the AWS CLI:
  aws --endpoint-url $AWS_ENDPOINT_URL --region us-east-1 ecs update-service \\
      --cluster tiktimer-dev --service tiktimer-dev-worker --desired-count 3
or with the emulator's own Python (no AWS CLI needed):
  AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo .venv/bin/python -c "import boto3; boto3.client('ecs', endpoint_url='$AWS_ENDPOINT_URL', region_name='us-east-1').update_service(cluster='tiktimer-dev', service='tiktimer-dev-worker', desiredCount=3)"
Edit a file under desired-state/ and it is applied within about a second. Ctrl-C stops it.
TXT
$driftd run --interval 10s --metrics-addr "$METRICS"
