#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build a test kernel: kernel.sh x86_64|i386 [base].  Prints the build
# directory.  Cached under $CACHE/build/<arch>, stamped with a hash that
# covers the kernel version, the config fragments, the patches and this
# script, so an unchanged kernel is never rebuilt (and a changed one builds
# incrementally).
#
# Flavour "base" (x86_64 only; i386 needs 0001 for Rust): the same
# configuration built from the pristine source without patches/, in
# $CACHE/build/<arch>-base.  Only make bench builds it, for the A/B of the
# neighbour patches (bench_neigh.sh); make check never does.
# Flavour "release": the patched source with qemu/config/release.config on
# top (no KASAN, lockdep, kmemleak; PREEMPT_DYNAMIC), in
# $CACHE/build/<arch>-release, for make bench's figures only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: kernel.sh x86_64|i386 [base|release]}
flavour=${2:-test}
case $arch in x86_64|i386) ;; *) die "unknown arch $arch" ;; esac
case $arch/$flavour in */test|*/release|x86_64/base) ;; *) die "no flavour $flavour for $arch" ;; esac

out=$CACHE/build/$arch
[ "$flavour" = test ] || out=$CACHE/build/$arch-$flavour
hash=$(kernel_hash "$arch" "$flavour")
# The configuration fragments, in merge order (a later one overrides).
frags=("$RCT_ROOT/qemu/config/common.config" "$RCT_ROOT/qemu/config/$arch.config")
[ "$flavour" = release ] && frags+=("$RCT_ROOT/qemu/config/release.config")
if [ -f "$out/.rct-done" ] && [ "$(cat "$out/.rct-done")" = "$hash" ]; then
	echo "$out"
	exit 0
fi

# One patched copy of the source, shared by both architectures.  When the
# series changes, only the files whose patched content changes are
# rewritten, so that the build below stays incremental.
base=${KSRC:-$CACHE/src/linux-$KVER}
src=$CACHE/src/linux-$KVER-rct
applied=$src/.rct-applied
if [ "$flavour" = base ]; then
	src=$base
elif [ ! -d "$applied" ]; then
	log "preparing patched source $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$base" --exclude=.git -cf - . | tar -C "$src.tmp" -xf -
	rm -f "$src.tmp/.rct-extracted"
	mkdir -p "$src.tmp/.rct-applied"
	touch "$src.tmp/.rct-applied/series"
	mv "$src.tmp" "$src"
fi
if [ "$flavour" = base ]; then
	:
elif [ "$(patch_bodies "$applied")" = "$(patch_bodies "$RCT_ROOT/patches")" ]; then
	# Same diffs (commit messages may differ): the tree is right as it is.
	rm -f "$applied"/*
	cp "$RCT_ROOT/patches/series" "$applied/"
	for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do cp "$RCT_ROOT/patches/$p" "$applied/"; done
else
	# Apply the new series to pristine copies of every file the old or
	# the new series touches, then copy over only the files whose content
	# differs (and remove those the series no longer creates): a change to
	# one patch rebuilds what that patch changes, not what every patch
	# touches (reverting and reapplying would give them all new mtimes).
	stage=$(mktemp -d)
	files=$(for d in "$applied" "$RCT_ROOT/patches"; do
		for p in $(grep -v '^#' "$d/series"); do
			sed -n -e 's|^--- a/\([^\t]*\).*|\1|p' -e 's|^+++ b/\([^\t]*\).*|\1|p' "$d/$p"
		done
	done | sort -u)
	for f in $files; do
		[ -f "$base/$f" ] || continue
		mkdir -p "$stage/$(dirname "$f")"
		cp -p "$base/$f" "$stage/$f"
	done
	for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do
		patch -d "$stage" -p1 -s --no-backup-if-mismatch < "$RCT_ROOT/patches/$p" ||
			{ rm -rf "$stage"; die "$p does not apply"; }
	done
	for f in $files; do
		if [ -f "$stage/$f" ]; then
			cmp -s "$stage/$f" "$src/$f" && continue
			log "updating $f"
			mkdir -p "$src/$(dirname "$f")"
			cp "$stage/$f" "$src/$f"
			chmod --reference="$stage/$f" "$src/$f"
		elif [ -e "$src/$f" ]; then
			log "removing $f"
			rm -f "$src/$f"
		fi
	done
	rm -rf "$stage"
	rm -f "$applied"/*
	cp "$RCT_ROOT/patches/series" "$applied/"
	for p in $(grep -v '^#' "$RCT_ROOT/patches/series"); do cp "$RCT_ROOT/patches/$p" "$applied/"; done
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
[ "$flavour" = test ] || blog=$LOGS/kernel-build-$arch-$flavour.log
log "configuring $arch kernel in $out (log: $blog)"
{
	mk tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}"
	mk olddefconfig
} > "$blog" 2>&1 || die "configuration failed, see $blog"

# merge_config only warns: insist on every requested option (the last
# fragment's word on an option counts).
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$out/.config" || { log "config: wanted $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=[ym]" "$out/.config" && { log "config: wanted $opt off"; bad=1; } ;;
	esac
done < <(cat "${frags[@]}" | awk '
	/^CONFIG_[A-Za-z0-9_]+=/ { o = $0; sub(/=.*/, "", o); last[o] = $0; if (!(o in seen)) { seen[o] = 1; order[++n] = o } }
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { o = $2; last[o] = $0; if (!(o in seen)) { seen[o] = 1; order[++n] = o } }
	END { for (i = 1; i <= n; i++) print last[order[i]] }')
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
