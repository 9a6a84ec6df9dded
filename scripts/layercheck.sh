#!/usr/bin/env bash
# Import-layer check of the design notes: arrows point one way.
#   cmd -> internal (config, daemon, api: the wiring) -> board -> drivers;
#   internal -> terminal -> crypto;  ui <-> terminal via events.
#   conn/ (neutral contracts: apdu, video, printer, clock) is imported by drivers,
#   board and terminal alike and imports the standard library only.
# Only board/ opens hardware (periph host, serial ports); drivers import the
# standard library, periph conn and x/text's character sets (gocv for the
# camera only); terminal/ never imports board/, drivers/ or periph host;
# gocv stays in drivers/camera and terminal/face; a -tags nocv build of posd has no gocv at all. The TPM
# (go-tpm) is hardware too: only board/ (the KEK source) talks to it.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mod=$($GO list -m)
bad=0
violation() { echo "layer violation: $1 imports $2 ($3)"; bad=1; }

while read -r pkg imports; do
	rel=${pkg#"$mod"/}
	for imp in $imports; do
		case "$imp" in
		*/vendor/*) continue ;;
		esac
		# Standard library: no dot in the first element.
		first=${imp%%/*}
		std=0
		case "$first" in *.*) ;; *) [ "$imp" = "$mod" ] || [[ "$imp" == "$mod/"* ]] || std=1 ;; esac
		[ $std = 1 ] && continue
		irel=${imp#"$mod"/}
		case "$rel" in
		drivers/*)
			case "$imp" in
			periph.io/x/conn/v3*) ;;
			# Character-set tables (pure Go, no I/O): a receipt printer's
			# Chinese font takes GB18030 codes.
			golang.org/x/text/encoding*) ;;
			gocv.io/x/gocv*) [[ "$rel" == drivers/camera* ]] || violation "$rel" "$imp" "gocv only in drivers/camera" ;;
			github.com/creack/pty | golang.org/x/sys/*) [[ "$rel" == *sim ]] || violation "$rel" "$imp" "only simulators may open pseudo-terminals" ;;
			"$mod"/drivers/* | "$mod"/conn/*) ;;
			*) violation "$rel" "$imp" "drivers import the standard library, periph conn and posd/conn only" ;;
			esac ;;
		conn | conn/*)
			case "$imp" in
			"$mod"/conn/*) ;;
			*) violation "$rel" "$imp" "the neutral contracts import the standard library only" ;;
			esac ;;
		crypto/*)
			case "$imp" in
			"$mod"/crypto/*) ;;
			go.etcd.io/bbolt) [[ "$rel" == crypto/keystore* ]] || violation "$rel" "$imp" "only the key store does I/O" ;;
			*) violation "$rel" "$imp" "crypto uses the standard library only" ;;
			esac ;;
		terminal/*)
			case "$irel" in
			board* | drivers* | cmd* | ui*) violation "$rel" "$imp" "terminal defines its own device interfaces" ;;
			esac
			case "$imp" in
			periph.io/x/host* | github.com/tarm/serial* | github.com/creack/pty*) violation "$rel" "$imp" "only board/ opens hardware" ;;
			gocv.io/x/gocv*) [[ "$rel" == terminal/face* ]] || violation "$rel" "$imp" "gocv only in terminal/face" ;;
			esac ;;
		ui/*)
			case "$irel" in
			board* | drivers* | cmd* | crypto*) violation "$rel" "$imp" "ui talks to terminal through events/state only" ;;
			esac ;;
		board/*)
			case "$irel" in
			terminal* | cmd* | ui*) violation "$rel" "$imp" "board sits below terminal" ;;
			esac ;;
		internal/*)
			case "$irel" in
			cmd*) violation "$rel" "$imp" "internal/ is the wiring below cmd/" ;;
			esac ;;
		esac
		# Only cmd/ uses the wiring.
		case "$irel" in
		internal/*) [[ "$rel" == cmd* || "$rel" == internal* ]] || violation "$rel" "$imp" "only cmd/ and internal/ use the wiring" ;;
		esac
		# Hardware is opened in board/ only (simulators may use pseudo-terminals).
		case "$imp" in
		periph.io/x/host* | github.com/tarm/serial*)
			[[ "$rel" == board* || "$rel" == cmd* ]] || violation "$rel" "$imp" "only board/ opens hardware" ;;
		github.com/google/go-tpm*)
			[[ "$rel" == board* ]] || violation "$rel" "$imp" "only board/ talks to the TPM" ;;
		esac
	done
done < <($GO list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)

# The pure-Go build of the daemon carries no gocv.
if CGO_ENABLED=0 $GO list -tags nocv -deps ./cmd/... | grep -q '^gocv.io/'; then
	echo "layer violation: a -tags nocv build of cmd/ still depends on gocv"
	bad=1
fi
[ $bad = 0 ] && echo "layers ok"
exit $bad
