#!/usr/bin/env bash
# A soak run: one `mimi-ds serve` process (release build) with a short log retention, driven by
# `mimi-sim load` over HTTPS with churn for DURATION seconds; every SAMPLE seconds it prints the
# messages sent/accepted/delivered, errors, the provider's store file size and the provider's
# resident memory (and the simulator's). The store size stays flat once retention has caught up.
#
#   scripts/soak.sh                    # 30 minutes
#   DURATION=300 SAMPLE=30 scripts/soak.sh
set -euo pipefail
DURATION=${DURATION:-1800}
SAMPLE=${SAMPLE:-60}
RATE=${RATE:-100}
CHURN=${CHURN:-0.5}
ROOMS=${ROOMS:-8}
USERS=${USERS:-6}
CLIENTS=${CLIENTS:-2}
LOG_RETENTION_SECS=${LOG_RETENTION_SECS:-120}
PORT=${PORT:-18443}
cd "$(dirname "$0")/.."
cargo build --release -p mimi-ds -p mimi-client-sim --bins
DIR=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DIR"' EXIT
target/release/mimi-ds dev-pki --domains a.example --out "$DIR/pki" >/dev/null
cat >"$DIR/provider.toml" <<TOML
domain = "a.example"
listen = "127.0.0.1:$PORT"
data_dir = "$DIR/data"
registration = "open"
claims_per_pair = 100000
claims_per_requester = 100000
retention_interval_secs = 10
log_retention_secs = $LOG_RETENTION_SECS
dedup_window_secs = $LOG_RETENTION_SECS
queue_ttl_secs = $LOG_RETENTION_SECS
log = "warn"
[tls]
cert = "$DIR/pki/a.example.pem"
key = "$DIR/pki/a.example.key"
ca = "$DIR/pki/ca.pem"
TOML
target/release/mimi-ds serve --config "$DIR/provider.toml" &
SERVER=$!
for _ in $(seq 100); do
  [ -f "$DIR/data/mimi-ds.redb" ] && break
  sleep 0.1
done
echo "soak: mimi-ds pid $SERVER, store $DIR/data/mimi-ds.redb, log retention ${LOG_RETENTION_SECS}s, ${DURATION}s of messages"
target/release/mimi-sim load --provider "a.example=https://127.0.0.1:$PORT" --ca "$DIR/pki/ca.pem" \
  --rooms "$ROOMS" --users "$USERS" --clients "$CLIENTS" --rate "$RATE" --churn "$CHURN" \
  --duration "$DURATION" --sample-every "$SAMPLE" --watch-store "$DIR/data/mimi-ds.redb" \
  --watch-pid "$SERVER" --quiet --json "${JSON:-/dev/null}"
