/* mem.h -- process memory accounting: what maxmemory is compared with.
 *
 * used_memory is the allocator's view of live heap bytes (Redis's
 * used_memory): with jemalloc, stats.allocated; in sanitizer builds, the
 * sanitizer allocator's counter; otherwise glibc mallinfo2(). Reading the
 * allocator's global statistics costs microseconds (jemalloc merges per-arena
 * stats on "epoch"), too much before every write command, so mem_used()
 * combines a periodically refreshed global snapshot with the calling
 * thread's exact allocation/deallocation counters (jemalloc
 * thread.allocatedp/deallocatedp: two loads). Loop-thread allocations and
 * frees are therefore seen immediately; other threads' are picked up at the
 * next mem_refresh() (hz times a second, and before refusing a write).
 *
 * Threading: mem_used/mem_refresh are called by the loop thread only (the
 * thread counters are that thread's). */
#ifndef SIMCACHE_MEM_H
#define SIMCACHE_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of live heap, as estimated above. Cheap (a few ns). */
size_t mem_used(void);
/* Re-reads the allocator's global counter (a few us with jemalloc) and
 * re-bases the per-thread delta; returns the fresh value. Tracks the peak. */
size_t mem_refresh(void);
size_t mem_peak(void);
/* "jemalloc-5.3.0" or "libc". */
const char *mem_allocator(void);
/* jemalloc stats.allocated / active / resident (0 elsewhere). Refreshes. */
void mem_allocator_stats(size_t *allocated, size_t *active, size_t *resident);
/* Usable size of a heap block (allocator-rounded). */
size_t mem_usable(const void *p);
/* "1.50M"-style human string as Redis's bytesToHuman; buf >= 32 bytes. */
void mem_human(char *buf, size_t cap, unsigned long long n);

#endif
