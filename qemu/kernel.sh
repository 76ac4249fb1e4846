#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build a test kernel: kernel.sh x86_64|i386.  Prints the build directory.
# Cached under $CACHE/build/<arch>, stamped with a hash that covers the kernel
# version, the config fragments, the patches and this script, so an
# unchanged kernel is never rebuilt (and a changed one builds incrementally).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: kernel.sh x86_64|i386}
case $arch in x86_64|i386) ;; *) die "unknown arch $arch" ;; esac

out=$CACHE/build/$arch
hash=$(kernel_hash "$arch")
if [ -f "$out/.rct-done" ] && [ "$(cat "$out/.rct-done")" = "$hash" ]; then
	echo "$out"
	exit 0
fi

# One patched copy of the source, shared by both architectures.  When the
# series changes, the old patches are reversed and the new ones applied, so
# that only the files they touch get new mtimes and the build below stays
# incremental.
base=${KSRC:-$CACHE/src/linux-$KVER}
src=$CACHE/src/linux-$KVER-rct
applied=$src/.rct-applied
if [ ! -d "$applied" ]; then
	log "preparing patched source $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$base" --exclude=.git -cf - . | tar -C "$src.tmp" -xf -
	rm -f "$src.tmp/.rct-extracted"
	mkdir -p "$src.tmp/.rct-applied"
	touch "$src.tmp/.rct-applied/series"
	mv "$src.tmp" "$src"
fi
if ! cmp -s "$applied/series" "$RCT_ROOT/patches/series" ||
	! (cd "$RCT_ROOT/patches" && for p in $(grep -v '^#' series); do cmp -s "$p" "$applied/$p" || exit 1; done); then
	for p in $(grep -v '^#' "$applied/series" | tac); do
		log "reverting $p"
		patch -d "$src" -p1 -R -s --no-backup-if-mismatch < "$applied/$p" || die "cannot revert $p in $src: remove it"
	done
	rm -f "$applied"/*
	touch "$applied/series"
	for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do
		log "applying $p"
		patch -d "$src" -p1 -s --no-backup-if-mismatch < "$RCT_ROOT/patches/$p" || die "$p does not apply"
		cp "$RCT_ROOT/patches/$p" "$applied/"
		echo "$p" >> "$applied/series"
	done
fi

# modules_install only warns without depmod, and the guests then have no
# modules.dep (modprobe and modinfo fail there): insist on it.
command -v depmod >/dev/null || PATH=$PATH:/sbin:/usr/sbin command -v depmod >/dev/null ||
	die "depmod not found: install the Debian package kmod (make deps does)"
export PATH=$PATH:/sbin:/usr/sbin

mk() { make -C "$src" O="$out" ARCH="$arch" LLVM="$LLVM_SUFFIX" "$@"; }
rm -f "$out/.rct-done"
mkdir -p "$out"
blog=$LOGS/kernel-build-$arch.log
log "configuring $arch kernel in $out (log: $blog)"
{
	mk tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$RCT_ROOT/qemu/config/common.config" "$RCT_ROOT/qemu/config/$arch.config"
	mk olddefconfig
} > "$blog" 2>&1 || die "configuration failed, see $blog"

# merge_config only warns: insist on every requested option.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$out/.config" || { log "config: wanted $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=[ym]" "$out/.config" && { log "config: wanted $opt off"; bad=1; } ;;
	esac
done < <(cat "$RCT_ROOT/qemu/config/common.config" "$RCT_ROOT/qemu/config/$arch.config")
[ $bad = 0 ] || { mk rustavailable >&2 || true; die "kernel configuration for $arch lacks requested options"; }

log "building $arch kernel ($(nproc) jobs); this takes 15-25 minutes cold"
start=$(date +%s)
mk -j"$(nproc)" bzImage modules >> "$blog" 2>&1 || { tail -n 40 "$blog" >&2; die "kernel build failed, see $blog"; }
log "built $arch kernel in $(( $(date +%s) - start ))s"
rm -rf "$out/modroot"
mk INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install >> "$blog" 2>&1 \
	|| die "modules_install failed, see $blog"
grep -q "requires depmod" "$blog" && die "modules_install ran without depmod, see $blog"
ls "$out"/modroot/lib/modules/*/modules.dep >/dev/null 2>&1 || die "no modules.dep after modules_install"
echo "$hash" > "$out/.rct-done"
echo "$out"
