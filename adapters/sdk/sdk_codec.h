/* sdk_codec.h - turns the SDK's joinery_event_t into the wire's Envelope and back, and frames
 * already-serialised envelopes into a PUBLISH body. Kept apart from the client so it can be
 * tested without a hub. */
#ifndef JOINERY_SDK_CODEC_H
#define JOINERY_SDK_CODEC_H

/* By path rather than <joinery/joinery.h>: the unit tests and linters compile SDK sources
 * without the SDK's include path. */
#include "../../include/joinery/joinery.h"

#include "sdk_arena.h"
#include "sdk_util.h"

#include <joinery/v1/envelope.pb-c.h>

typedef struct {
    /* Reused across calls so encoding allocates only when an event has more attributes than
     * any before it. */
    Joinery__V1__Envelope__AttributesEntry *entries;
    Joinery__V1__Envelope__AttributesEntry **ptrs;
    size_t cap;
} sdk_codec_t;

void sdk_codec_init(sdk_codec_t *k);
void sdk_codec_free(sdk_codec_t *k);

/* Serialises ev into out (replacing its contents) with the given source and event_id (ev's own
 * event_id is ignored: the caller decides it). occurred_at 0 becomes now_us. 0, or -1 with err
 * when the event is not publishable (no type, payload pointer missing, over-long id). */
int sdk_codec_encode(sdk_codec_t *k, const joinery_event_t *ev, const char *source,
                     const char *event_id, int64_t now_us, sdk_buf_t *out, char *err,
                     size_t errlen);

/* Parses a serialised Envelope into a, pointing ev's fields at it (valid until a is released).
 * 0, or -1 with err if the bytes are not an Envelope. */
int sdk_codec_decode(sdk_arena_t *a, const uint8_t *data, size_t len, joinery_event_t *ev,
                     char *err, size_t errlen);

/* Bytes that framing an envelope of len bytes adds to a PUBLISH body. */
size_t sdk_codec_publish_overhead(size_t len);
/* Appends a serialised envelope to a PUBLISH body as one more `events` element. Encoding the
 * repeated field by hand lets the SDK keep each event serialised once, from the first send to
 * the last resend, instead of rebuilding message trees. 0 or -1. */
int sdk_codec_publish_append(sdk_buf_t *body, const uint8_t *env, size_t len);

#endif
