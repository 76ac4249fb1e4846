// SPDX-License-Identifier: GPL-2.0
/*
 * rconntrack C glue.
 *
 * Rust cannot call static inline functions or macros, and the 7.3 bindings
 * crate does not describe the netfilter structures.  This file wraps exactly
 * those, one line each where possible, and holds the few C objects whose
 * layout only C knows (nf_hook_ops, pernet_operations).  It contains no
 * logic: every decision is made by the Rust code in kernel_ext/.
 */

#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/jiffies.h>
#include <linux/netfilter.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/seq_file_net.h>
#include <linux/siphash.h>
#include <linux/sctp.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <net/netns/generic.h>
#include <net/sctp/checksum.h>

#include "rconntrack_glue.h"

/* --- netfilter hooks --- */

struct nf_hook_ops *rct_nf_ops_alloc(unsigned int n)
{
	return kcalloc(n, sizeof(struct nf_hook_ops), GFP_KERNEL);
}

void rct_nf_ops_set(struct nf_hook_ops *ops, unsigned int i, rct_hook_fn *fn,
		    void *priv, u8 pf, unsigned int hooknum, int priority)
{
	ops[i].hook = fn;
	ops[i].priv = priv;
	ops[i].pf = pf;
	ops[i].hooknum = hooknum;
	ops[i].priority = priority;
}

/* The layout Rust mirrors (kernel_ext/glue.rs, HookArgs). */
static_assert(sizeof(struct rct_hook_args) == 16);
static_assert(offsetof(struct rct_hook_args, len) == 4);
static_assert(offsetof(struct rct_hook_args, net_off) == 8);
static_assert(offsetof(struct rct_hook_args, pf) == 12);
static_assert(offsetof(struct rct_hook_args, in_loopback) == 13);

/* What a hook needs of its state and packet: one call per packet. */
void rct_hook_args(const struct nf_hook_state *state,
		   const struct sk_buff *skb, struct rct_hook_args *a)
{
	a->hook = state->hook;
	a->len = skb->len;
	a->net_off = skb_network_offset(skb);
	a->pf = state->pf;
	a->in_loopback = state->in && (state->in->flags & IFF_LOOPBACK);
}

int rct_nf_register(struct net *net, const struct nf_hook_ops *ops,
		    unsigned int n)
{
	return nf_register_net_hooks(net, ops, n);
}

void rct_nf_unregister(struct net *net, const struct nf_hook_ops *ops,
		       unsigned int n)
{
	nf_unregister_net_hooks(net, ops, n);
}

/* --- defragmentation --- */

/*
 * nf_defrag_ipv4 and nf_defrag_ipv6 reassemble fragments at priority -400,
 * before the track hook. Their functions are looked up when the module
 * loads (symbol_request() loads their modules as modprobe would) rather
 * than linked, so that insmod needs nothing loaded first; and not from a
 * pernet init, which runs under the pernet_ops_rwsem that loading them
 * takes.
 */
static int (*rct_defrag4_enable)(struct net *net);
static void (*rct_defrag4_disable)(struct net *net);
static int (*rct_defrag6_enable)(struct net *net);
static void (*rct_defrag6_disable)(struct net *net);

void rct_defrag_put(void)
{
	if (rct_defrag4_enable)
		symbol_put(nf_defrag_ipv4_enable);
	if (rct_defrag4_disable)
		symbol_put(nf_defrag_ipv4_disable);
	if (rct_defrag6_enable)
		symbol_put(nf_defrag_ipv6_enable);
	if (rct_defrag6_disable)
		symbol_put(nf_defrag_ipv6_disable);
	rct_defrag4_enable = NULL;
	rct_defrag4_disable = NULL;
	rct_defrag6_enable = NULL;
	rct_defrag6_disable = NULL;
}

int rct_defrag_get(void)
{
	rct_defrag4_enable = symbol_request(nf_defrag_ipv4_enable);
	rct_defrag4_disable = symbol_request(nf_defrag_ipv4_disable);
	rct_defrag6_enable = symbol_request(nf_defrag_ipv6_enable);
	rct_defrag6_disable = symbol_request(nf_defrag_ipv6_disable);
	if (rct_defrag4_enable && rct_defrag4_disable &&
	    rct_defrag6_enable && rct_defrag6_disable)
		return 0;
	pr_err("rconntrack: nf_defrag_ipv4 and nf_defrag_ipv6 are needed (CONFIG_NF_DEFRAG_IPV4, CONFIG_NF_DEFRAG_IPV6)\n");
	rct_defrag_put();
	return -ENOENT;
}

int rct_defrag_enable(struct net *net)
{
	int err = rct_defrag4_enable(net);

	if (err)
		return err;
	err = rct_defrag6_enable(net);
	if (err)
		rct_defrag4_disable(net);
	return err;
}

void rct_defrag_disable(struct net *net)
{
	rct_defrag6_disable(net);
	rct_defrag4_disable(net);
}

/* --- network namespaces --- */

static unsigned int rct_net_id __read_mostly;

static int rct_net_init(struct net *net)
{
	return rct_rust_net_init(net);
}

static void rct_net_pre_exit(struct net *net)
{
	rct_rust_net_pre_exit(net);
}

static void rct_net_exit(struct net *net)
{
	rct_rust_net_exit(net);
}

/* pre_exit unregisters hooks; the core waits a grace period before exit. */
static struct pernet_operations rct_net_ops = {
	.init = rct_net_init,
	.pre_exit = rct_net_pre_exit,
	.exit = rct_net_exit,
	.id = &rct_net_id,
	.size = sizeof(void *),
};

int rct_pernet_register(void)
{
	return register_pernet_subsys(&rct_net_ops);
}

void rct_pernet_unregister(void)
{
	unregister_pernet_subsys(&rct_net_ops);
}

void **rct_net_slot(struct net *net)
{
	return net_generic(net, rct_net_id);
}

bool rct_net_is_init(const struct net *net)
{
	return net_eq(net, &init_net);
}

unsigned int rct_net_inum(const struct net *net)
{
	return net->ns.inum;
}

/* --- procfs --- */

struct seq_operations *rct_seq_ops_alloc(rct_seq_start_fn *start,
					 rct_seq_stop_fn *stop,
					 rct_seq_next_fn *next,
					 rct_seq_show_fn *show)
{
	struct seq_operations *ops = kzalloc(sizeof(*ops), GFP_KERNEL);

	if (ops) {
		ops->start = start;
		ops->stop = stop;
		ops->next = next;
		ops->show = show;
	}
	return ops;
}

struct proc_dir_entry *rct_proc_create_seq(struct net *net, const char *name,
					   bool stat, umode_t mode,
					   const struct seq_operations *ops,
					   void *data)
{
	struct proc_dir_entry *parent = stat ? net->proc_net_stat : net->proc_net;

	return proc_create_net_data(name, mode, parent, ops,
				    sizeof(struct seq_net_private), data);
}

void rct_proc_remove(struct proc_dir_entry *pde)
{
	proc_remove(pde);
}

void *rct_seq_data(struct seq_file *m)
{
	return pde_data(file_inode(m->file));
}

/* --- sk_buff --- */

bool rct_skb_is_gso_tcp(const struct sk_buff *skb)
{
	return skb_is_gso(skb) && skb_is_gso_tcp(skb);
}

/*
 * Whether the transport checksum of protocol proto at dataoff (from
 * skb->data) adds up, checked as nf_conntrack checks it where packets enter
 * (nf_checksum() at PRE_ROUTING; SCTP's CRC32c as sctp_error()), which
 * also records a good result in the skb's checksum state.
 */
bool rct_skb_csum_ok(struct sk_buff *skb, unsigned int dataoff, u8 proto,
		     u8 pf)
{
	struct sctphdr *sh;

	if (proto != IPPROTO_SCTP)
		return !nf_checksum(skb, NF_INET_PRE_ROUTING, dataoff, proto, pf);
	if (skb->ip_summed != CHECKSUM_NONE)
		return true;
	/* sctp_compute_cksum() zeroes the field for a moment. */
	if (skb_ensure_writable(skb, dataoff + sizeof(*sh)))
		return false;
	sh = (struct sctphdr *)(skb->data + dataoff);
	if (sh->checksum != sctp_compute_cksum(skb, dataoff))
		return false;
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	return true;
}

/*
 * skb_header_pointer(): the bytes in the linear area, or copied into buf;
 * NULL if the packet is shorter.
 */
const void *rct_skb_header(const struct sk_buff *skb, int offset, int len,
			   void *buf)
{
	return skb_header_pointer(skb, offset, len, buf);
}

/* --- memory --- */

struct kmem_cache *rct_cache_create(const char *name,
					     unsigned int size,
					     unsigned int align)
{
	/* Unmerged, so slabinfo and the object size describe our entries. */
	return kmem_cache_create(name, size, align, SLAB_NO_MERGE, NULL);
}

unsigned int rct_cache_object_size(struct kmem_cache *c)
{
	return kmem_cache_size(c);
}

void *rct_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
	return kmem_cache_alloc(c, gfp);
}

void *rct_kvcalloc(size_t n, size_t size)
{
	return kvcalloc(n, size, GFP_KERNEL);
}

unsigned long rct_totalram_pages(void)
{
	return totalram_pages();
}

unsigned long rct_totalhigh_pages(void)
{
	return totalhigh_pages();
}

unsigned long rct_free_lowmem_pages(void)
{
	struct sysinfo i;

	si_meminfo(&i);
	return i.freeram - i.freehigh;
}

unsigned int rct_page_shift(void)
{
	return PAGE_SHIFT;
}

/* --- per-CPU counters --- */

void __percpu *rct_percpu_alloc(size_t size)
{
	return __alloc_percpu(size, sizeof(unsigned long));
}

void __percpu *rct_percpu_alloc_align(size_t size, size_t align)
{
	return __alloc_percpu(size, align);
}

/* Interrupts off, then this CPU's pointer: one call on the packet path. */
void *rct_this_cpu_ptr_irqsave(void __percpu *p, unsigned long *flags)
{
	local_irq_save(*flags);
	return this_cpu_ptr(p);
}

void rct_local_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void rct_percpu_inc(void __percpu *p, unsigned int idx)
{
	this_cpu_inc(*((unsigned int __percpu *)p + idx));
}

unsigned int rct_percpu_read(void __percpu *p, int cpu,
				      unsigned int idx)
{
	return per_cpu_ptr((unsigned int __percpu *)p, cpu)[idx];
}

int rct_cpu_next(int cpu)
{
	return cpumask_next(cpu, cpu_possible_mask);
}

unsigned int rct_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

u32 rct_hsiphash(const void *data, size_t len, const hsiphash_key_t *key)
{
	return hsiphash(data, len, key);
}

/* --- locks, time --- */

void rct_spin_init(spinlock_t *l)
{
	spin_lock_init(l);
}

/* A lock class of its own: it nests the stripes (spin_lock_nest_lock()). */
void rct_spin_init_outer(spinlock_t *l)
{
	spin_lock_init(l);
}

void rct_spin_lock(spinlock_t *l)
{
	spin_lock(l);
}

void rct_spin_lock_nested(spinlock_t *l)
{
	spin_lock_nested(l, SINGLE_DEPTH_NESTING);
}

void rct_local_bh_disable(void)
{
	local_bh_disable();
}

void rct_local_bh_enable(void)
{
	local_bh_enable();
}

void rct_spin_unlock(spinlock_t *l)
{
	spin_unlock(l);
}

void rct_cond_resched(void)
{
	cond_resched();
}

void rct_udelay(unsigned int us)
{
	udelay(us);
}

void rct_cpu_relax(void)
{
	cpu_relax();
}

void rct_synchronize_net(void)
{
	synchronize_net();
}

/* --- delayed work --- */

void rct_dwork_init(struct delayed_work *dw, rct_work_fn *fn)
{
	INIT_DELAYED_WORK(dw, fn);
}

void rct_dwork_queue(struct delayed_work *dw, unsigned long delay)
{
	queue_delayed_work(system_power_efficient_wq, dw, delay);
}

void rct_dwork_cancel_sync(struct delayed_work *dw)
{
	cancel_delayed_work_sync(dw);
}

/* --- calling-convention probes (kunit_abi.rs, see rconntrack_glue.h) --- */

/*
 * They only read their parameters: where rustc passes one elsewhere than C
 * expects, they read a stale register or the caller's stack, and record it.
 */
static u32 rct_abi_words[RCT_ABI_WORDS];

const u32 *rct_abi_seen(void)
{
	return rct_abi_words;
}

/* Records w[0..n), clears the rest; an order-sensitive checksum of w. */
static u64 rct_abi_record(const u32 *w, unsigned int n)
{
	u64 sum = 0;
	unsigned int i;

	for (i = 0; i < RCT_ABI_WORDS; i++) {
		rct_abi_words[i] = i < n ? w[i] : 0;
		if (i < n)
			sum = sum * 31 + w[i];
	}
	return sum;
}

u64 rct_abi_u32x4(u32 a, u32 b, u32 c, u32 d)
{
	u32 w[] = { a, b, c, d };

	return rct_abi_record(w, ARRAY_SIZE(w));
}

u64 rct_abi_u32_u64(u32 a, u64 b)
{
	u32 w[] = { a, lower_32_bits(b), upper_32_bits(b) };

	return rct_abi_record(w, ARRAY_SIZE(w));
}

u64 rct_abi_u64_u64_u32(u64 a, u64 b, u32 c)
{
	u32 w[] = { lower_32_bits(a), upper_32_bits(a), lower_32_bits(b),
		    upper_32_bits(b), c };

	return rct_abi_record(w, ARRAY_SIZE(w));
}

u32 rct_abi_pair_u32(struct rct_abi_pair s, u32 tag)
{
	u32 w[] = { s.a, s.b, tag };

	return lower_32_bits(rct_abi_record(w, ARRAY_SIZE(w)));
}

u32 rct_abi_six(struct rct_abi_six s)
{
	return lower_32_bits(rct_abi_record(s.w, ARRAY_SIZE(s.w)));
}

u32 rct_abi_six_u32(struct rct_abi_six s, u32 tag)
{
	u32 w[] = { s.w[0], s.w[1], s.w[2], s.w[3], s.w[4], s.w[5], tag };

	return lower_32_bits(rct_abi_record(w, ARRAY_SIZE(w)));
}

struct rct_abi_pair rct_abi_ret_pair(u32 a, u32 b)
{
	return (struct rct_abi_pair){ .a = b, .b = a };
}

struct rct_abi_six rct_abi_ret_six(u32 seed)
{
	struct rct_abi_six s;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(s.w); i++)
		s.w[i] = seed + i * 0x01010101;
	return s;
}

u32 rct_abi_call_cb3(rct_abi_cb3_fn *cb, u32 a, u32 b, u32 c)
{
	return cb(a, b, c);
}

/* Records what the callback returned (so this is not a tail call). */
u64 rct_abi_call_cb64(rct_abi_cb64_fn *cb, u32 lo, u32 hi)
{
	u64 r = cb(((u64)hi << 32) | lo);
	u32 w[] = { lower_32_bits(r), upper_32_bits(r) };

	rct_abi_record(w, ARRAY_SIZE(w));
	return r;
}

/*
 * Calls cb() the way C code built with a 4-byte stack alignment may
 * (cc_stack_align4 on i386): with %esp at cb's entry 8 (mod 16) where the
 * i386 psABI, which LLVM assumes for Rust unless told otherwise, promises
 * 12 (the stack 16-byte aligned at the call).  Any C frame of the kernel
 * can leave the stack like this.  x86_64: a plain call; C keeps 8-byte
 * alignment there, so the callback sees what this call site has (on the
 * release x86_64 build, 8 mod 16: misaligned without 0001's module flag).
 */
u32 rct_abi_call_misaligned(rct_abi_align_fn *cb)
{
#ifdef CONFIG_X86_32
	u32 ret;

	asm volatile("push %%ebp\n\t"
		     "mov %%esp, %%ebp\n\t"
		     "and $-16, %%esp\n\t"
		     "sub $4, %%esp\n\t"
		     "call *%[cb]\n\t"
		     "mov %%ebp, %%esp\n\t"
		     "pop %%ebp"
		     : "=a" (ret)
		     : [cb] "S" (cb)
		     : "ecx", "edx", "memory", "cc");
	return ret;
#else
	return cb();
#endif
}
