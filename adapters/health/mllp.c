/* mllp.c - the MLLP framer: a byte-at-a-time state machine, with a fast path that hands a frame
 * lying whole inside one chunk straight to the caller instead of copying it. */
#include "mllp.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
    ST_OUTSIDE,  /* between frames: everything but 0x0B is garbage */
    ST_IN,       /* inside a frame, buffering */
    ST_OVERSIZE, /* inside a frame past the maximum: counting, not keeping */
    ST_AFTER_END /* just after 0x1C: a 0x0D here belongs to the end marker */
} state_t;

struct mllp {
    state_t st;
    unsigned char *buf; /* MAX bytes, owned */
    size_t max;
    size_t n;     /* bytes buffered of the current frame */
    size_t total; /* ST_OVERSIZE: the frame's length so far */
    unsigned char garbage[MLLP_KEEP];
    size_t garbage_n; /* bytes of garbage since the last report */
};

mllp_t *mllp_new(size_t max_frame)
{
    if (max_frame == 0)
        return NULL;
    mllp_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->buf = malloc(max_frame);
    if (f->buf == NULL) {
        free(f);
        return NULL;
    }
    f->max = max_frame;
    return f;
}

void mllp_destroy(mllp_t **f)
{
    if (f == NULL || *f == NULL)
        return;
    free((*f)->buf);
    free(*f);
    *f = NULL;
}

size_t mllp_reset(mllp_t *f)
{
    size_t pending = f->st == ST_IN ? f->n : f->st == ST_OVERSIZE ? f->total : 0;
    f->st = ST_OUTSIDE;
    f->n = 0;
    f->total = 0;
    f->garbage_n = 0;
    return pending;
}

static int emit(mllp_handler_t h, void *ctx, mllp_kind_t kind, const unsigned char *data,
                size_t len, size_t total)
{
    mllp_event_t ev = {.kind = kind, .data = data, .len = len, .total = total};
    return h(ctx, &ev);
}

static int flush_garbage(mllp_t *f, mllp_handler_t h, void *ctx)
{
    if (f->garbage_n == 0)
        return 0;
    size_t total = f->garbage_n;
    f->garbage_n = 0;
    size_t keep = total < MLLP_KEEP ? total : MLLP_KEEP;
    return emit(h, ctx, MLLP_GARBAGE, f->garbage, keep, total);
}

static size_t kept(const mllp_t *f)
{
    return f->n < MLLP_KEEP ? f->n : MLLP_KEEP;
}

/* A new 0x0B while a frame was open: the sender gave up on it. */
static int abort_frame(mllp_t *f, mllp_handler_t h, void *ctx)
{
    int rc = f->st == ST_OVERSIZE ? emit(h, ctx, MLLP_OVERSIZE, f->buf, kept(f), f->total)
                                  : emit(h, ctx, MLLP_ABORTED, f->buf, kept(f), f->n);
    f->st = ST_IN;
    f->n = 0;
    f->total = 0;
    return rc;
}

static int end_frame(mllp_t *f, mllp_handler_t h, void *ctx)
{
    int rc = f->st == ST_OVERSIZE ? emit(h, ctx, MLLP_OVERSIZE, f->buf, kept(f), f->total)
                                  : emit(h, ctx, MLLP_FRAME, f->buf, f->n, f->n);
    f->st = ST_AFTER_END;
    f->n = 0;
    f->total = 0;
    return rc;
}

static void add_byte(mllp_t *f, unsigned char c)
{
    if (f->st == ST_OVERSIZE) {
        f->total++;
    } else if (f->n < f->max) {
        f->buf[f->n++] = c;
    } else {
        /* The first bytes stay in buf for the report; nothing more is stored. */
        f->st = ST_OVERSIZE;
        f->total = f->n + 1;
    }
}

/* The fast path: at the start of a frame, if the whole frame is in the chunk, deliver it from
 * there. Returns how many bytes it consumed (0: not whole here, take the slow path) and the
 * handler's verdict in *RC. */
static size_t frame_in_place(mllp_t *f, const unsigned char *p, size_t len, mllp_handler_t h,
                             void *ctx, int *rc)
{
    size_t limit = len < f->max + 1 ? len : f->max + 1;
    for (size_t i = 0; i < limit; i++) {
        if (p[i] == MLLP_START)
            return 0;
        if (p[i] == MLLP_END) {
            f->st = ST_AFTER_END;
            *rc = emit(h, ctx, MLLP_FRAME, p, i, i);
            return i + 1;
        }
    }
    return 0;
}

int mllp_feed(mllp_t *f, const void *data, size_t len, mllp_handler_t h, void *ctx)
{
    const unsigned char *p = data;
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        unsigned char c = p[i];
        switch (f->st) {
        case ST_AFTER_END:
            /* Anything but 0x0D is the first byte outside the frame: look at it again. */
            f->st = ST_OUTSIDE;
            if (c == MLLP_END2)
                i++;
            break;
        case ST_OUTSIDE:
            i++;
            if (c != MLLP_START) {
                if (f->garbage_n < MLLP_KEEP)
                    f->garbage[f->garbage_n] = c;
                f->garbage_n++;
                break;
            }
            rc = flush_garbage(f, h, ctx);
            f->st = ST_IN;
            f->n = 0;
            if (rc == 0) {
                size_t used = frame_in_place(f, p + i, len - i, h, ctx, &rc);
                i += used;
            }
            break;
        case ST_IN:
        case ST_OVERSIZE:
            i++;
            if (c == MLLP_END)
                rc = end_frame(f, h, ctx);
            else if (c == MLLP_START)
                rc = abort_frame(f, h, ctx);
            else
                add_byte(f, c);
            break;
        }
    }
    if (rc == 0)
        rc = flush_garbage(f, h, ctx);
    return rc;
}

int mllp_wrap(const void *msg, size_t len, void *out, size_t cap, size_t *written)
{
    if (cap < 3 || len > cap - 3)
        return -1;
    unsigned char *o = out;
    o[0] = MLLP_START;
    memcpy(o + 1, msg, len);
    o[len + 1] = MLLP_END;
    o[len + 2] = MLLP_END2;
    *written = len + 3;
    return 0;
}
