/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions of rconntrack_glue.c called from Rust (declared again in
 * kernel_ext/glue.rs), and the Rust functions it calls.
 */
#ifndef RCONNTRACK_GLUE_H
#define RCONNTRACK_GLUE_H

#include <linux/gfp_types.h>
#include <linux/siphash.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>

struct delayed_work;
struct kmem_cache;
struct net;
struct nf_hook_ops;
struct nf_hook_state;
struct proc_dir_entry;
struct seq_file;
struct seq_operations;
struct sk_buff;
struct work_struct;

/* Implemented in Rust (kernel_ext/netns.rs). */
int rct_rust_net_init(struct net *net);
void rct_rust_net_pre_exit(struct net *net);
void rct_rust_net_exit(struct net *net);

typedef void *rct_seq_start_fn(struct seq_file *m, loff_t *pos);
typedef void rct_seq_stop_fn(struct seq_file *m, void *v);
typedef void *rct_seq_next_fn(struct seq_file *m, void *v, loff_t *pos);
typedef int rct_seq_show_fn(struct seq_file *m, void *v);
typedef unsigned int rct_hook_fn(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state);
typedef void rct_work_fn(struct work_struct *work);

/* Glue. */
struct nf_hook_ops *rct_nf_ops_alloc(unsigned int n);
void rct_nf_ops_set(struct nf_hook_ops *ops, unsigned int i, rct_hook_fn *fn,
		    void *priv, u8 pf, unsigned int hooknum, int priority);
/* A hook's arguments as Rust needs them (kernel_ext/glue.rs HookArgs). */
struct rct_hook_args {
	u32 hook;
	u32 len;
	s32 net_off;
	u8 pf;
	bool in_loopback;
	u8 pad[2];
};

void rct_hook_args(const struct nf_hook_state *state,
		   const struct sk_buff *skb, struct rct_hook_args *a);
int rct_nf_register(struct net *net, const struct nf_hook_ops *ops,
		    unsigned int n);
void rct_nf_unregister(struct net *net, const struct nf_hook_ops *ops,
		       unsigned int n);
int rct_defrag_get(void);
void rct_defrag_put(void);
int rct_defrag_enable(struct net *net);
void rct_defrag_disable(struct net *net);
int rct_pernet_register(void);
void rct_pernet_unregister(void);
void **rct_net_slot(struct net *net);
bool rct_net_is_init(const struct net *net);
unsigned int rct_net_inum(const struct net *net);
struct seq_operations *rct_seq_ops_alloc(rct_seq_start_fn *start,
					 rct_seq_stop_fn *stop,
					 rct_seq_next_fn *next,
					 rct_seq_show_fn *show);
struct proc_dir_entry *rct_proc_create_seq(struct net *net, const char *name,
					   bool stat, umode_t mode,
					   const struct seq_operations *ops,
					   void *data);
void rct_proc_remove(struct proc_dir_entry *pde);
void *rct_seq_data(struct seq_file *m);
bool rct_skb_is_gso_tcp(const struct sk_buff *skb);
bool rct_skb_csum_ok(struct sk_buff *skb, unsigned int dataoff, u8 proto,
		     u8 pf);
const void *rct_skb_header(const struct sk_buff *skb, int offset, int len,
			   void *buf);
struct kmem_cache *rct_cache_create(const char *name, unsigned int size,
				     unsigned int align);
unsigned int rct_cache_object_size(struct kmem_cache *c);
void *rct_cache_alloc(struct kmem_cache *c, gfp_t gfp);
void *rct_kvcalloc(size_t n, size_t size);
unsigned long rct_totalram_pages(void);
unsigned long rct_totalhigh_pages(void);
unsigned long rct_free_lowmem_pages(void);
unsigned int rct_page_shift(void);
void __percpu *rct_percpu_alloc(size_t size);
void __percpu *rct_percpu_alloc_align(size_t size, size_t align);
void *rct_this_cpu_ptr_irqsave(void __percpu *p, unsigned long *flags);
void rct_local_irq_restore(unsigned long flags);
void rct_percpu_inc(void __percpu *p, unsigned int idx);
unsigned int rct_percpu_read(void __percpu *p, int cpu, unsigned int idx);
int rct_cpu_next(int cpu);
unsigned int rct_nr_cpu_ids(void);
u32 rct_hsiphash(const void *data, size_t len, const hsiphash_key_t *key);
void rct_spin_init(spinlock_t *l);
void rct_spin_init_outer(spinlock_t *l);
void rct_spin_lock(spinlock_t *l);
void rct_spin_lock_nested(spinlock_t *l);
void rct_spin_unlock(spinlock_t *l);
void rct_local_bh_disable(void);
void rct_local_bh_enable(void);
void rct_cond_resched(void);
void rct_udelay(unsigned int us);
void rct_cpu_relax(void);
void rct_synchronize_net(void);
void rct_dwork_init(struct delayed_work *dw, rct_work_fn *fn);
void rct_dwork_queue(struct delayed_work *dw, unsigned long delay);
void rct_dwork_cancel_sync(struct delayed_work *dw);

/*
 * Calling-convention probes, called only by the KUnit suite of kunit_abi.rs.
 * Each records the 32-bit words it received (a u64 as its low word, then its
 * high word) for rct_abi_seen() and returns rct_abi_sum() of them.  Several
 * take a u64 or a struct by value on purpose: on i386 rustc does not pass
 * those like C (rust-lang/rust#145694), which is what the tests document.
 * qemu/abi-allow.txt lets them past qemu/abi-lint.sh; nothing else may.
 */
#define RCT_ABI_WORDS 8
struct rct_abi_pair {	/* 8 bytes: in EAX:EDX on i386 C */
	u32 a, b;
};
struct rct_abi_six {	/* 24 bytes: on the stack, by value */
	u32 w[6];
};
typedef u32 rct_abi_cb3_fn(u32 a, u32 b, u32 c);
typedef u64 rct_abi_cb64_fn(u64 x);
typedef u32 rct_abi_align_fn(void);
const u32 *rct_abi_seen(void);
u64 rct_abi_u32x4(u32 a, u32 b, u32 c, u32 d);
u64 rct_abi_u32_u64(u32 a, u64 b);
u64 rct_abi_u64_u64_u32(u64 a, u64 b, u32 c);
u32 rct_abi_pair_u32(struct rct_abi_pair s, u32 tag);
u32 rct_abi_six(struct rct_abi_six s);
u32 rct_abi_six_u32(struct rct_abi_six s, u32 tag);
struct rct_abi_pair rct_abi_ret_pair(u32 a, u32 b);
struct rct_abi_six rct_abi_ret_six(u32 seed);
u32 rct_abi_call_cb3(rct_abi_cb3_fn *cb, u32 a, u32 b, u32 c);
u64 rct_abi_call_cb64(rct_abi_cb64_fn *cb, u32 lo, u32 hi);
u32 rct_abi_call_misaligned(rct_abi_align_fn *cb);

#endif /* RCONNTRACK_GLUE_H */
