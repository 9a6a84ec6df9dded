#!/usr/bin/env bash
# Installs what building and testing posd needs on Debian 12 (and Raspberry
# Pi OS): the C toolchain and OpenCV 4.6 for the camera (cgo) with its Haar
# cascades for face detection (opencv-data), GStreamer's base
# plugins (videoconvert, appsink) for camera pipelines, pkg-config, a CJK
# font for the customer display's Chinese lines (fonts-wqy-microhei, named by
# ui/kiosk/page.html), Chromium for the display's rendering test, the swtpm
# TPM 2.0 simulator (swtpm, swtpm-tools) that the TPM-sealed KEK test of
# board/ starts, picocom and tmux (the service console's test drives it with
# a real terminal program), systemd and dbus-daemon (the service unit and
# posd's D-Bus policy are checked by systemd's parsers and a bus daemon),
# and a Go toolchain as recent as go.mod asks for. Idempotent: when
# everything is present it only checks and returns.
#
#   scripts/setup.sh          check and install what is missing
#   scripts/setup.sh --print-go   also print the go binary to use
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc g++ make pkg-config git ca-certificates libopencv-dev opencv-data gstreamer1.0-plugins-base fontconfig fonts-wqy-microhei chromium swtpm swtpm-tools picocom tmux systemd dbus-daemon)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	echo "setup: installing $*" >&2
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -f /tmp/.posd-apt-updated ]; then
		as_root apt-get update -qq >&2 && touch /tmp/.posd-apt-updated
	fi
	as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

if [ ${#missing[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null; then
		echo "setup: missing packages ${missing[*]} and no apt-get; install them by hand" >&2
		exit 1
	fi
	apt_install "${missing[@]}"
fi

# Go: go.mod names the version. A Go >= 1.21 fetches that toolchain by
# itself (GOTOOLCHAIN=auto). Debian 12's own Go is 1.19, which cannot, so
# it is used once to download the toolchain module (golang.org/toolchain)
# through the Go module proxy.
want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
gobin=$(command -v go || true)
go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p'; }
if [ -z "$gobin" ] || [ "$(go_minor "$gobin")" = "" ] || [ "$(go_minor "$gobin")" -lt 21 ]; then
	tc="$HOME/.cache/posd-go/go$want"
	if [ ! -x "$tc/bin/go" ]; then
		if [ -z "$gobin" ]; then
			apt_install golang-go
			gobin=$(command -v go)
		fi
		case "$(dpkg --print-architecture)" in
		amd64) arch=amd64 ;; arm64) arch=arm64 ;; armhf) arch=armv6l ;; *) echo "setup: unsupported architecture" >&2; exit 1 ;;
		esac
		mod="golang.org/toolchain@v0.0.1-go$want.linux-$arch"
		echo "setup: fetching Go $want ($mod)" >&2
		dir=$(cd /tmp && GOFLAGS=-modcacherw GO111MODULE=on "$gobin" mod download -json "$mod" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
		mkdir -p "$(dirname "$tc")"
		rm -rf "$tc" && cp -r "$dir" "$tc"
		chmod -R u+w "$tc"
		find "$tc/bin" "$tc/pkg/tool" -type f -exec chmod +x {} +
	fi
	gobin="$tc/bin/go"
fi

if [ "${1:-}" = "--print-go" ]; then
	echo "$gobin"
fi
