#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The neighbour patches' own selftest, tools/testing/selftests/net/
# ipv6_p2p_neigh.sh of the patched tree (patches/0006, copied next to this
# collection by qemu/vm.sh with the net/ lib.sh it sources), run as the
# kernel's net collection would run it. Every one of its tests must report
# OK: the number of "TEST:" lines is its ALL_TESTS count, none FAIL, SKIP
# or XFAIL, and it exits 0. Its INFO lines carry the counts the patches'
# commit messages quote.
source "$(dirname "$0")/lib.sh"
rct_require_root
rct_require_cmd ip nft nstat
dir=$(cd "$(dirname "$0")/../net" 2>/dev/null && pwd)
t=ipv6_p2p_neigh.sh
[ -n "$dir" ] && [ -x "$dir/$t" ] || rct_skip "no ../net/$t (qemu/vm.sh copies it from the patched tree)"
want=$(sed -n '/^ALL_TESTS="/,/^"/p' "$dir/$t" | grep -c '^[[:space:]]*[a-z_0-9]*[[:space:]]*$')
out=$(cd "$dir" && NDST=${NDST:-50} ./"$t" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
ok=$(echo "$out" | grep -c '^TEST: .*\[ OK \]$')
bad=$(echo "$out" | grep '^TEST: ' | grep -vc '\[ OK \]$')
[ "$want" -ge 10 ] || rct_fail "$t lists $want tests, expected at least 10 (ALL_TESTS not parsed?)"
[ "$ok" = "$want" ] && [ "$bad" = 0 ] &&
	rct_pass "$t: $ok of $want tests OK" ||
	rct_fail "$t: $ok of $want tests OK, $bad not OK"
[ "$rc" = 0 ] && rct_pass "$t exited 0" || rct_fail "$t exited $rc"
rct_exit
