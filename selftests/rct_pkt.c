// SPDX-License-Identifier: GPL-2.0
/*
 * rct_pkt: send crafted (mostly malformed) TCP/UDP frames over an AF_PACKET
 * socket, so that they reach the receiver's netfilter PRE_ROUTING hook with
 * a valid IP header but a broken transport header.
 *
 * Usage: rct_pkt IFNAME DSTMAC SRCIP DSTIP KIND [COUNT]
 *
 * SRCIP and DSTIP are both IPv4 or both IPv6.  Packet i (0-based) goes from
 * port 20000 + i to port 9, so COUNT packets of a valid kind are COUNT flows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
static void die(const char *msg, int err)
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

	if (argc < 6 || argc > 7) {
		fprintf(stderr,
			"usage: %s IFNAME DSTMAC SRCIP DSTIP KIND [COUNT]\n",
			argv[0]);
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
