/* sdk_ulid.c - ULID generation and parsing (https://github.com/ulid/spec), monotonic variant. */
#include "sdk_ulid.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* 128-bit big-endian increment; returns 1 on overflow (all ones wrapped to zero). */
static int rand_increment(uint8_t r[10])
{
    for (int i = 9; i >= 0; i--) {
        if (++r[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static void encode(uint64_t ms, const uint8_t r[10], char out[SDK_ULID_LEN + 1])
{
    /* 16 bytes = 128 bits; the ULID's 130 bits are two zero bits followed by these. */
    uint8_t b[16];
    for (int i = 0; i < 6; i++) {
        b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    }
    memcpy(b + 6, r, 10);
    for (int i = 0; i < SDK_ULID_LEN; i++) {
        /* Character i holds bits [5*i-2, 5*i+3) of the 128-bit value (bit 0 = MSB). */
        int start = 5 * i - 2;
        unsigned v = 0;
        for (int k = 0; k < 5; k++) {
            int bit = start + k;
            unsigned x = 0;
            if (bit >= 0) {
                x = (b[bit / 8] >> (7 - bit % 8)) & 1u;
            }
            v = (v << 1) | x;
        }
        out[i] = crockford[v];
    }
    out[SDK_ULID_LEN] = '\0';
}

void sdk_ulid_next_with(sdk_ulid_t *g, uint64_t now_ms, const uint8_t fresh[10],
                        char out[SDK_ULID_LEN + 1])
{
    now_ms &= 0xFFFFFFFFFFFFull;
    if (!g->started || now_ms > g->last_ms) {
        g->last_ms = now_ms;
        memcpy(g->rand, fresh, 10);
        /* Leave headroom so a burst within one millisecond cannot overflow the random part. */
        g->rand[0] &= 0x7F;
        g->started = 1;
    } else if (rand_increment(g->rand)) {
        /* 2^79 ids in one millisecond cannot happen; borrowing the next millisecond keeps the
         * order strict rather than failing. */
        g->last_ms++;
    }
    encode(g->last_ms, g->rand, out);
}

void sdk_ulid_next(sdk_ulid_t *g, char out[SDK_ULID_LEN + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint8_t fresh[10];
    randombytes_buf(fresh, sizeof fresh);
    sdk_ulid_next_with(g, ms, fresh, out);
}

static int decode_char(char ch)
{
    if (ch >= 'a' && ch <= 'z') {
        ch = (char)(ch - 'a' + 'A');
    }
    const char *p = strchr(crockford, ch);
    return (ch != '\0' && p != NULL) ? (int)(p - crockford) : -1;
}

int sdk_ulid_time_ms(const char *id, uint64_t *ms)
{
    if (id == NULL) {
        return -1;
    }
    uint64_t t = 0;
    size_t i = 0;
    for (; id[i] != '\0'; i++) {
        int v = i < SDK_ULID_LEN ? decode_char(id[i]) : -1;
        if (v < 0 || (i == 0 && v > 7)) {
            return -1;
        }
        if (i < 10) {
            t = (t << 5) | (uint64_t)v;
        }
    }
    if (i != SDK_ULID_LEN) {
        return -1;
    }
    /* The first 10 characters carry 50 bits: the top two are the always-zero padding. */
    *ms = t;
    return 0;
}
