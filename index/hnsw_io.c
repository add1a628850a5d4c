/* hnsw_io.c -- hnsw_save / hnsw_load: a versioned, checksummed file.
 *
 * Format (version 2; integers little-endian, the host order of every
 * platform we build for: x86-64 and AArch64):
 *
 *   header   88 bytes: magic "SCHNSW\r\n", u32 version, u32 dim, M,
 *            ef_construction, ef_search, storage, rerank, u32 nslots,
 *            nfree, entry, i32 maxlevel, u32 exact_below, u64 seed,
 *            u64 rng state, u64 count, u32 nsections, u32 flags (bit 0:
 *            a float32 index without codes, hnsw_params.codes = 0; bit 1:
 *            4-bit codes, HNSW_CODES_I4; both set is invalid; files
 *            written before the flags have 0 and get int8 codes)
 *            followed by u64 XXH3-64 of those 88 bytes.
 *   sections each: u32 tag, u32 reserved, u64 payload length, payload,
 *            u64 XXH3-64 of the payload. In order: STATE (nslots bytes),
 *            VECF32 (nslots x dim floats; F32 storage or I8 re-rank copies),
 *            VECF16 (nslots x dim float16: I8 with HNSW_RERANK_F16),
 *            VECI8 and SCALE (I8 storage), VECBIN (nslots x ceil(dim / 64)
 *            u64: BIN storage), LINKS0 (nslots x (1 + 2M) u32),
 *            UPPER (the upper blocks of the nodes with level > 0, in id
 *            order), FREE (the free-id stack, bottom first).
 *
 * Decisions:
 * 1. Everything is checked before it is trusted: the header hash before
 *    any allocation; parameters against hnsw_create's limits; each section
 *    length against the length the header implies (so a corrupted length
 *    cannot ask for a huge allocation, and the slot arrays are allocated
 *    only once the header is known good and, for a seekable file, the file
 *    is long enough to hold them); each payload hash before the next
 *    section. Every live vector must be what an insert writes (float32
 *    rows finite and of unit norm, int8 scales in (0, 1/127], float16 rows
 *    without Inf or NaN, BIN bits past dim 0): a hash only proves the
 *    bytes are the ones written, and fuzz_hnsw_load, which rewrites the
 *    hashes, loaded NaN rows that then ranked every search by garbage.
 *    Then the loaded graph goes through the validator's structural
 *    checks (all but reachability, a quality property a valid save may
 *    lack). Any failure frees everything and returns HNSW_EFORMAT:
 *    nothing is half-loaded.
 * 2. Free slots are written as zeros, and the in-degree counters are
 *    recomputed on load rather than stored: the file is a function of the
 *    logical index (the reproducibility test compares files byte for
 *    byte).
 * 3. The graph is stored as is (no rebuild on load): loading is a few
 *    sequential reads, as fast as the disk. The file keeps one section per
 *    kind of data although memory interleaves level-0 links and vectors
 *    in one record per node (hnsw.c design 1): the file does not change
 *    when the memory layout does.
 * 4. Version 2 added the VECF16 section and made the header's rerank word
 *    an HNSW_RERANK_* value. Version 1 files still load (their rerank 1
 *    meant float32 copies: it becomes HNSW_RERANK_F32); any other version
 *    is HNSW_EFORMAT. BIN storage (storage word 2) added the VECBIN section
 *    without a version bump: files of the other kinds are unchanged, and
 *    an older reader rejects storage 2 in its parameter check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "index/hnsw.h"
#include "index/hnsw_int.h"

#define HDR_SIZE 88
#define FORMAT_VERSION 2u
static const char MAGIC[8] = {'S', 'C', 'H', 'N', 'S', 'W', '\r', '\n'};

enum { SEC_STATE = 1, SEC_VECF32, SEC_VECI8, SEC_SCALE, SEC_LINKS0, SEC_UPPER, SEC_FREE,
       SEC_VECF16, SEC_VECBIN };

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ----------------------------------------------------------------- save */

typedef struct writer {
    FILE *f;
    XXH3_state_t *st;
    int err;
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->err = 1;
    else
        XXH3_64bits_update(w->st, p, n);
}

static void w_zeros(writer *w, size_t n)
{
    static const uint8_t z[4096];
    while (n) {
        size_t c = n < sizeof(z) ? n : sizeof(z);
        w_bytes(w, z, c);
        n -= c;
    }
}

static void sec_begin(writer *w, uint32_t tag, uint64_t len)
{
    uint8_t b[16];
    put32(b, tag);
    put32(b + 4, 0);
    put64(b + 8, len);
    if (!w->err && fwrite(b, 1, 16, w->f) != 16)
        w->err = 1;
    XXH3_64bits_reset(w->st);
}

static void sec_end(writer *w)
{
    uint8_t b[8];
    put64(b, XXH3_64bits_digest(w->st));
    if (!w->err && fwrite(b, 1, 8, w->f) != 8)
        w->err = 1;
}

/* Which vector sections exist follows from the parameters (an index
 * that never held a vector has no arrays yet). */
static int has_f32(const hnsw_params *p)
{
    return p->storage == HNSW_STORE_F32 || p->rerank == HNSW_RERANK_F32;
}

static int has_f16(const hnsw_params *p)
{
    return p->storage == HNSW_STORE_I8 && p->rerank == HNSW_RERANK_F16;
}

static int has_i8(const hnsw_params *p)
{
    return p->storage == HNSW_STORE_I8;
}

static int has_bin(const hnsw_params *p)
{
    return p->storage == HNSW_STORE_BIN;
}

static uint32_t nsections(const hnsw_params *p)
{
    return 4 + (uint32_t)has_f32(p) + (uint32_t)has_f16(p) + (has_i8(p) ? 2 : 0) +
           (uint32_t)has_bin(p);
}

/* Row id of vector section sec: where it lives in memory, *bytes long. */
static uint8_t *vec_row(const hnsw *h, int sec, uint32_t id, size_t *bytes)
{
    size_t d = h->dim;
    switch (sec) {
    case SEC_VECF32:
        *bytes = d * 4;
        return h->p.storage == HNSW_STORE_F32 ? hnsw_rec0(h, id) + h->voff
                                              : (uint8_t *)(h->rf + id * d);
    case SEC_VECF16:
        *bytes = d * 2;
        return (uint8_t *)(h->rh + id * d);
    case SEC_VECI8:
        *bytes = d;
        return hnsw_rec0(h, id) + h->voff + sizeof(float);
    case SEC_VECBIN:
        *bytes = (size_t)hnsw_bin_words(h) * 8;
        return hnsw_rec0(h, id) + h->voff;
    default: /* SEC_SCALE */
        *bytes = 4;
        return hnsw_rec0(h, id) + h->voff;
    }
}

static int is_live(const hnsw *h, uint32_t id)
{
    return atomic_load(&h->state[id]) != ST_FREE;
}

static void save_rows(writer *w, const hnsw *h, int sec)
{
    size_t rowbytes;
    vec_row(h, sec, 0, &rowbytes);
    sec_begin(w, sec, (uint64_t)h->nslots * rowbytes);
    for (uint32_t id = 0; id < h->nslots; id++) {
        if (is_live(h, id))
            w_bytes(w, vec_row(h, sec, id, &rowbytes), rowbytes);
        else
            w_zeros(w, rowbytes);
    }
    sec_end(w);
}

/* One link list in canonical form: count, (level >= 1: in-degree as 0,
 * recomputed on load), the links, zeros for the unused capacity (whatever
 * stale words memory holds there never reach the file). */
static void save_list(writer *w, const hnsw *h, uint32_t id, int l)
{
    uint32_t buf[2 + 4096 * 2], mmax = l ? h->M : h->M0, words = l ? h->ustride : h->stride0;
    aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
    uint32_t n = atomic_load(&blk[0]), o = 0;
    memset(buf, 0, words * 4);
    buf[o++] = n;
    if (l)
        buf[o++] = 0;
    for (uint32_t i = 0; i < n && i < mmax; i++)
        buf[o + i] = atomic_load(&ids[i]);
    w_bytes(w, buf, (size_t)words * 4);
}

static void save_header(writer *w, const hnsw *h)
{
    uint8_t b[HDR_SIZE + 8];
    memset(b, 0, sizeof(b));
    memcpy(b, MAGIC, 8);
    put32(b + 8, FORMAT_VERSION);
    put32(b + 12, h->dim);
    put32(b + 16, h->M);
    put32(b + 20, h->p.ef_construction);
    put32(b + 24, h->p.ef_search);
    put32(b + 28, (uint32_t)h->p.storage);
    put32(b + 32, (uint32_t)h->p.rerank);
    put32(b + 36, h->nslots);
    put32(b + 40, h->nfree);
    put32(b + 44, atomic_load(&h->entry));
    put32(b + 48, (uint32_t)atomic_load(&h->maxlevel));
    put32(b + 52, h->exact_below);
    put64(b + 56, h->p.seed);
    put64(b + 64, h->rng);
    put64(b + 72, atomic_load(&h->count));
    put32(b + 80, nsections(&h->p));
    put32(b + 84, h->p.codes == HNSW_CODES_NONE ? 1u : h->p.codes == HNSW_CODES_I4 ? 2u : 0u);
    put64(b + HDR_SIZE, XXH3_64bits(b, HDR_SIZE));
    if (fwrite(b, 1, sizeof(b), w->f) != sizeof(b))
        w->err = 1;
}

static uint64_t upper_len(const hnsw *h)
{
    uint64_t n = 0;
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load(&h->state[id]);
        if (s != ST_FREE)
            n += (uint64_t)(s & ST_LEVEL_MASK) * h->ustride * 4;
    }
    return n;
}

static int save_locked(hnsw *h, FILE *f)
{
    writer w = {f, XXH3_createState(), 0};
    if (!w.st)
        return HNSW_ENOMEM;
    for (uint32_t id = 0; id < h->nslots; id++)
        if (atomic_load(&h->state[id]) & ST_PENDING && atomic_load(&h->state[id]) != ST_FREE) {
            XXH3_freeState(w.st);
            return HNSW_EINVAL; /* an insert is running: not allowed */
        }
    save_header(&w, h);
    sec_begin(&w, SEC_STATE, h->nslots);
    w_bytes(&w, (const void *)h->state, h->nslots);
    sec_end(&w);
    if (has_f32(&h->p))
        save_rows(&w, h, SEC_VECF32);
    if (has_f16(&h->p))
        save_rows(&w, h, SEC_VECF16);
    if (has_i8(&h->p)) {
        save_rows(&w, h, SEC_VECI8);
        save_rows(&w, h, SEC_SCALE);
    }
    if (has_bin(&h->p))
        save_rows(&w, h, SEC_VECBIN);
    sec_begin(&w, SEC_LINKS0, (uint64_t)h->nslots * h->stride0 * 4);
    for (uint32_t id = 0; id < h->nslots; id++) {
        if (is_live(h, id))
            save_list(&w, h, id, 0);
        else
            w_zeros(&w, (size_t)h->stride0 * 4);
    }
    sec_end(&w);
    sec_begin(&w, SEC_UPPER, upper_len(h));
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load(&h->state[id]);
        for (int l = 1; s != ST_FREE && l <= s; l++)
            save_list(&w, h, id, l);
    }
    sec_end(&w);
    sec_begin(&w, SEC_FREE, (uint64_t)h->nfree * 4);
    w_bytes(&w, h->freeids, (size_t)h->nfree * 4);
    sec_end(&w);
    XXH3_freeState(w.st);
    if (w.err || fflush(f))
        return HNSW_EIO;
    return HNSW_OK;
}

int hnsw_save(hnsw *h, FILE *f)
{
    int rc;
    if (!h || !f)
        return HNSW_EINVAL;
    pthread_rwlock_wrlock(&h->rw);
    rc = save_locked(h, f);
    pthread_rwlock_unlock(&h->rw);
    return rc;
}

/* ----------------------------------------------------------------- load */

typedef struct reader {
    FILE *f;
    XXH3_state_t *st;
} reader;

static int r_bytes(reader *r, void *p, size_t n)
{
    if (n && fread(p, 1, n, r->f) != n)
        return -1;
    XXH3_64bits_update(r->st, p, n);
    return 0;
}

/* Reads a section header and checks tag and expected length. */
static int sec_open(reader *r, uint32_t tag, uint64_t len)
{
    uint8_t b[16];
    if (fread(b, 1, 16, r->f) != 16 || get32(b) != tag || get32(b + 4) != 0 || get64(b + 8) != len)
        return -1;
    XXH3_64bits_reset(r->st);
    return 0;
}

static int sec_close(reader *r)
{
    uint8_t b[8];
    if (fread(b, 1, 8, r->f) != 8 || get64(b) != XXH3_64bits_digest(r->st))
        return -1;
    return 0;
}

/* Bytes left in f, or UINT64_MAX if it cannot be told (a pipe). A
 * stream without a descriptor (fmemopen, as fuzz_hnsw_load uses) is
 * measured by seeking to its end and back. */
static uint64_t bytes_left(FILE *f)
{
    struct stat st;
    long pos = ftell(f), end;
    int fd = fileno(f);
    if (pos < 0)
        return UINT64_MAX;
    if (fd >= 0) {
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < pos)
            return UINT64_MAX;
        return (uint64_t)(st.st_size - pos);
    }
    if (fseek(f, 0, SEEK_END))
        return UINT64_MAX;
    end = ftell(f);
    if (fseek(f, pos, SEEK_SET))
        return 0; /* cannot go back: nothing more can be read */
    return end >= pos ? (uint64_t)(end - pos) : UINT64_MAX;
}

static int load_header(reader *r, hnsw_params *p, uint8_t *b)
{
    uint32_t version, rerank;
    if (fread(b, 1, HDR_SIZE + 8, r->f) != HDR_SIZE + 8)
        return -1;
    if (memcmp(b, MAGIC, 8) || get64(b + HDR_SIZE) != XXH3_64bits(b, HDR_SIZE))
        return -1;
    version = get32(b + 8);
    if (version != 1 && version != FORMAT_VERSION)
        return -1;
    rerank = get32(b + 32);
    if (version == 1 && rerank > 1)
        return -1;
    memset(p, 0, sizeof(*p));
    p->dim = get32(b + 12);
    p->M = get32(b + 16);
    p->ef_construction = get32(b + 20);
    p->ef_search = get32(b + 24);
    p->storage = (hnsw_storage)get32(b + 28);
    p->rerank = version == 1 && rerank == 1 ? HNSW_RERANK_F32 : (int)rerank;
    p->seed = get64(b + 56);
    p->codes = get32(b + 84) == 1u ? HNSW_CODES_NONE
               : get32(b + 84) == 2u ? HNSW_CODES_I4 : HNSW_CODES_I8;
    if (get32(b + 84) > 2u)
        return -1;
    if (rerank > HNSW_RERANK_F32 || hnsw_check_params(p) ||
        (p->storage != HNSW_STORE_I8 && p->rerank))
        return -1;
    return 0;
}

/* A float32 row as an insert stores it: finite and of unit norm (within
 * the rounding of normalising up to 65536 floats). */
static int unit_row(const float *x, uint32_t dim)
{
    double ss = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(x[i]))
            return 0;
        ss += (double)x[i] * x[i];
    }
    return fabs(ss - 1.0) <= 1e-2;
}

/* The vector data of live slot id is what inserts write (decision 1). */
static int row_ok(const hnsw *h, uint32_t id)
{
    if (h->p.storage == HNSW_STORE_F32)
        return unit_row(hnsw_vf(h, id), h->dim);
    if (h->p.storage == HNSW_STORE_BIN) { /* bits past dim stay 0 */
        uint32_t tail = h->dim % 64;
        return !tail || !(hnsw_vb(h, id)[hnsw_bin_words(h) - 1] >> tail);
    }
    {
        float sc = hnsw_vscale(h, id); /* max |x_i| / 127 of a unit vector */
        if (!(sc > 0 && sc <= 1.01f / 127.0f))
            return 0;
    }
    if (h->rf && !unit_row(h->rf + (size_t)id * h->dim, h->dim))
        return 0;
    if (h->rh)
        for (uint32_t i = 0; i < h->dim; i++)
            if ((h->rh[(size_t)id * h->dim + i] & 0x7C00u) == 0x7C00u) /* Inf, NaN */
                return 0;
    return 1;
}

/* Counts, levels, free list, vectors and links of a freshly read index;
 * computes the in-degrees. The validator then checks reachability and
 * the rest. */
static int load_check(hnsw *h, uint64_t count)
{
    uint64_t live = 0;
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load(&h->state[id]);
        if (s == ST_FREE)
            continue;
        if (s > HNSW_MAX_LEVEL || !row_ok(h, id))
            return -1;
        live++;
    }
    if (live != count || live + h->nfree != h->nslots)
        return -1;
    for (uint32_t i = 0; i < h->nfree; i++)
        if (h->freeids[i] >= h->nslots || atomic_load(&h->state[h->freeids[i]]) != ST_FREE)
            return -1;
    for (uint32_t id = 0; id < h->nslots; id++)
        atomic_store(&h->indeg0[id], 0);
    for (uint32_t id = 0; id < h->nslots; id++)
        for (int l = 1; atomic_load(&h->state[id]) != ST_FREE && l <= h->state[id]; l++)
            atomic_store(hnsw_indeg(h, id, l), 0);
    for (uint32_t id = 0; id < h->nslots; id++) {
        int lv = atomic_load(&h->state[id]) == ST_FREE ? -1 : atomic_load(&h->state[id]);
        for (int l = 0; l <= lv; l++) {
            aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
            uint32_t n = atomic_load(&blk[0]);
            if (n > (l ? h->M : h->M0))
                return -1;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t x = atomic_load(&ids[i]);
                uint8_t sx;
                if (x >= h->nslots)
                    return -1;
                sx = atomic_load(&h->state[x]);
                if (sx == ST_FREE || (int)sx < l)
                    return -1;
                atomic_fetch_add(hnsw_indeg(h, x, l), 1);
            }
        }
    }
    return 0;
}

/* Reads vector section sec row by row into its place in memory. */
static int load_rows(reader *r, hnsw *h, int sec)
{
    size_t rowbytes;
    vec_row(h, sec, 0, &rowbytes);
    if (sec_open(r, sec, (uint64_t)h->nslots * rowbytes))
        return -1;
    for (uint32_t id = 0; id < h->nslots; id++)
        if (r_bytes(r, vec_row(h, sec, id, &rowbytes), rowbytes))
            return -1;
    return sec_close(r);
}

static int load_sections(reader *r, hnsw *h)
{
    uint64_t ulen;
    if (sec_open(r, SEC_STATE, h->nslots) || r_bytes(r, (void *)h->state, h->nslots) ||
        sec_close(r))
        return -1;
    for (uint32_t id = 0; id < h->nslots; id++)
        if (atomic_load(&h->state[id]) != ST_FREE && atomic_load(&h->state[id]) > HNSW_MAX_LEVEL)
            return -1;
    if (has_f32(&h->p) && load_rows(r, h, SEC_VECF32))
        return -1;
    if (has_f16(&h->p) && load_rows(r, h, SEC_VECF16))
        return -1;
    if (has_i8(&h->p) && (load_rows(r, h, SEC_VECI8) || load_rows(r, h, SEC_SCALE)))
        return -1;
    if (has_bin(&h->p) && load_rows(r, h, SEC_VECBIN))
        return -1;
    if (sec_open(r, SEC_LINKS0, (uint64_t)h->nslots * h->stride0 * 4))
        return -1;
    for (uint32_t id = 0; id < h->nslots; id++)
        if (r_bytes(r, (void *)hnsw_links(h, id, 0), (size_t)h->stride0 * 4))
            return -1;
    if (sec_close(r))
        return -1;
    ulen = upper_len(h);
    if (ulen > bytes_left(r->f) || sec_open(r, SEC_UPPER, ulen))
        return -1;
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load(&h->state[id]);
        size_t bytes;
        if (s == ST_FREE || s == 0)
            continue;
        bytes = (size_t)s * h->ustride * 4;
        h->upper[id] = malloc(hnsw_upper_size(h, s)); /* + tree words */
        if (!h->upper[id] || r_bytes(r, (void *)h->upper[id], bytes))
            return -1;
        atomic_fetch_add(&h->upper_bytes, hnsw_upper_size(h, s));
    }
    if (sec_close(r))
        return -1;
    if (sec_open(r, SEC_FREE, (uint64_t)h->nfree * 4) ||
        r_bytes(r, h->freeids, (size_t)h->nfree * 4) || sec_close(r))
        return -1;
    return 0;
}

int hnsw_load(FILE *f, hnsw **out)
{
    uint8_t b[HDR_SIZE + 8];
    reader r = {f, NULL};
    hnsw_params p;
    hnsw *h = NULL;
    uint32_t nslots, nfree, entry;
    int32_t maxlevel;
    uint64_t count, need;
    int rc = HNSW_EFORMAT;
    if (!f || !out)
        return HNSW_EINVAL;
    *out = NULL;
    r.st = XXH3_createState();
    if (!r.st)
        return HNSW_ENOMEM;
    if (load_header(&r, &p, b))
        goto fail;
    nslots = get32(b + 36);
    nfree = get32(b + 40);
    entry = get32(b + 44);
    maxlevel = (int32_t)get32(b + 48);
    count = get64(b + 72);
    if (nslots == UINT32_MAX || nfree > nslots || count > nslots || maxlevel < -1 ||
        maxlevel > HNSW_MAX_LEVEL || get32(b + 80) != nsections(&p) ||
        (count == 0) != (entry == HNSW_NO_ENTRY) || (entry != HNSW_NO_ENTRY && entry >= nslots))
        goto fail;
    /* Lower bound of what follows: refuse to allocate for a short file. */
    need = (uint64_t)nslots * (1 + 4ull * (1 + 2ull * p.M) + (has_f32(&p) ? 4ull * p.dim : 0) +
                               (has_f16(&p) ? 2ull * p.dim : 0) + (has_i8(&p) ? p.dim + 4ull : 0) +
                               (has_bin(&p) ? 8ull * ((p.dim + 63) / 64) : 0));
    if (need > bytes_left(f))
        goto fail;
    h = malloc(sizeof(*h));
    if (!h) {
        rc = HNSW_ENOMEM;
        goto fail;
    }
    if (hnsw_init_struct(h, &p)) {
        free(h);
        h = NULL;
        goto fail;
    }
    if (hnsw_alloc_slots(h, nslots ? nslots : 1)) {
        rc = HNSW_ENOMEM;
        goto fail;
    }
    h->nslots = nslots;
    h->nfree = nfree;
    h->rng = get64(b + 64);
    h->exact_below = get32(b + 52);
    atomic_store(&h->entry, entry);
    atomic_store(&h->maxlevel, maxlevel);
    atomic_store(&h->count, (size_t)count);
    if (load_sections(&r, h) || load_check(h, count) || hnsw_validate_locked(h, 0, NULL, 0))
        goto fail;
    hnsw_tree_rebuild(h); /* the trees are not saved: hnsw.c design 3 */
    hnsw_codes_rebuild(h); /* derived data, not in the file (hnsw.c design 9) */
    XXH3_freeState(r.st);
    *out = h;
    return HNSW_OK;
fail:
    XXH3_freeState(r.st);
    if (h)
        hnsw_free(h);
    return rc;
}
