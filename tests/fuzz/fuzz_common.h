/* Helpers shared by the libFuzzer targets in tests/fuzz/ (header only: each
 * target is one translation unit built by tests/fuzz/run.sh).
 *
 * - fuzz_found() aborts with a message: libFuzzer saves the input as a
 *   crash artifact, which is how a broken invariant becomes a finding.
 * - fuzz_copy() puts bytes in a heap block of exactly that size, so that
 *   AddressSanitizer sees a read one byte past the end.
 * - fuzz_split_*() cut an input into pieces as a network read would: the
 *   fuzzer chooses the cuts through one byte of its input (low 3 bits: the
 *   longest piece, 1 byte .. whole; high 5 bits: the seed of the lengths).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

static apr_pool_t *fuzz_root;

static inline void fuzz_found(const char *target, const char *what, const char *detail)
{
    fprintf(stderr, "%s: FINDING: %s%s%s\n", target, what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

static inline void fuzz_setup(const char *target)
{
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&fuzz_root, NULL) != APR_SUCCESS) {
        fuzz_found(target, "setup", "APR");
    }
}

static inline apr_pool_t *fuzz_pool(const char *target)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, fuzz_root) != APR_SUCCESS) {
        fuzz_found(target, "setup", "pool");
    }
    return p;
}

/* `n` bytes in a block of exactly n bytes (1 when n is 0); free() it. */
static inline char *fuzz_copy(const void *data, size_t n)
{
    char *b = malloc(n ? n : 1);
    if (!b) {
        abort();
    }
    if (n) {
        memcpy(b, data, n);
    }
    return b;
}

/* `n` bytes then a NUL, in a block of exactly n + 1 bytes. */
static inline char *fuzz_cstr(const void *data, size_t n)
{
    char *b = malloc(n + 1);
    if (!b) {
        abort();
    }
    memcpy(b, data, n);
    b[n] = '\0';
    return b;
}

typedef struct {
    uint32_t state;
    size_t longest;     /* 0: the whole rest in one piece */
} fuzz_split_t;

static inline void fuzz_split_init(fuzz_split_t *s, uint8_t control)
{
    static const size_t longest[8] = { 1, 2, 3, 5, 8, 31, 256, 0 };
    s->longest = longest[control & 7];
    s->state = 0x9E3779B9u ^ ((uint32_t)(control >> 3) * 0x85EBCA6Bu);
}

/* The length of the next piece, given `left` bytes remain (left > 0). */
static inline size_t fuzz_split_next(fuzz_split_t *s, size_t left)
{
    size_t n;
    if (!s->longest) {
        return left;
    }
    s->state ^= s->state << 13;
    s->state ^= s->state >> 17;
    s->state ^= s->state << 5;
    n = 1 + s->state % s->longest;
    return n < left ? n : left;
}

#endif /* FUZZ_COMMON_H */
