#!/usr/bin/env bash
# Starts acquirer-sim and posd (sim board) on loopback with a fresh data
# directory, tells how to run a sale, and stops both on Ctrl-C. Each process
# must really be up (acquirer-sim listening, posd ready) before the demo says
# so; if either fails to start, both are stopped and the script exits 1.
# POSD_DEMO_API, POSD_DEMO_HOST and POSD_BIN change the addresses and the
# binaries' directory (the tests use them).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-run}
rm -rf "$dir"
(umask 077 && mkdir -p "$dir/data")
api=${POSD_DEMO_API:-127.0.0.1:7070}
hostaddr=${POSD_DEMO_HOST:-127.0.0.1:8583}
walletaddr=${POSD_DEMO_WALLET:-127.0.0.1:8585}
faceaddr=${POSD_DEMO_FACE:-127.0.0.1:8586}
bin=${POSD_BIN:-bin}

# The demo's engineer authority: its key signs the service console's login
# tokens, its public key is pinned in posd's configuration.
authority=$("$bin/posctl" engineer keygen --out "$dir/engineer.key")

cat > "$dir/posd.json" <<JSON
{
  "board": "sim",
  "data_dir": "$dir/data",
  "api": {"listen": "$api"},
  "host": {"addr": "$hostaddr", "echo_idle": "5m"},
  "wallet": {"url": "http://$walletaddr"},
  "face": {"url": "http://$faceaddr", "platform_key_file": "$dir/face-platform.pem"},
  "console": {"authority_key": "$authority"}
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

# waitfor NAME PID LOG TEXT: until LOG says TEXT, or fail when PID died or
# after 30 s.
waitfor() {
	local name=$1 pid=$2 log=$3 text=$4
	for _ in $(seq 300); do
		if grep -q "$text" "$log" 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run-demo: $name failed to start; its log ($log):" >&2
			sed 's/^/  /' "$log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "run-demo: $name did not become ready in 30 s; see $log" >&2
	exit 1
}

"$bin/acquirer-sim" -listen "$hostaddr" -journal "$dir/journal.jsonl" -wallet "$walletaddr" -wallet-journal "$dir/wallet.jsonl" -wallet-state "$dir/wallet-orders.json" \
	-face "$faceaddr" -face-key "$dir/face-platform-key.pem" -face-pub-out "$dir/face-platform.pem" -face-journal "$dir/face.jsonl" 2> >(tee "$dir/acquirer-sim.log" | sed -u 's/^/[acquirer-sim] /' >&2) &
pids+=($!)
waitfor acquirer-sim "${pids[0]}" "$dir/acquirer-sim.log" "listening on"

# posd as systemd runs it on the board: exit status 75 (the service
# console's restart, a factory reset, a firmware trial) asks to be started
# again; any other exit ends the demo. SIGTERM to this loop stops posd.
posd_loop() {
	local child="" rc stop=0
	# A signal only notes the stop while posd is being started (its pid
	# not yet known), and stops it once it is.
	trap 'stop=1; if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; exit 0; fi' INT TERM
	while :; do
		"$bin/posd" -config "$dir/posd.json" 2> >(tee -a "$dir/posd.log" | sed -u 's/^/[posd] /' >&2) &
		child=$!
		if [ "$stop" = 1 ]; then
			kill -TERM "$child" 2>/dev/null || true
			wait "$child" 2>/dev/null || true
			exit 0
		fi
		rc=0
		wait "$child" || rc=$?
		if [ "$rc" != 75 ]; then
			exit "$rc"
		fi
		echo "run-demo: posd asked to be started again (exit 75: the service console's restart or factory reset); starting it" >&2
		child=""
		sleep 1 || true
		if [ "$stop" = 1 ]; then
			exit 0
		fi
	done
}
posd_loop &
pids+=($!)
waitfor posd "${pids[1]}" "$dir/posd.log" "posd ready"

console=$(sed -n 's/.*msg="service console" where=\([^ ]*\).*/\1/p' "$dir/posd.log" | head -1)

datadir_hint=""
if [ "$dir" != run ]; then
	datadir_hint="
  (posctl finds posd's API token in ./run/data by default; for this run
   export POSD_DATA_DIR=$dir/data)
"
fi

cat <<TXT

posd (sim board) and acquirer-sim are running. In another shell:

  bin/posctl sim cards                                    # the virtual card deck
  bin/posctl sale --amount 12.34 --wait &                 # start a sale and wait for the result
  bin/posctl sim swipe --card visa-classic                # the customer swipes
  bin/posctl sale --amount 8.88 --method qr --wait &      # the customer shows a payment code
  bin/posctl sim qr --code 134567890123456789             #   a WeChat Pay code, to the camera
  bin/posctl sim qr --card unionpay-ic-debit              #   or a phone's EMV QR code for a card
  bin/posctl sale --amount 23.72 --method mpm --wait &    # the display shows the merchant's code
  bin/posctl sim phone --platform unionpay                #   the customer's phone scans and pays
  bin/posctl sale --amount 88.00 --method face --wait &   # face pay (the display asks for consent)
  bin/posctl sim face --subject alice                     #   alice steps in front of the camera
  bin/posctl sim keys E                                   #   consents on the keypad (Enter)
  bin/posctl sim keys 135790E                             #   her payment password, when asked
  bin/posctl txn list
  bin/posctl devices selftest
$datadir_hint
Customer display: http://$api/ (open it in a browser)
Service console (the field engineer's debug UART): picocom -b 115200 ${console:-"(none)"}
  (or: screen ${console:-/dev/pts/N} 115200). Type login; sign the challenge it prints with
  bin/posctl engineer token --key $dir/engineer.key --challenge "posd-login ..." --role engineer --id you --ttl 1h
  and paste the token (roles: engineer, custodian, admin). The console's restart and
  factory-reset start posd again (the demo restarts it, as systemd does on the board);
  the console then has a new path: bin/posctl status shows it as "console".
Amounts ending in .51 / .05 are declined, .91 times out (reversal), .96 is a
host malfunction. Journal of the acquirer: $dir/journal.jsonl; of the wallet
platforms: $dir/wallet.jsonl (wallet codes: amounts ending in .61 make the
customer confirm on the phone, .62 never confirms, .63 fails); of the face-pay
platform: $dir/face.jsonl (subjects: posctl sim face --subject alice|bob|chen|dana|
emil|fatima, strangers mallory|oscar; --attack print|screen; --second NAME).
Press Ctrl-C to stop.

TXT
wait -n "${pids[@]}" || true
