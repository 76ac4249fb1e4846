# SPDX-License-Identifier: GPL-2.0
# Shared settings for the qemu/ scripts.  Source it; do not run it.

RCT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rconntrack}
LOGS=$CACHE/logs
KVER=7.3.4
KPKG=linux-source-7.3
KPKG_VERSION=7.3.4-1~bpo13+1
KPKG_SHA256=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
LLVM_SUFFIX=${LLVM_SUFFIX:--19}
BINDGEN_VERSION=0.72.1
export PATH=$HOME/.cargo/bin:$PATH

mkdir -p "$CACHE" "$LOGS"

log() { printf '[rconntrack] %s\n' "$*" >&2; }
die() { printf '[rconntrack] error: %s\n' "$*" >&2; exit 1; }
warn() { printf '\n[rconntrack] WARNING: %s\n\n' "$*" >&2; }

# Private apt configuration: never touches the machine's own sources.
# $1: extra options (e.g. architecture), sources list in $CACHE/apt/etc.
rct_apt() {
	local a=$CACHE/apt
	mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/etc"
	apt-get -q -o Dir::Etc::sourcelist="$a/etc/sources.list" \
		-o Dir::Etc::sourceparts=/dev/null \
		-o Dir::State::Lists="$a/lists" \
		-o Dir::Cache="$a" -o Dir::Cache::archives="$a/archives" \
		-o Dir::State::status="$a/status" \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}

rct_apt_cache() {
	local a=$CACHE/apt
	apt-cache -o Dir::Etc::sourcelist="$a/etc/sources.list" \
		-o Dir::Etc::sourceparts=/dev/null \
		-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a" \
		-o Dir::State::status="$a/status" "$@"
}

# Hash of everything that determines a kernel build for arch $1.
kernel_hash() {
	local arch=$1
	{
		echo "$KVER $KPKG_VERSION ${KSRC:-} $LLVM_SUFFIX $(rustc --version) $BINDGEN_VERSION"
		cat "$RCT_ROOT/qemu/config/common.config" "$RCT_ROOT/qemu/config/$arch.config"
		cat "$RCT_ROOT/patches/series"
		for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do cat "$RCT_ROOT/patches/$p"; done
		cat "$RCT_ROOT/qemu/kernel.sh"
	} | sha256sum | cut -c1-12
}

patches_hash() {
	{
		cat "$RCT_ROOT/patches/series"
		for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do cat "$RCT_ROOT/patches/$p"; done
	} | sha256sum | cut -c1-12
}

kernel_dir() { echo "$CACHE/build/$1"; }
