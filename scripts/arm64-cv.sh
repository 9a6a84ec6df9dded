#!/usr/bin/env bash
# posd for linux/arm64 WITH the camera: cgo against Debian 12's arm64
# OpenCV 4.6, checked under qemu-user on this (amd64) machine.
#
#   scripts/arm64-cv.sh            everything below, in order
#   scripts/arm64-cv.sh --inputs   print the paths whose changes call for it
#
# 1. Installs what is missing on the host, with apt (sudo when not root):
#    qemu-user-static (qemu-aarch64-static), gcc/g++-aarch64-linux-gnu and
#    mmdebstrap. binfmt_misc is not needed: qemu is called explicitly.
# 2. Makes an arm64 Debian 12 sysroot with libopencv-dev (and GStreamer's
#    base plugins for the camera pipeline tests) in $POSD_ARM64_CACHE
#    (default ~/.cache/posd-arm64), outside the repository, once: packages
#    are extracted (mmdebstrap --variant=extract), no arm64 code runs.
#    Debian's multiarch cannot do it on the host: libopencv-dev is not
#    Multi-Arch: same, so the arm64 one cannot sit beside the amd64 one
#    that the host build needs.
# 3. Builds bin/linux-arm64-cv/{posd,posctl,acquirer-sim} with CGO_ENABLED=1
#    and the cross compiler pointed at the sysroot.
# 4. Runs the tests of drivers/camera and board/... (but the pure-Go
#    facescene) compiled for arm64
#    under qemu-aarch64 (no -race: it is not available for this cross
#    build), then `posd -print-config`, then starts the arm64 posd on the
#    sim board under qemu and checks with the host's posctl that
#    `posctl devices selftest` reports the camera OK.
#
# Environment: POSD_ARM64_CACHE, POSD_DEBIAN_MIRROR (default
# http://deb.debian.org/debian), POSD_DEBIAN_SECURITY (default
# http://deb.debian.org/debian-security), GO.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the build and checks depend on beyond the pure-Go code that
# `make cross` already builds for arm64 (used by .ci/run).
inputs=(drivers/camera terminal/face board cmd/posd cmd/posctl conn go.mod go.sum Makefile scripts/arm64-cv.sh scripts/setup.sh)
if [ "${1:-}" = "--inputs" ]; then
	printf '%s\n' "${inputs[@]}"
	exit 0
fi

GO=${GO:-$(scripts/setup.sh --print-go)}
cache=${POSD_ARM64_CACHE:-$HOME/.cache/posd-arm64}
mirror=${POSD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${POSD_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
suite=bookworm
# The sysroot's packages. Changing this list (or the suite) makes a new one.
sysroot_pkgs=(libc6-dev libstdc++-12-dev libopencv-dev gstreamer1.0-plugins-base)
sysroot=$cache/sysroot-$suite
stamp="$suite ${sysroot_pkgs[*]} v1"
out=bin/linux-arm64-cv
t0=$SECONDS
step() { echo "arm64-cv: [$((SECONDS - t0))s] $*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Host tools.
host_pkgs=(qemu-user-static gcc-aarch64-linux-gnu g++-aarch64-linux-gnu mmdebstrap)
missing=()
for p in "${host_pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq >&2
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
qemu=$(command -v qemu-aarch64-static)

# 2. The sysroot, built aside and moved into place when complete.
if [ "$(cat "$sysroot/.posd-sysroot" 2>/dev/null)" != "$stamp" ]; then
	step "making the arm64 sysroot in $sysroot (a few hundred MB of packages)"
	mkdir -p "$cache"
	tmp=$sysroot.tmp
	as_root rm -rf "$tmp"
	as_root mmdebstrap --quiet --variant=extract --architectures=arm64 \
		--include="$(IFS=,; echo "${sysroot_pkgs[*]}")" \
		"$suite" "$tmp" \
		"deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security $suite-security main" >&2
	as_root chown -R "$(id -u):$(id -g)" "$tmp"
	# Absolute symlinks (libm.so -> /lib/...) would point into the host:
	# make them relative to the sysroot.
	find "$tmp/usr" "$tmp/lib" -type l -lname '/*' -print0 2>/dev/null | while IFS= read -r -d '' l; do
		ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$tmp$(readlink "$l")")" "$l"
	done
	# Extracting runs no maintainer script, so the alternatives that
	# libopencv_core's BLAS and LAPACK go through are made by hand.
	lib=$tmp/usr/lib/aarch64-linux-gnu
	for a in blas/libblas.so.3 lapack/liblapack.so.3; do
		[ -e "$lib/$a" ] && ln -sfn "$a" "$lib/$(basename "$a")"
	done
	# qemu -L looks paths up in the sysroot first: leave /dev and /tmp to
	# the host.
	rm -rf "${tmp:?}/dev" "${tmp:?}/tmp"
	echo "$stamp" >"$tmp/.posd-sysroot"
	rm -rf "$sysroot"
	mv "$tmp" "$sysroot"
else
	step "arm64 sysroot $sysroot is ready"
fi

# 3. The cgo build.
export CGO_ENABLED=1 GOOS=linux GOARCH=arm64
export CC="aarch64-linux-gnu-gcc --sysroot=$sysroot" CXX="aarch64-linux-gnu-g++ --sysroot=$sysroot"
export PKG_CONFIG_SYSROOT_DIR=$sysroot
export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
step "building $out with cgo and OpenCV $(pkg-config --modversion opencv4)"
# POSD_LDFLAGS: make arm64-cv passes the build time (Makefile, LDFLAGS).
$GO build ${POSD_LDFLAGS:+-ldflags "$POSD_LDFLAGS"} -o "$out/" ./cmd/...
if ! readelf -d "$out/posd" | grep -q 'libopencv_videoio'; then
	echo "arm64-cv: $out/posd is not linked with OpenCV" >&2
	exit 1
fi

# 4. Under qemu. GStreamer loads its plugins in-process (no helper
# process to spawn) and keeps its registry in the cache.
export GST_REGISTRY_FORK=no GST_REGISTRY=$cache/gst-registry-aarch64.bin
run() { "$qemu" -L "$sysroot" "$@"; }
step "tests of drivers/camera and board/... for arm64 under qemu"
# board/sim/facescene is pure Go (make cross builds it) and draws whole
# videos: minutes under emulation for nothing cgo would change.
$GO test -count=1 -exec "$qemu -L $sysroot" ./drivers/camera/... $($GO list ./board/... | grep -v /board/sim/facescene)

step "posd -print-config under qemu"
cfg=$(run "$out/posd" -print-config)
grep -q '"board": "sim"' <<<"$cfg" || {
	echo "arm64-cv: unexpected -print-config output:" >&2
	echo "$cfg" >&2
	exit 1
}

step "arm64 posd (sim board) under qemu, host posctl devices selftest"
unset CGO_ENABLED GOOS GOARCH CC CXX PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
$GO build -o "$work/" ./cmd/posctl
port=$((20000 + RANDOM % 20000))
api=http://127.0.0.1:$port
# posctl finds posd's per-boot API token in posd's data directory.
export POSD_DATA_DIR="$work/data"
cat >"$work/posd.json" <<JSON
{"board": "sim", "data_dir": "$work/data", "api": {"listen": "127.0.0.1:$port"}, "host": {"addr": "127.0.0.1:9"}}
JSON
# qemu itself in the background (not through run, whose subshell would
# take the signal and leave qemu running), output to the log so that it
# holds none of the caller's pipes.
"$qemu" -L "$sysroot" "$out/posd" -config "$work/posd.json" >"$work/posd.log" 2>&1 &
pid=$!
up=
for _ in $(seq 600); do
	if "$work/posctl" --api "$api" status >/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if [ -z "$up" ]; then
	echo "arm64-cv: the arm64 posd did not come up; its log:" >&2
	cat "$work/posd.log" >&2
	exit 1
fi
if ! st=$("$work/posctl" --api "$api" devices selftest); then
	echo "$st" >&2
	echo "arm64-cv: posctl devices selftest failed on the arm64 posd" >&2
	exit 1
fi
if ! tr -d ' \n' <<<"$st" | grep -q '"name":"camera","driver":"camera","where":"[^"]*","ok":true'; then
	echo "$st" >&2
	echo "arm64-cv: the camera is not OK on the arm64 posd" >&2
	exit 1
fi
echo "$st" | tr -d '\n' | sed 's/.*"name": "camera"[^}]*"detail": "\([^"]*\)".*/arm64-cv: camera OK on the arm64 posd: \1\n/' >&2
step "done"
