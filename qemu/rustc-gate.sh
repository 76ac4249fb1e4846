#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Patch 0001's version gate: the i386 test kernel's configuration keeps
# CONFIG_RUST with the rustc in use, and loses it with one that says it is
# 1.90.0 (RUSTC_SUPPORTS_X86_32 needs 1.91: rust-lang/rust#145309).
# Runs olddefconfig twice in a scratch build directory (seconds).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kdir=$(kernel_dir i386)
src=$CACHE/src/linux-$KVER-rct
[ -f "$kdir/.config" ] || die "no i386 kernel configuration in $kdir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/rustc-1.90" <<'EOS'
#!/bin/sh
[ "$1" = --version ] && { echo "rustc 1.90.0 (1159e78c4 2025-09-14)"; exit 0; }
exec rustc "$@"
EOS
chmod +x "$tmp/rustc-1.90"
rc=0
for r in rustc "$tmp/rustc-1.90"; do
	rm -rf "$tmp/o"
	mkdir "$tmp/o"
	cp "$kdir/.config" "$tmp/o/.config"
	make -s -C "$src" O="$tmp/o" ARCH=i386 LLVM="$LLVM_SUFFIX" RUSTC="$r" olddefconfig > /dev/null 2>&1 ||
		die "olddefconfig failed with $r"
	got=$(grep -E '^CONFIG_RUST=y$' "$tmp/o/.config" || true)
	v=$(sed -n 's/^CONFIG_RUSTC_VERSION=//p' "$tmp/o/.config")
	if [ "$r" = rustc ]; then
		[ -n "$got" ] || { echo "rustc $v: CONFIG_RUST lost"; rc=1; }
	else
		[ -z "$got" ] || { echo "rustc $v: CONFIG_RUST kept, the gate does not bite"; rc=1; }
	fi
	echo "rustc-gate: RUSTC_VERSION=$v CONFIG_RUST=${got:+y}"
done
exit $rc
