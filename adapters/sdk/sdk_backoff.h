/* sdk_backoff.h - the one exponential-backoff rule of the SDK, used for reconnect attempts and
 * for resending events the hub answered RETRY: min_ms doubling per attempt up to max_ms, minus
 * up to a quarter of jitter so that many adapters cut off together do not return in step. */
#ifndef JOINERY_SDK_BACKOFF_H
#define JOINERY_SDK_BACKOFF_H

#include <stdint.h>

/* Delay before attempt number `attempt` (1 = the first retry): min_ms * 2^(attempt-1) capped at
 * max_ms, then reduced by (rnd mod (delay/4 + 1)). rnd = 0 gives the exact doubling. */
unsigned sdk_backoff_delay(unsigned min_ms, unsigned max_ms, unsigned attempt, uint32_t rnd);

/* A running sequence of attempts, e.g. reconnects. */
typedef struct {
    unsigned min_ms;
    unsigned max_ms;
    unsigned attempt; /* attempts made since the last success */
} sdk_backoff_t;

void sdk_backoff_init(sdk_backoff_t *b, unsigned min_ms, unsigned max_ms);
/* The delay before the next attempt; each call counts one attempt. */
unsigned sdk_backoff_next(sdk_backoff_t *b, uint32_t rnd);
/* After a success the next failure starts from min_ms again. */
void sdk_backoff_reset(sdk_backoff_t *b);

#endif
