#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build rconntrack.ko for arch $1 against the cached test kernel (or KDIR),
# out of tree into $CACHE/module/<arch> (MO=), so both arches coexist.
# Extra arguments are passed to make (e.g. CLIPPY=1, rustfmtcheck).
# RCT_KFLAVOUR=base or release: against that bench kernel (qemu/kernel.sh),
# into $CACHE/module/<arch>-<flavour>.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: module.sh x86_64|i386 [make args]}
shift
flavour=${RCT_KFLAVOUR:-test}
kdir=${KDIR:-$("$RCT_ROOT/qemu/kernel.sh" "$arch" "$flavour")}
out=$CACHE/module/$arch
[ "$flavour" = test ] || out=$out-$flavour
mkdir -p "$out"
make -C "$kdir" M="$RCT_ROOT" MO="$out" ARCH="$arch" LLVM="$LLVM_SUFFIX" "$@" >&2
echo "$out"
