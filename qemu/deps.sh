#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install build/test dependencies and fetch the Linux source.  Idempotent:
# every step checks first and a second run does nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEB_PKGS="clang-19 lld-19 llvm-19 libclang-19-dev flex bison bc make libelf-dev
libssl-dev cpio dwarves qemu-system-x86 busybox-static xz-utils perl python3
iproute2 patch gcc gcc-multilib kmod"
# `deps.sh bench`: also what make bench's report needs (its charts).
[ "${1:-}" = bench ] && DEB_PKGS+=" gnuplot-nox"

missing=()
for p in $DEB_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v rustup >/dev/null || die "rustup not found: install a Rust toolchain (rustc >= 1.78) first"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "adding rust-src"
	rustup component add rust-src
fi
if [ "$(bindgen --version 2>/dev/null | awk '{print $2}')" != "$BINDGEN_VERSION" ]; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked "bindgen-cli@$BINDGEN_VERSION"
fi

# The kernel source: KSRC=/path uses the user's own tree instead.
if [ -n "${KSRC:-}" ]; then
	[ -f "$KSRC/Makefile" ] || die "KSRC=$KSRC is not a kernel tree"
	exit 0
fi
src=$CACHE/src/linux-$KVER
if [ ! -f "$src/.rct-extracted" ]; then
	mkdir -p "$CACHE/dl" "$CACHE/src" "$CACHE/apt/etc"
	# The machine's own Debian mirror (or $DEBIAN_MIRROR): see debian_mirror.
	echo "deb $(debian_mirror) trixie-backports main" > "$CACHE/apt/etc/sources.list"
	deb=$(ls "$CACHE/dl/${KPKG}_${KPKG_VERSION}_all.deb" 2>/dev/null || true)
	if [ -z "$deb" ]; then
		log "fetching $KPKG $KPKG_VERSION from trixie-backports at $(debian_mirror) (private apt config)"
		rct_apt update -qq
		(cd "$CACHE/dl" && rct_apt download "$KPKG=$KPKG_VERSION") || {
			newest=$(rct_apt_cache policy "$KPKG" | awk '/Candidate:/ {print $2}')
			[ -n "$newest" ] && [ "$newest" != "(none)" ] || die "$KPKG is not available"
			warn "$KPKG $KPKG_VERSION is gone; falling back to $newest. Results may differ from the tested 7.3.4."
			(cd "$CACHE/dl" && rct_apt download "$KPKG=$newest")
		}
		deb=$(ls -t "$CACHE"/dl/"${KPKG}"_*_all.deb | head -n 1)
	fi
	case "$deb" in
	*"$KPKG_VERSION"*)
		echo "$KPKG_SHA256  $deb" | sha256sum -c --quiet - || die "sha256 mismatch for $deb" ;;
	*) warn "not checking sha256 of fallback $deb" ;;
	esac
	log "extracting $(basename "$deb")"
	rm -rf "$CACHE/dl/x" "$src"
	dpkg -x "$deb" "$CACHE/dl/x"
	tar -C "$CACHE/src" -xf "$CACHE"/dl/x/usr/src/linux-source-7.3.tar.xz
	mv "$CACHE/src/linux-source-7.3" "$src"
	rm -rf "$CACHE/dl/x"
	touch "$src/.rct-extracted"
fi
