#!/usr/bin/env bash
# Starts acquirer-sim and posd (sim board) on loopback with a fresh data
# directory, tells how to run a sale, and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-run}
rm -rf "$dir"
mkdir -p "$dir/data"
api=127.0.0.1:7070
hostaddr=127.0.0.1:8583

cat > "$dir/posd.json" <<JSON
{
  "board": "sim",
  "data_dir": "$dir/data",
  "api": {"listen": "$api"},
  "host": {"addr": "$hostaddr"}
}
JSON

pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping posd and acquirer-sim..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

bin/acquirer-sim -listen "$hostaddr" -journal "$dir/journal.jsonl" 2> >(sed 's/^/[acquirer-sim] /' >&2) &
pids+=($!)
bin/posd -config "$dir/posd.json" 2> >(sed 's/^/[posd] /' >&2) &
pids+=($!)

for _ in $(seq 50); do
	bin/posctl --api "http://$api" status >/dev/null 2>&1 && break
	sleep 0.2
done

cat <<TXT

posd (sim board) and acquirer-sim are running. In another shell:

  bin/posctl sim cards                                    # the virtual card deck
  bin/posctl sale --amount 12.34 --wait &                 # start a sale and wait for the result
  bin/posctl sim swipe --card visa-classic                # the customer swipes
  bin/posctl txn list
  bin/posctl devices selftest

Customer display: http://$api/ (open it in a browser)
Amounts ending in .51 / .05 are declined, .91 times out (reversal), .96 is a
host malfunction. Journal of the acquirer: $dir/journal.jsonl
Press Ctrl-C to stop.

TXT
wait -n "${pids[@]}" || true
