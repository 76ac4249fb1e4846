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

# need_cmd CMD PACKAGE: a missing host tool is one clear line saying what
# to install, not an error deep inside a build.
# PACKAGE: a Debian package name, or words saying what to install.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	case $2 in
	*[!a-z0-9.+-]*) die "$1 not found: install $2" ;;
	*) die "$1 not found: install the Debian package $2 (apt-get install $2)" ;;
	esac
}

# The Debian archive to fetch packages from: $DEBIAN_MIRROR, else the first
# Debian archive of the machine's own apt sources, so that a local mirror or
# caching proxy this machine is set up for is used; deb.debian.org is only
# the last resort. Files are read in apt's order (sources.list, then
# sources.list.d/ by name, one-line *.list and deb822 *.sources). A Debian
# archive is a "deb" entry with component main and a Debian suite that is
# not -security: third-party repositories (nodesource, docker, google) have
# "main" too, but suites of their own. RCT_APT_ETC: another /etc/apt (tests).
debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		echo "${DEBIAN_MIRROR%/}"
		return
	fi
	local etc=${RCT_APT_ETC:-/etc/apt} f files=() uri=
	[ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
	for f in "$etc"/sources.list.d/*; do
		case $f in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
	done
	# An unreadable file is no reason to fail: deb.debian.org then.
	[ ${#files[@]} = 0 ] || uri=$(awk "$_RCT_SOURCES_AWK" "${files[@]}" 2>/dev/null || true)
	uri=${uri%/}
	echo "${uri:-http://deb.debian.org/debian}"
}

# shellcheck disable=SC2016 # an awk program
_RCT_SOURCES_AWK='
function has(list, word,   a, n, i) {
	n = split(list, a, /[ \t]+/)
	for (i = 1; i <= n; i++) if (a[i] == word) return 1
	return 0
}
function debian_suite(list,   a, n, i, s) {
	n = split(list, a, /[ \t]+/)
	for (i = 1; i <= n; i++) {
		s = a[i]
		if (s ~ /security/) continue
		sub(/[-\/].*/, "", s)
		if (s ~ /^(buster|bullseye|bookworm|trixie|forky|duke|sid|stable|testing|unstable|oldstable|oldoldstable|experimental)$/)
			return 1
	}
	return 0
}
function pick(types, uris, suites, comps,   u, n, i) {
	if (!has(types, "deb") || !has(comps, "main") || !debian_suite(suites)) return
	n = split(uris, u, /[ \t]+/)
	for (i = 1; i <= n; i++)
		if (u[i] ~ /^(https?|ftp|file):/ && u[i] !~ /security/) { print u[i]; done = 1; exit }
}
# deb822 paragraph: fields collected in f[], flushed at a blank line, at the
# next file and at the end.
function flush() {
	if (para && tolower(f["enabled"]) !~ /^(no|false)$/)
		pick(f["types"], f["uris"], f["suites"], f["components"])
	split("", f); para = 0; key = ""
}
FNR == 1 { flush() }
FILENAME ~ /\.sources$/ {
	if ($0 ~ /^[ \t]*$/) { flush(); next }
	if ($0 ~ /^#/) next
	if ($0 ~ /^[ \t]/) { if (key != "") f[key] = f[key] " " $0; next }
	key = tolower($0); sub(/:.*/, "", key)
	v = $0; sub(/^[^:]*:[ \t]*/, "", v)
	f[key] = v; para = 1
	next
}
# One-line format: deb [options] URI SUITE COMPONENT...
/^[ \t]*deb[ \t]/ {
	l = $0
	sub(/#.*/, "", l)
	sub(/^[ \t]*deb[ \t]+/, "", l)
	sub(/^\[[^]]*\][ \t]*/, "", l)
	n = split(l, w, /[ \t]+/)
	comps = ""
	for (i = 3; i <= n; i++) comps = comps " " w[i]
	if (n >= 3) pick("deb", w[1], w[2], comps)
}
END { if (!done) flush() }
'

# cargo_test_counts OUTPUT RC: "P F S" for the output of `cargo test` and
# its exit code, summed over every "test result:" line (one per test
# binary, doc-tests included; ignored tests count as skipped). A run that
# cannot report counts (compile error, crash, no test binary) is one
# failure, and so is a non-zero exit that no failed test explains.
cargo_test_counts() {
	local out=$1 rc=$2 p=0 f=0 s=0 n=0 a b c
	while read -r a b c; do
		p=$((p + a)) f=$((f + b)) s=$((s + c)) n=$((n + 1))
	done < <(printf '%s\n' "$out" | sed -n \
		's/^test result: [A-Za-z]*\. \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed; \([0-9][0-9]*\) ignored.*/\1 \2 \3/p')
	if [ $n = 0 ] || { [ "$rc" != 0 ] && [ $f = 0 ]; }; then
		f=$((f + 1))
	fi
	echo "$p $f $s"
}

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
# patch_bodies DIR: a hash of the diffs of DIR/series in order, without
# their commit messages, which do not change the tree.
patch_bodies() {
	local p
	[ -f "$1/series" ] || { echo none; return; }
	for p in $(grep -v '^#' "$1/series"); do
		sed -n '/^diff --git /,$p' "$1/$p"
	done | sha256sum | cut -c1-12
}

# kernel_hash ARCH [test|base|release]: the stamp of a kernel build; "base"
# is the unpatched flavour, which does not depend on patches/.
kernel_hash() {
	local arch=$1 flavour=${2:-test}
	{
		echo "$KVER $KPKG_VERSION ${KSRC:-} $LLVM_SUFFIX $(rustc --version) $BINDGEN_VERSION"
		cat "$RCT_ROOT/qemu/config/common.config" "$RCT_ROOT/qemu/config/$arch.config"
		case $flavour in
		test) patch_bodies "$RCT_ROOT/patches" ;;
		release) patch_bodies "$RCT_ROOT/patches"; cat "$RCT_ROOT/qemu/config/release.config" ;;
		*) echo "flavour $flavour" ;;
		esac
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
