/* mllp.h - MLLP framing (HL7 v2 over TCP: 0x0B, the message, 0x1C 0x0D) as a streaming framer.
 *
 * The adapter feeds it whatever read() returned, in pieces of any size; it calls back once per
 * complete frame, however the frames fall across the pieces. Its memory is fixed when it is made:
 * one buffer of the configured maximum frame size, so a sender cannot make it grow. A frame
 * longer than that is not buffered: the framer keeps its first bytes (for whoever must find out
 * what was sent), discards the rest up to the end byte, and reports the refusal. Bytes outside
 * a frame (line noise, a sender's stray newlines) are counted and reported, never delivered.
 *
 * Leniency where it costs nothing: 0x1C alone ends a frame (the 0x0D after it is expected, and
 * consumed when it comes, but not required), and 0x0B inside a frame means the sender started
 * again, so the unfinished frame is reported as aborted and a new one begins. */
#ifndef JOINERY_HEALTH_MLLP_H
#define JOINERY_HEALTH_MLLP_H

#include <stddef.h>

#define MLLP_START 0x0B
#define MLLP_END 0x1C
#define MLLP_END2 0x0D
#define MLLP_KEEP 256 /* bytes of a refused frame or of garbage kept for inspection */

typedef struct mllp mllp_t;

typedef enum {
    MLLP_FRAME,    /* a complete message: DATA, LEN bytes (TOTAL == LEN) */
    MLLP_OVERSIZE, /* a frame over the maximum, discarded: its first LEN bytes, TOTAL in all */
    MLLP_ABORTED,  /* a frame cut short by a new 0x0B: its first LEN bytes, TOTAL in all */
    MLLP_GARBAGE,  /* TOTAL bytes outside any frame, discarded; the first LEN of them */
} mllp_kind_t;

typedef struct {
    mllp_kind_t kind;
    const unsigned char *data; /* valid only during the call: the framer's buffer or the chunk */
    size_t len;
    size_t total;
} mllp_event_t;

/* Called for each event, in stream order. 0 goes on; anything else stops mllp_feed, which returns
 * it. */
typedef int (*mllp_handler_t)(void *ctx, const mllp_event_t *ev);

/* A framer that accepts frames of up to MAX_FRAME bytes (at least 1); NULL if out of memory. */
mllp_t *mllp_new(size_t max_frame);
void mllp_destroy(mllp_t **f);

/* Feeds LEN bytes read from the connection. Returns 0, or the first nonzero value the handler
 * returned; the chunk's bytes after that event are not consumed, and the framer must be reset
 * (mllp_reset) before it is fed again. */
int mllp_feed(mllp_t *f, const void *data, size_t len, mllp_handler_t handler, void *ctx);

/* Forgets any unfinished frame (the connection closed or was reset). Returns how many bytes of a
 * frame had arrived without its end, 0 if none, so the caller can report a truncated message. */
size_t mllp_reset(mllp_t *f);

/* Writes MSG framed for sending (0x0B, MSG, 0x1C 0x0D) to OUT; 0 and *WRITTEN = LEN + 3, or -1
 * when CAP is too small. */
int mllp_wrap(const void *msg, size_t len, void *out, size_t cap, size_t *written);

#endif
