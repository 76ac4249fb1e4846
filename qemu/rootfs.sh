#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest userland for arch $1 (x86_64|i386) from Debian packages of
# that architecture: busybox, bash, iproute2, nftables and their libraries.
# Prints the path of a gzip'd cpio, cached by a hash of this script.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: rootfs.sh x86_64|i386}
case $arch in
x86_64) darch=amd64 ;;
i386) darch=i386 ;;
*) die "unknown arch $arch" ;;
esac
need_cmd apt-get apt
need_cmd dpkg-deb dpkg
need_cmd cpio cpio
need_cmd gzip gzip
PKGS="busybox-static bash coreutils iproute2 nftables socat libc-bin"
# RCT_ROOTFS_EXTRA: more packages, in an image of their own (make profile
# adds linux-perf; make check and make bench never do).
PKGS+=${RCT_ROOTFS_EXTRA:+ $RCT_ROOTFS_EXTRA}
hash=$( { echo "$PKGS $darch"; cat "$0" "$RCT_ROOT/qemu/init"; } | sha256sum | cut -c1-12)
out=$CACHE/rootfs/$arch-$hash.cpio.gz
if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$CACHE/rootfs"
a=$CACHE/apt-$darch
mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/debs"
# The machine's own Debian mirror (or $DEBIAN_MIRROR): see debian_mirror.
# Not part of the cache hash: any mirror serves the same packages.
mirror=$(debian_mirror)
echo "deb $mirror bookworm main" > "$a/sources.list"
: > "$a/status"
APTO=(-o Dir::Etc::sourcelist="$a/sources.list" -o Dir::Etc::sourceparts=/dev/null
	-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a" -o Dir::Cache::archives="$a/archives"
	-o Dir::State::status="$a/status" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
	-o APT::Architecture="$darch" -o APT::Architectures="$darch")
log "fetching $darch packages for the guest from $mirror"
apt-get -q "${APTO[@]}" update >/dev/null
# The dependency closure, without recommends; packages only needed by
# maintainer scripts (debconf, perl) are skipped: nothing is configured.
deps=$(apt-cache "${APTO[@]}" depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends $PKGS |
	grep -v '^ ' | grep -v '^<' | sed "s/:$darch\$//" | sort -u |
	grep -vE '^(debconf|perl-base|debianutils|dpkg|tar|base-files|init-system-helpers|libcap2-bin|libpam.*|libaudit.*|libsemanage.*|libdb5\.3|iproute2-doc|cdebconf|gcc-12-base|libgcc-s1|mawk|sensible-utils)$' || true)
(cd "$a/debs" && rm -f ./*.deb && apt-get -q "${APTO[@]}" download $deps libgcc-s1 gcc-12-base >/dev/null)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for d in "$a"/debs/*.deb; do
	dpkg-deb -x "$d" "$root"
done
rm -rf "$root"/usr/share/{doc,man,info,locale,bash-completion,zsh} "$root"/usr/lib/*/gconv
mkdir -p "$root"/{proc,sys,dev,tmp,run,root,etc,var/run/netns,sys/kernel/debug,lib/modules}
# Merged /usr: make sure /bin, /sbin, /lib point where the libraries are.
for d in bin sbin lib lib32 lib64; do
	if [ -d "$root/$d" ] && [ ! -L "$root/$d" ] && [ -d "$root/usr/$d" ]; then
		cp -a "$root/$d/." "$root/usr/$d/" && rm -rf "${root:?}/$d"
	fi
	[ -e "$root/usr/$d" ] && [ ! -e "$root/$d" ] && ln -s "usr/$d" "$root/$d"
done
mkdir -p "$root/usr/bin" "$root/usr/sbin"
# busybox provides every other command: /init links its applets at boot
# (busybox --install does not replace bash, ip or nft).
[ -x "$root/usr/bin/busybox" ] || die "no busybox in the $darch packages"
ln -sf bash "$root/usr/bin/sh"
cat > "$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/bash
PW
echo "root:x:0:" > "$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
cp "$RCT_ROOT/qemu/init" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
log "guest rootfs for $arch: $out ($(du -h "$out" | cut -f1))"
echo "$out"
