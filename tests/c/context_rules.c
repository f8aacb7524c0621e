/*
 * The `context` family through the C ABI: allocations that may sleep (GFP_KERNEL) made where
 * sleeping is forbidden — under a spinlock, with IRQs or preemption disabled, with bottom halves
 * disabled, in an IRQ handler run by dmacheck_run_in_irq — and pools made or destroyed there.
 * GFP_ATOMIC (and pci_alloc_consistent, which uses it) is fine anywhere.
 */
#include <pthread.h>

#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/interrupt.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include <dmacheck.h>

#include "expect.h"

static struct pci_dev *pdev;
static struct device *dev;
static struct dma_pool *pool;

struct seen {
	int in_interrupt, in_hardirq, in_softirq, in_atomic, irqs_disabled;
	void *atomic_buf;
	dma_addr_t atomic_dma;
};

static void irq_handler(void *arg)
{
	struct seen *seen = arg;
	dma_addr_t h;
	void *p;

	seen->in_interrupt = in_interrupt();
	seen->in_hardirq = in_irq();
	seen->in_softirq = in_softirq();
	seen->in_atomic = in_atomic();
	seen->irqs_disabled = irqs_disabled();
	EXPECT(p = dma_alloc_coherent(dev, 256, &h, GFP_KERNEL), "sleeping-alloc-in-atomic");
	/* IRQs are disabled in a handler, too. */
	EXPECT(dma_free_coherent(dev, 256, p, h), "free-coherent-irqs-disabled");
	CLEAN(seen->atomic_buf = pci_alloc_consistent(pdev, 256, &seen->atomic_dma));
	CHECK(seen->atomic_buf != NULL);
	EXPECT(p = dma_pool_alloc(pool, GFP_KERNEL, &h), "sleeping-alloc-in-atomic");
	CLEAN(dma_pool_free(pool, p, h));
	CLEAN(p = dma_pool_alloc(pool, GFP_ATOMIC, &h));
	CLEAN(dma_pool_free(pool, p, h));
	EXPECT(dma_pool_destroy(dma_pool_create("irq", dev, 32, 8, 0)), "pool-in-atomic",
	       "pool-in-atomic");
	EXPECT(p = vmalloc(64), "sleeping-alloc-in-atomic");
	vfree(p);
}

/* Threads: the lock excludes, and each thread has its own context. */
static DEFINE_SPINLOCK(counter_lock);
static unsigned long counter;

static void *worker(void *arg)
{
	int *atomic_at_start = arg;

	*atomic_at_start = in_atomic();
	for (int i = 0; i < 20000; i++) {
		unsigned long flags;

		spin_lock_irqsave(&counter_lock, flags);
		counter++;
		spin_unlock_irqrestore(&counter_lock, flags);
	}
	return NULL;
}

static void threads(void)
{
	pthread_t t[2];
	int atomic_at_start[2] = { -1, -1 };

	preempt_disable(); /* this thread only */
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, worker, &atomic_at_start[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(in_atomic());
	preempt_enable();
	CHECK(counter == 40000 && atomic_at_start[0] == 0 && atomic_at_start[1] == 0);
}

int main(void)
{
	struct seen seen = { 0 };
	unsigned long flags;
	void *p;
	dma_addr_t h;
	DEFINE_SPINLOCK(lock);

	pdev = dmacheck_pci_dev_create("0000:00:08.0", "ctxtest", 0);
	dev = &pdev->dev;
	pool = dma_pool_create("ctx", dev, 64, 64, 0);
	/* The pool gets its page now, so that the handler's allocations need none. */
	p = dma_pool_alloc(pool, GFP_KERNEL, &h);
	dma_pool_free(pool, p, h);
	CHECK(!in_interrupt() && !in_atomic() && !irqs_disabled());

	spin_lock(&lock);
	CHECK(in_atomic() && !irqs_disabled() && spin_is_locked(&lock));
	EXPECT(p = kmalloc(64, GFP_KERNEL), "sleeping-alloc-in-atomic");
	kfree(p);
	CLEAN(p = kmalloc(64, GFP_ATOMIC));
	kfree(p);
	spin_unlock(&lock);
	CHECK(!in_atomic() && !spin_is_locked(&lock));

	spin_lock_irqsave(&lock, flags);
	CHECK(irqs_disabled() && flags == 0);
	EXPECT(p = kzalloc(64, GFP_KERNEL), "sleeping-alloc-in-atomic");
	kfree(p);
	spin_unlock_irqrestore(&lock, flags);

	local_irq_save(flags);
	EXPECT(p = alloc_pages(GFP_KERNEL, 0), "sleeping-alloc-in-atomic");
	__free_pages(p, 0);
	local_irq_restore(flags);
	CHECK(!irqs_disabled());

	preempt_disable();
	EXPECT(p = dma_alloc_coherent(dev, 64, &h, GFP_KERNEL), "sleeping-alloc-in-atomic");
	preempt_enable();
	dma_free_coherent(dev, 64, p, h);

	spin_lock_bh(&lock);
	CHECK(in_softirq() && in_interrupt());
	EXPECT(p = (void *)__get_free_pages(GFP_KERNEL, 1), "sleeping-alloc-in-atomic");
	free_pages((unsigned long)p, 1);
	spin_unlock_bh(&lock);

	spin_lock_irq(&lock);
	EXPECT(dma_pool_destroy(dma_pool_create("atomic", dev, 32, 8, 0)), "pool-in-atomic",
	       "pool-in-atomic");
	spin_unlock_irq(&lock);
	CHECK(spin_trylock(&lock) == 1 && spin_trylock(&lock) == 0);
	spin_unlock(&lock);

	threads();
	dmacheck_run_in_irq(irq_handler, &seen);
	CHECK(seen.in_interrupt && seen.in_hardirq && !seen.in_softirq && seen.in_atomic &&
	      seen.irqs_disabled);
	CHECK(!in_interrupt() && !in_atomic() && !irqs_disabled());

	/* The allocation the handler kept, and the pool's page. */
	CHECK(dmacheck_live_entries(dev) == 2);
	CLEAN(pci_free_consistent(pdev, 256, seen.atomic_buf, seen.atomic_dma));
	CLEAN(dma_pool_destroy(pool));
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
