/* sdk_ulid.h - ULID event ids: 48-bit millisecond time + 80 random bits, 26 characters of
 * Crockford base32, so ids sort by creation time. The generator state is a plain value owned by
 * whoever needs monotonic ids (a client, or one per thread), never a hidden global. */
#ifndef JOINERY_SDK_ULID_H
#define JOINERY_SDK_ULID_H

#include <stdint.h>

#define SDK_ULID_LEN 26

typedef struct {
    uint64_t last_ms; /* time part of the last id made */
    uint8_t rand[10]; /* random part of the last id, big-endian */
    int started;
} sdk_ulid_t;

/* The next id for time now_ms (Unix ms). fresh is 10 new random bytes, used only when the time
 * moved forward; within one millisecond (or if the clock stepped back) the previous random
 * part is incremented instead, so ids from one generator strictly increase. */
void sdk_ulid_next_with(sdk_ulid_t *g, uint64_t now_ms, const uint8_t fresh[10],
                        char out[SDK_ULID_LEN + 1]);
/* sdk_ulid_next_with with the wall clock and libsodium's random bytes. */
void sdk_ulid_next(sdk_ulid_t *g, char out[SDK_ULID_LEN + 1]);

/* Decodes the time part of a ULID. 0, or -1 if id is not a well-formed ULID. */
int sdk_ulid_time_ms(const char *id, uint64_t *ms);

#endif
