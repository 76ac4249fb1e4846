// SPDX-License-Identifier: GPL-2.0
/*
 * rct_pkt: send crafted TCP/UDP packets.
 *
 *   rct_pkt IFNAME DSTMAC SRCIP DSTIP KIND [COUNT]
 *
 * (mostly malformed) frames over an AF_PACKET socket, so that they reach the
 * receiver's netfilter PRE_ROUTING hook with a valid IP header but a broken
 * transport header; the sender's own hooks never see them.  Packet i
 * (0-based) goes from port 20000 + i to port 9, so COUNT packets of a valid
 * kind are COUNT flows.
 *
 *   rct_pkt -r SRCIP DSTIP udp SPORT[+] DPORT[+] [COUNT]
 *   rct_pkt -r SRCIP DSTIP tcp SPORT[+] DPORT[+] FLAGS SEQ ACK [COUNT]
 *   rct_pkt -r SRCIP DSTIP icmp ID[+] SEQ [COUNT]
 *   rct_pkt -r SRCIP DSTIP icmptype TYPE ID[+] SEQ [COUNT]
 *   rct_pkt -r SRCIP[%IFNAME] DSTIP redirect QDST QSPORT QDPORT [COUNT]
 *   rct_pkt -r SRCIP DSTIP unreach QSPORT QDPORT [COUNT]
 *   rct_pkt -r SRCIP DSTIP proto NUM SPORT[+] DPORT[+] [COUNT]
 *   rct_pkt -r SRCIP DSTIP sctp SPORT[+] DPORT[+] VTAG CHUNKS [COUNT]
 *   rct_pkt -rh|-rd|-rc ... (as -r)
 *   rct_pkt -N NS <any of the above>
 *   rct_pkt [-N NS] -p FILE...
 *
 * -N NS runs in network namespace NS (/run/netns/NS, where `ip netns add`
 * puts it) by setns() alone: `ip netns exec` also makes a mount namespace
 * and remounts /sys, and in the KASAN guest under TCG cost 0.29 s a call
 * against 0.05 s. -p prints FILEs, as cat (/proc/net and /proc/sys/net
 * files are those of the reader's namespace; /sys is not switched).
 *
 * well-formed packets, one at a time, through a raw IP socket bound to
 * SRCIP: they pass the sender's LOCAL_OUT and POST_ROUTING hooks like any
 * locally generated packet, then the receiver's PRE_ROUTING and LOCAL_IN, so
 * both trackers see them.  A port or ID written N+ is N + i for packet i.
 * FLAGS are letters of FSRPAU (FIN SYN RST PSH ACK URG), e.g. S, SA, A, FA.
 * icmp is an echo request (ICMPv6 with IPv6 addresses) with identifier ID,
 * which the receiver answers: unlike ping, the same flow again and again.
 * icmptype sends the same message with another ICMP (ICMPv6) TYPE.
 * redirect sends an ICMPv6 redirect with hop limit 255 (SRCIP%IFNAME: a
 * link-local source on IFNAME) quoting a UDP packet DSTIP:QSPORT ->
 * QDST:QDPORT, as a router redirecting DSTIP's traffic to QDST.
 * unreach is an ICMP (ICMPv6) port unreachable quoting a UDP packet
 * DSTIP:QSPORT -> SRCIP:QDPORT, as if DSTIP had sent it and SRCIP had no
 * socket on QDPORT: an error related to that flow, if anyone tracks it.
 * sctp sends an SCTP packet with verification tag VTAG and CHUNKS, a comma
 * separated list of chunk names (data, init:TAG, init_ack:TAG, sack,
 * heartbeat, heartbeat_ack, abort[:t], shutdown, shutdown_ack, error,
 * cookie_echo, cookie_ack, shutdown_complete[:t]; :t sets the T flag),
 * with a valid CRC32c.
 * proto sends 20 bytes of IP protocol NUM (not TCP, UDP, ICMP or an IPv6
 * extension header) beginning with the two ports, as UDP-Lite (136, then
 * a full checksum coverage and a valid checksum), SCTP and DCCP do.
 * -rh and -rd (IPv6 only) send each packet with an extension header before
 * the transport header: hop-by-hop options (-rh) or destination options
 * (-rd), one PadN option, 8 bytes.
 * -rc sends each with a wrong transport checksum (not for ICMPv6, whose
 * checksum the kernel computes for raw sockets).
 * UDP and ICMP carry 12 bytes of data, TCP none; checksums are valid. They
 * are sent with TTL (hop limit) 63, the stack's own packets have 64.
 *
 * SRCIP and DSTIP are both IPv4 or both IPv6.
 *
 *   rct_pkt -c serve PORT
 *   rct_pkt -c DSTIP PORT COUNT BYTES
 *
 * TCP connections per second (make bench): the server accepts on IPv4 PORT
 * forever, reads each connection to its end and closes it; the client makes
 * COUNT connections one after the other, each: connect, send BYTES,
 * shutdown, read to the end, close. It prints "conns=COUNT ms=T cps=R"
 * (CLOCK_MONOTONIC, which counts guest instructions under -icount).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SPORT_BASE	20000
#define DPORT		9

enum kind {
	K_TCP_SYN, K_UDP, K_TCP_TRUNC, K_TCP_DOFF_SHORT, K_TCP_DOFF_LONG,
	K_TCP_SYNFIN, K_UDP_BADLEN, K_UDP_SHORTLEN, K_FRAG, K_FRAG_OFFSET,
};

static const char * const kind_names[] = {
	[K_TCP_SYN] = "tcp-syn",
	[K_UDP] = "udp",
	[K_TCP_TRUNC] = "tcp-trunc",
	[K_TCP_DOFF_SHORT] = "tcp-doff-short",
	[K_TCP_DOFF_LONG] = "tcp-doff-long",
	[K_TCP_SYNFIN] = "tcp-synfin",
	[K_UDP_BADLEN] = "udp-badlen",
	[K_UDP_SHORTLEN] = "udp-shortlen",
	[K_FRAG] = "frag",
	[K_FRAG_OFFSET] = "frag-offset",
};

/* Prints MSG (and errno's text where ERR) and exits with status 1. */
static void __attribute__((noreturn)) die(const char *msg, int err)
{
	if (err)
		fprintf(stderr, "rct_pkt: %s: %s\n", msg, strerror(errno));
	else
		fprintf(stderr, "rct_pkt: %s\n", msg);
	exit(1);
}

static void put16(uint8_t *p, unsigned int v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

static unsigned int csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/*
 * Builds the transport bytes of packet @i at @l4 and returns their length.
 * Sets *proto, and *frag to the fragment offset in bytes | 1 for "more
 * fragments" (0: not a fragment).
 */
static size_t build_l4(enum kind k, unsigned int i, uint8_t *l4, int *proto,
		       unsigned int *frag)
{
	size_t len;

	memset(l4, 0, 64);
	*frag = 0;
	switch (k) {
	case K_UDP:
	case K_UDP_BADLEN:
	case K_UDP_SHORTLEN:
	case K_FRAG:
	case K_FRAG_OFFSET:
		*proto = IPPROTO_UDP;
		len = 20;
		put16(l4, SPORT_BASE + i);
		put16(l4 + 2, DPORT);
		put16(l4 + 4, k == K_UDP_BADLEN ? 200 :
			      k == K_UDP_SHORTLEN ? 4 : len);
		memcpy(l4 + 8, "rconntrack!!", 12);
		if (k == K_FRAG || k == K_FRAG_OFFSET) {
			/* 16 bytes (a multiple of 8) of a 24-byte datagram. */
			len = 16;
			put16(l4 + 4, 24);
			*frag = k == K_FRAG ? 1 : 8;
		}
		return len;
	default:
		break;
	}
	*proto = IPPROTO_TCP;
	len = k == K_TCP_TRUNC ? 12 : 20;
	put16(l4, SPORT_BASE + i);
	put16(l4 + 2, DPORT);
	put16(l4 + 4, 0x1000 + i);		/* sequence number */
	l4[12] = (k == K_TCP_DOFF_SHORT ? 4 : k == K_TCP_DOFF_LONG ? 15 : 5)
		 << 4;
	l4[13] = k == K_TCP_SYNFIN ? 0x03 : 0x02;	/* [FIN|]SYN */
	put16(l4 + 14, 64240);			/* window */
	return len;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Parses "N" or "N+" (N + packet index) into *port and *inc. */
static void parse_port(const char *s, unsigned int *port, int *inc)
{
	unsigned long v;
	char *end;

	v = strtoul(s, &end, 10);
	*inc = 0;
	if (end != s && *end == '+') {
		*inc = 1;
		end++;
	}
	if (end == s || *end || v > 65535)
		die("bad port (N or N+, 0..65535)", 0);
	*port = v;
}

static unsigned long parse_ulong(const char *s, unsigned long max,
				 const char *what)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end || errno || v > max)
		die(what, 0);
	return v;
}

/* TCP flags from letters of "FSRPAU", bit i for letter i. */
static unsigned int parse_flags(const char *s)
{
	static const char letters[] = "FSRPAU";
	unsigned int flags = 0;
	const char *l;

	if (!*s)
		die("empty FLAGS", 0);
	for (; *s; s++) {
		l = strchr(letters, *s);
		if (!l)
			die("bad FLAGS (letters of FSRPAU)", 0);
		flags |= 1u << (l - letters);
	}
	return flags;
}

/* CRC32c (Castagnoli, reflected), as SCTP's checksum. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
	}
	return ~c;
}

static const struct {
	const char *name;
	uint8_t type;
} sctp_chunks[] = {
	{ "data", 0 }, { "init", 1 }, { "init_ack", 2 }, { "sack", 3 },
	{ "heartbeat", 4 }, { "heartbeat_ack", 5 }, { "abort", 6 },
	{ "shutdown", 7 }, { "shutdown_ack", 8 }, { "error", 9 },
	{ "cookie_echo", 10 }, { "cookie_ack", 11 },
	{ "shutdown_complete", 14 },
};

/*
 * SCTP chunks from "NAME[:ARG],...": init and init_ack take the initiate
 * tag, abort and shutdown_complete ":t" for the T flag. Each chunk is its
 * header alone (4 bytes), an INIT or INIT ACK its 16-byte fixed part too.
 * Returns the bytes written at p (at most max), or exits.
 */
static size_t sctp_build(uint8_t *p, size_t max, const char *spec)
{
	char buf[256], *tok, *save = NULL, *arg;
	size_t n = 0, i, len;

	if (strlen(spec) >= sizeof(buf))
		die("CHUNKS too long", 0);
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		arg = strchr(tok, ':');
		if (arg)
			*arg++ = 0;
		for (i = 0; i < sizeof(sctp_chunks) / sizeof(sctp_chunks[0]); i++)
			if (!strcmp(tok, sctp_chunks[i].name))
				break;
		if (i == sizeof(sctp_chunks) / sizeof(sctp_chunks[0]))
			die("unknown SCTP chunk", 0);
		len = sctp_chunks[i].type <= 2 && sctp_chunks[i].type ? 20 : 4;
		if (n + len > max)
			die("too many SCTP chunks", 0);
		memset(p + n, 0, len);
		p[n] = sctp_chunks[i].type;
		put16(p + n + 2, len);
		if (len == 20) {
			if (!arg)
				die("init and init_ack need :TAG", 0);
			put32(p + n + 4, parse_ulong(arg, 0xffffffffUL, "bad TAG"));
			put16(p + n + 12, 1);	/* outbound streams */
			put16(p + n + 14, 1);	/* inbound streams */
		} else if (arg && !strcmp(arg, "t")) {
			p[n + 1] = 1;
		} else if (arg) {
			die("bad chunk argument", 0);
		}
		n += len;
	}
	return n;
}

/*
 * A quoted IPv6 UDP packet at q, as ICMPv6 errors and redirects carry it:
 * the IPv6 header (from -> to, UDP, payload length plen) and the first 8
 * bytes of the UDP header.
 */
static void quote_udp6(uint8_t *q, const uint8_t *from, const uint8_t *to,
		       unsigned int sport, unsigned int dport, unsigned int plen)
{
	q[0] = 0x60;
	put16(q + 4, plen);
	q[6] = IPPROTO_UDP;
	q[7] = 64;
	memcpy(q + 8, from, 16);
	memcpy(q + 24, to, 16);
	put16(q + 40, sport);
	put16(q + 42, dport);
	put16(q + 44, plen);
}

/* rct_pkt -r ...: well-formed segments through a raw IP socket. */
static int raw_main(int argc, char **argv)
{
	unsigned int sport, dport, flags = 0, count = 1, i;
	unsigned long seq = 0, ack = 0;
	int sinc, dinc, v6, proto, fd, nfixed, unreach = 0, ttl = 63, ext = 0;
	int generic = 0, pi = 5;	/* pi: argv index of SPORT */
	int badsum = !strcmp(argv[1], "-rc");
	int icmp_type = -1;	/* icmptype: the type instead of echo's */
	int redirect = 0;
	uint8_t qdst[16];
	char srcip[INET6_ADDRSTRLEN + IFNAMSIZ + 2], *scope;
	struct sockaddr_storage s_addr, d_addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s_addr;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&d_addr;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&s_addr;
	struct sockaddr_in *d4 = (struct sockaddr_in *)&d_addr;
	uint8_t src[16], dst[16], l4[256];
	socklen_t alen;
	size_t len;
	uint32_t sum;

	if (argc < 7)
		goto usage;
	if (!strcmp(argv[1], "-rh"))
		ext = IPV6_HOPOPTS;
	else if (!strcmp(argv[1], "-rd"))
		ext = IPV6_DSTOPTS;
	if (!strcmp(argv[4], "udp")) {
		proto = IPPROTO_UDP;
		nfixed = 7;
	} else if (!strcmp(argv[4], "tcp")) {
		proto = IPPROTO_TCP;
		nfixed = 10;
	} else if (!strcmp(argv[4], "icmp")) {
		proto = IPPROTO_ICMP;	/* IPPROTO_ICMPV6 for IPv6, below */
		nfixed = 7;
	} else if (!strcmp(argv[4], "unreach")) {
		proto = IPPROTO_ICMP;
		unreach = 1;
		nfixed = 7;
	} else if (!strcmp(argv[4], "redirect") && argc >= 8) {
		if (inet_pton(AF_INET6, argv[5], qdst) != 1)
			die("bad QDST (IPv6 only)", 0);
		proto = IPPROTO_ICMP;	/* ICMPv6 below */
		redirect = 1;
		ttl = 255;
		pi = 6;
		nfixed = 8;
	} else if (!strcmp(argv[4], "icmptype") && argc >= 8) {
		icmp_type = parse_ulong(argv[5], 255, "bad TYPE");
		proto = IPPROTO_ICMP;
		pi = 6;
		nfixed = 8;
	} else if (!strcmp(argv[4], "sctp")) {
		proto = IPPROTO_SCTP;
		nfixed = 9;
	} else if (!strcmp(argv[4], "proto") && argc >= 8) {
		proto = parse_ulong(argv[5], 255, "bad PROTO");
		switch (proto) {
		case 0: case IPPROTO_ICMP: case IPPROTO_TCP: case IPPROTO_UDP:
		case 43: case 44: case 50: case 51: case IPPROTO_ICMPV6:
		case 60: case 135: case 139: case 140:
			die("PROTO must not have a builder of its own or be an IPv6 extension header", 0);
		}
		generic = 1;
		pi = 6;
		nfixed = 8;
	} else {
		goto usage;
	}
	if (argc != nfixed && argc != nfixed + 1)
		goto usage;
	/* ICMP: the identifier is "sport", the sequence number "dport". */
	parse_port(argv[pi], &sport, &sinc);
	parse_port(argv[pi + 1], &dport, &dinc);
	if (proto == IPPROTO_ICMP && !unreach && dinc)
		die("bad SEQ", 0);
	if (proto == IPPROTO_TCP) {
		flags = parse_flags(argv[7]);
		seq = parse_ulong(argv[8], 0xffffffffUL, "bad SEQ");
		ack = parse_ulong(argv[9], 0xffffffffUL, "bad ACK");
	}
	if (argc == nfixed + 1)
		count = parse_ulong(argv[nfixed], 40000, "bad COUNT");
	if (!count)
		die("bad COUNT", 0);
	if ((sinc && sport + count - 1 > 65535) ||
	    (dinc && dport + count - 1 > 65535))
		die("ports beyond 65535", 0);

	memset(&s_addr, 0, sizeof(s_addr));
	memset(&d_addr, 0, sizeof(d_addr));
	/* SRCIP%IFNAME: an IPv6 link-local source on interface IFNAME. */
	if (strlen(argv[2]) >= sizeof(srcip))
		die("SRCIP too long", 0);
	strcpy(srcip, argv[2]);
	scope = strchr(srcip, '%');
	if (scope)
		*scope++ = 0;
	if (inet_pton(AF_INET, srcip, src) == 1 &&
	    inet_pton(AF_INET, argv[3], dst) == 1) {
		v6 = 0;
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, src, 4);
		memcpy(&d4->sin_addr, dst, 4);
		alen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, srcip, src) == 1 &&
		   inet_pton(AF_INET6, argv[3], dst) == 1) {
		v6 = 1;
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, src, 16);
		memcpy(&d6->sin6_addr, dst, 16);
		if (scope) {
			s6->sin6_scope_id = if_nametoindex(scope);
			if (!s6->sin6_scope_id)
				die("SRCIP%IFNAME: no such interface", 1);
		}
		alen = sizeof(*s6);
	} else {
		die("SRCIP and DSTIP must be both IPv4 or both IPv6", 0);
	}
	if (ext && !v6)
		die("extension headers (-rh, -rd) are IPv6 only", 0);
	if (proto == IPPROTO_ICMP && v6)
		proto = IPPROTO_ICMPV6;

	/* The kernel writes the IP header; the transport bytes are ours. */
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, proto);
	if (fd < 0)
		die("socket(SOCK_RAW)", 1);
	if (bind(fd, (struct sockaddr *)&s_addr, alen) < 0)
		die("bind SRCIP", 1);
	/* TTL 63: rules can tell these from the stack's own packets (64). */
	if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, sizeof(ttl)) < 0)
		die("setsockopt(TTL)", 1);
	if (ext) {
		/* Next header (the kernel's), length 0 (8 bytes), PadN of 4. */
		static const uint8_t opt[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };

		if (setsockopt(fd, IPPROTO_IPV6, ext, opt, sizeof(opt)) < 0)
			die("setsockopt(IPV6_HOPOPTS/IPV6_DSTOPTS)", 1);
	}

	for (i = 0; i < count; i++) {
		memset(l4, 0, sizeof(l4));
		put16(l4, sport + (sinc ? i : 0));
		put16(l4 + 2, dport + (dinc ? i : 0));
		if (redirect) {
			/*
			 * ICMPv6 redirect (type 137): target and destination
			 * QDST, then a redirected-header option quoting a UDP
			 * packet DSTIP:QSPORT -> QDST:QDPORT (IPv6 header, UDP
			 * header, 8 bytes of payload).
			 */
			uint8_t *o = l4 + 40, *q = l4 + 48;

			if (!v6)
				die("redirect is IPv6 only", 0);
			len = 40 + 8 + 56;
			memset(l4, 0, len);
			l4[0] = 137;
			memcpy(l4 + 8, qdst, 16);
			memcpy(l4 + 24, qdst, 16);
			o[0] = 4;		/* redirected header */
			o[1] = (8 + 56) / 8;
			quote_udp6(q, dst, qdst, sport + (sinc ? i : 0),
				   dport + (dinc ? i : 0), 16);
		} else if (unreach && v6) {
			/* ICMPv6 port unreachable, then the quoted IPv6
			 * header (DSTIP -> SRCIP, UDP, 8 + 12 bytes of
			 * payload) and the first 8 bytes of its UDP header.
			 */
			uint8_t *q = l4 + 8;

			len = 56;
			memset(l4, 0, 8);
			l4[0] = 1;
			l4[1] = 4;
			quote_udp6(q, dst, src, sport + (sinc ? i : 0),
				   dport + (dinc ? i : 0), 20);
		} else if (unreach) {
			/* Port unreachable, then the quoted IPv4 header
			 * (DSTIP -> SRCIP, UDP, 40 bytes long) and the first
			 * 8 bytes of its UDP header.
			 */
			uint8_t *q = l4 + 8;

			len = 36;
			memset(l4, 0, 8);
			l4[0] = 3;
			l4[1] = 3;
			q[0] = 0x45;
			put16(q + 2, 40);
			put16(q + 6, 0x4000);	/* DF */
			q[8] = 64;
			q[9] = IPPROTO_UDP;
			memcpy(q + 12, dst, 4);
			memcpy(q + 16, src, 4);
			put16(q + 10, csum_fold(csum_add(0, q, 20)));
			put16(q + 20, sport + (sinc ? i : 0));
			put16(q + 22, dport + (dinc ? i : 0));
			put16(q + 24, 20);
		} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
			/* Echo request: type, code, checksum, id, sequence. */
			len = 20;
			l4[0] = icmp_type >= 0 ? icmp_type :
				proto == IPPROTO_ICMP ? 8 : 128;
			l4[1] = 0;
			put16(l4 + 2, 0);
			put16(l4 + 4, sport + (sinc ? i : 0));
			put16(l4 + 6, dport);
			memcpy(l4 + 8, "rconntrack!!", 12);
		} else if (proto == IPPROTO_UDP) {
			len = 20;
			put16(l4 + 4, len);
			memcpy(l4 + 8, "rconntrack!!", 12);
		} else if (proto == IPPROTO_SCTP && !generic) {
			uint32_t c;

			put32(l4 + 4, parse_ulong(argv[7], 0xffffffffUL, "bad VTAG"));
			len = 12 + sctp_build(l4 + 12, sizeof(l4) - 12, argv[8]);
			c = crc32c(l4, len);
			if (badsum)
				c ^= 1;
			/* Little-endian, as the kernel's cpu_to_le32(). */
			l4[8] = c;
			l4[9] = c >> 8;
			l4[10] = c >> 16;
			l4[11] = c >> 24;
		} else if (generic) {
			/* UDP-Lite: coverage 0 (all), checksummed below. */
			len = 20;
			memcpy(l4 + 8, "rconntrack!!", 12);
		} else {
			len = 20;
			put32(l4 + 4, seq);
			put32(l4 + 8, ack);
			l4[12] = 5 << 4;		/* data offset */
			l4[13] = flags;
			put16(l4 + 14, 64240);		/* window */
		}
		/* The pseudo-header, except for ICMP over IPv4. */
		sum = 0;
		if (proto != IPPROTO_ICMP) {
			sum = csum_add(sum, src, v6 ? 16 : 4);
			sum = csum_add(sum, dst, v6 ? 16 : 4);
			sum += proto + len;
		}
		sum = csum_fold(csum_add(sum, l4, len));
		if ((proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE) && !sum)
			sum = 0xffff;
		/* -rc: wrong, and never 0 (a UDP datagram without one). */
		if (badsum)
			sum = (sum ^ 0x00ff) ? (sum ^ 0x00ff) : 0x5555;
		if ((!generic && proto != IPPROTO_SCTP) || proto == IPPROTO_UDPLITE)
			put16(l4 + (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ? 6 :
				    proto == IPPROTO_TCP ? 16 : 2), sum);
		if (sendto(fd, l4, len, 0, (struct sockaddr *)&d_addr, alen) !=
		    (ssize_t)len)
			die("sendto", 1);
	}
	close(fd);
	return 0;

usage:
	fprintf(stderr,
		"usage: %s -r SRCIP DSTIP udp SPORT[+] DPORT[+] [COUNT]\n"
		"       %s -r SRCIP DSTIP tcp SPORT[+] DPORT[+] FLAGS SEQ ACK [COUNT]\n"
		"       %s -r SRCIP DSTIP icmp ID[+] SEQ [COUNT]\n"
		"       %s -r SRCIP DSTIP icmptype TYPE ID[+] SEQ [COUNT]\n"
		"       %s -r SRCIP[%%IFNAME] DSTIP redirect QDST QSPORT QDPORT [COUNT]\n"
		"       %s -r SRCIP DSTIP unreach QSPORT QDPORT [COUNT]\n"
		"       %s -r SRCIP DSTIP proto NUM SPORT[+] DPORT[+] [COUNT]\n"
		"       %s -r SRCIP DSTIP sctp SPORT[+] DPORT[+] VTAG CHUNKS [COUNT]\n"
		"       (-rh, -rd instead of -r: IPv6 with a hop-by-hop or\n"
		"       destination options header; -rc: a wrong checksum)\n",
		argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
	return 2;
}

/* Joins network namespace NAME (/run/netns/NAME), or exits. */
static void enter_netns(const char *name)
{
	char path[256];
	int fd;

	if (!*name || strchr(name, '/') ||
	    snprintf(path, sizeof(path), "/run/netns/%s", name) >= (int)sizeof(path))
		die("bad namespace name", 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path, 1);
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns", 1);
	close(fd);
}

/* -p: the N files in NAMES to stdout, as cat; 1 if one cannot be read. */
static int print_files(int n, char **names)
{
	char buf[8192];
	int i, fd, rc = 0;
	ssize_t r;

	if (n < 1)
		die("-p: no file", 0);
	for (i = 0; i < n; i++) {
		fd = open(names[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "rct_pkt: %s: %s\n", names[i], strerror(errno));
			rc = 1;
			continue;
		}
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			if (fwrite(buf, 1, r, stdout) != (size_t)r)
				die("write", 1);
		if (r < 0) {
			fprintf(stderr, "rct_pkt: %s: %s\n", names[i], strerror(errno));
			rc = 1;
		}
		close(fd);
	}
	if (fflush(stdout))
		die("write", 1);
	return rc;
}

static int conn_serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	char buf[4096];
	int one = 1, l, c;

	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 128)) {
		perror("rct_pkt -c serve");
		return 1;
	}
	for (;;) {
		c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("rct_pkt -c serve: accept");
			return 1;
		}
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
}

static int conn_client(const char *dst, int port, unsigned int count,
		       size_t bytes)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timespec t0, t1;
	static char buf[65536];
	unsigned int i;
	long long ms;
	size_t left;
	ssize_t n;
	int fd;

	if (inet_pton(AF_INET, dst, &a.sin_addr) != 1 || bytes > sizeof(buf)) {
		fprintf(stderr, "rct_pkt -c: bad address or size\n");
		return 2;
	}
	memset(buf, 'x', sizeof(buf));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			fprintf(stderr, "rct_pkt -c: connection %u: %s\n", i, strerror(errno));
			return 1;
		}
		for (left = bytes; left; left -= n) {
			n = write(fd, buf, left);
			if (n <= 0) {
				fprintf(stderr, "rct_pkt -c: write: %s\n", strerror(errno));
				return 1;
			}
		}
		shutdown(fd, SHUT_WR);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms <= 0) {
		fprintf(stderr, "rct_pkt -c: no time measured\n");
		return 1;
	}
	printf("conns=%u ms=%lld cps=%lld\n", count, ms, count * 1000LL / ms);
	return 0;
}

static int conn_main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[2], "serve"))
		return conn_serve(atoi(argv[3]));
	if (argc == 6) {
		unsigned long n = strtoul(argv[4], NULL, 10);

		if (n == 0 || n > 1000000) {
			fprintf(stderr, "rct_pkt -c: COUNT must be 1..1000000\n");
			return 2;
		}
		return conn_client(argv[2], atoi(argv[3]), n, strtoul(argv[5], NULL, 10));
	}
	fprintf(stderr, "usage: %s -c serve PORT | %s -c DSTIP PORT COUNT BYTES\n",
		argv[0], argv[0]);
	return 2;
}

int main(int argc, char **argv)
{
	uint8_t frame[256], src[16], dst[16], dmac[6], *ip, *l4;
	unsigned int count = 1, i, frag, m[6];
	struct sockaddr_ll sll;
	int k, fd, v6, proto;
	struct ifreq ifr;
	size_t l4len, iplen, hlen, csum_off;
	uint32_t sum;
	char *end, extra;

	/* -N NS: the rest in namespace NS (argv[0] kept for messages). */
	while (argc > 2 && !strcmp(argv[1], "-N")) {
		enter_netns(argv[2]);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	if (argc > 1 && !strcmp(argv[1], "-p"))
		return print_files(argc - 2, argv + 2);
	if (argc > 1 && (!strcmp(argv[1], "-r") || !strcmp(argv[1], "-rh") ||
			 !strcmp(argv[1], "-rd") || !strcmp(argv[1], "-rc")))
		return raw_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "-c"))
		return conn_main(argc, argv);
	if (argc < 6 || argc > 7) {
		fprintf(stderr,
			"usage: %s IFNAME DSTMAC SRCIP DSTIP KIND [COUNT]\n"
			"       %s -r SRCIP DSTIP udp|tcp ... (see rct_pkt.c)\n",
			argv[0], argv[0]);
		return 2;
	}
	for (k = 0; k <= K_FRAG_OFFSET; k++)
		if (!strcmp(argv[5], kind_names[k]))
			break;
	if (k > K_FRAG_OFFSET)
		die("unknown KIND", 0);
	if (argc == 7) {
		count = strtoul(argv[6], &end, 10);
		if (*argv[6] == '\0' || *end || count < 1 || count > 40000)
			die("bad COUNT", 0);
	}
	if (sscanf(argv[2], "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2],
		   &m[3], &m[4], &m[5], &extra) != 6)
		die("bad DSTMAC", 0);
	for (i = 0; i < 6; i++)
		dmac[i] = m[i];
	if (inet_pton(AF_INET, argv[3], src) == 1 &&
	    inet_pton(AF_INET, argv[4], dst) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, argv[3], src) == 1 &&
		 inet_pton(AF_INET6, argv[4], dst) == 1)
		v6 = 1;
	else
		die("SRCIP and DSTIP must be both IPv4 or both IPv6", 0);

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		die("socket(AF_PACKET)", 1);
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(argv[1]) >= sizeof(ifr.ifr_name))
		die("IFNAME too long", 0);
	memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		die("SIOCGIFHWADDR", 1);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = if_nametoindex(argv[1]);
	if (!sll.sll_ifindex)
		die("if_nametoindex", 1);
	sll.sll_protocol = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);

	memcpy(frame, dmac, 6);
	memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
	put16(frame + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
	ip = frame + 14;

	for (i = 0; i < count; i++) {
		hlen = v6 ? 40 : 20;
		/* IPv6 fragments: a fragment header before the UDP bytes. */
		if (v6 && (k == K_FRAG || k == K_FRAG_OFFSET))
			hlen += 8;
		l4 = ip + hlen;
		l4len = build_l4(k, i, l4, &proto, &frag);
		iplen = hlen + l4len;

		/* Transport checksum over what is there (not for fragments). */
		csum_off = proto == IPPROTO_UDP ? 6 : 16;
		if (!frag && l4len >= csum_off + 2) {
			sum = csum_add(0, src, v6 ? 16 : 4);
			sum = csum_add(sum, dst, v6 ? 16 : 4);
			sum += proto + l4len;
			sum = csum_fold(csum_add(sum, l4, l4len));
			if (proto == IPPROTO_UDP && !sum)
				sum = 0xffff;
			put16(l4 + csum_off, sum);
		}

		memset(ip, 0, hlen);
		if (v6) {
			ip[0] = 0x60;
			put16(ip + 4, iplen - 40);
			ip[6] = frag ? 44 : proto;	/* next header */
			ip[7] = 64;			/* hop limit */
			memcpy(ip + 8, src, 16);
			memcpy(ip + 24, dst, 16);
			if (frag) {
				ip[40] = proto;
				/* offset in 8-byte units << 3 | M */
				put16(ip + 42, frag);
				put16(ip + 44, getpid());
				put16(ip + 46, i);
			}
		} else {
			ip[0] = 0x45;
			put16(ip + 2, iplen);
			put16(ip + 4, (getpid() << 8) + i);	/* IP ID */
			/* MF is 0x2000; the offset is in 8-byte units. */
			put16(ip + 6, ((frag & 1) << 13) | (frag >> 3));
			ip[8] = 64;				/* TTL */
			ip[9] = proto;
			memcpy(ip + 12, src, 4);
			memcpy(ip + 16, dst, 4);
			put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
		}

		if (sendto(fd, frame, 14 + iplen, 0, (struct sockaddr *)&sll,
			   sizeof(sll)) != (ssize_t)(14 + iplen))
			die("sendto", 1);
	}
	close(fd);
	return 0;
}
