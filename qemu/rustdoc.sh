#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# rustdoc for the module's crate (the kernel has no rustdoc target for
# external modules): reuse the exact rustc command Kbuild recorded for
# rust/rconntrack_main.o, run it through rustdoc with warnings as errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:-x86_64}
kdir=${KDIR:-$("$RCT_ROOT/qemu/kernel.sh" "$arch")}
mod=$("$RCT_ROOT/qemu/module.sh" "$arch")
cmdfile=$mod/rust/.rconntrack_main.o.cmd
[ -f "$cmdfile" ] || die "no $cmdfile"
cmd=$(sed -n 's/^savedcmd_rust\/rconntrack_main.o := //p' "$cmdfile" | sed 's/;.*//')
cmd=$(echo "$cmd" | sed -e 's/ rustc / rustdoc /' -e 's/ clippy-driver / rustdoc /' \
	-e 's/--emit=[^ ]*//g' -e 's/-Zbinary_dep_depinfo=y//' -e 's/-Zfunction-sections=n//' \
	-e 's/--remap-path-[a-z]*=[^ ]*//g' -e 's/ -[WAD][^ ]*//g' -e 's/--out-dir [^ ]*//')
out=$CACHE/doc/$arch
rm -rf "$out"
mkdir -p "$out"
cd "$kdir"
RUSTC_BOOTSTRAP=1 eval "$cmd -o $out --document-private-items -Dwarnings \
	-Drustdoc::broken_intra_doc_links -Dmissing_docs -Cunsafe-allow-abi-mismatch=sanitizer"
log "rustdoc: $out/rconntrack_main/index.html"
