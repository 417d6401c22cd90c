/* sdk_backoff.c - exponential backoff with bounded jitter. */
#include "sdk_backoff.h"

unsigned sdk_backoff_delay(unsigned min_ms, unsigned max_ms, unsigned attempt, uint32_t rnd)
{
    if (min_ms == 0) {
        min_ms = 1;
    }
    if (max_ms < min_ms) {
        max_ms = min_ms;
    }
    uint64_t d = min_ms;
    /* Stop doubling once past max: also keeps the shift from overflowing. */
    for (unsigned i = 1; i < attempt && d < max_ms; i++) {
        d *= 2;
    }
    if (d > max_ms) {
        d = max_ms;
    }
    d -= rnd % (d / 4 + 1);
    return (unsigned)d;
}

void sdk_backoff_init(sdk_backoff_t *b, unsigned min_ms, unsigned max_ms)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
}

unsigned sdk_backoff_next(sdk_backoff_t *b, uint32_t rnd)
{
    if (b->attempt < UINT32_MAX) {
        b->attempt++;
    }
    return sdk_backoff_delay(b->min_ms, b->max_ms, b->attempt, rnd);
}

void sdk_backoff_reset(sdk_backoff_t *b)
{
    b->attempt = 0;
}
