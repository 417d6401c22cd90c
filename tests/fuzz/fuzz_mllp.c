/* fuzz_mllp.c - libFuzzer harness for the MLLP framer. The input's first byte picks the frame
 * limit and the read size, the rest is the stream: every frame delivered must be within the
 * limit, every event's bytes readable, and the same stream read whole must give the same frames. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/mllp.h"

typedef struct {
    size_t max, frames, bytes;
    uint64_t sum;
} tally_t;

static int on_event(void *ctx, const mllp_event_t *ev)
{
    tally_t *t = ctx;
    uint64_t s = 0;
    for (size_t i = 0; i < ev->len; i++)
        s = s * 31 + ev->data[i];
    if (ev->kind == MLLP_FRAME) {
        if (ev->len > t->max)
            abort();
        t->frames++;
        t->bytes += ev->len;
        t->sum += s;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = 1 + (data[0] & 0x3f) * 37;
    size_t chunk = 1 + (data[0] >> 6) * 7;
    mllp_t *f = mllp_new(max);
    tally_t split = {max, 0, 0, 0}, whole = {max, 0, 0, 0};
    for (size_t off = 1; off < size; off += chunk)
        (void)mllp_feed(f, data + off, size - off < chunk ? size - off : chunk, on_event, &split);
    (void)mllp_reset(f);
    (void)mllp_feed(f, data + 1, size - 1, on_event, &whole);
    if (split.frames != whole.frames || split.bytes != whole.bytes || split.sum != whole.sum)
        abort();
    mllp_destroy(&f);
    return 0;
}
