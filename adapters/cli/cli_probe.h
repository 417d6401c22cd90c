/* cli_probe.h - a plain socket connect to the hub's endpoint before the ZeroMQ one. ZeroMQ
 * connects in the background and retries a refused connection silently, so a one-shot command
 * against a hub that is not running would only learn it when its whole timeout ran out; the
 * probe says at once that nothing listens there. Adapters (the SDK) keep retrying: a
 * long-running adapter must still find a hub that starts later. */
#ifndef JOINERY_CLI_PROBE_H
#define JOINERY_CLI_PROBE_H

#include <stddef.h>

/* Tries to open a connection to a tcp:// or ipc:// endpoint within timeout_ms. 0 when it was
 * accepted, or when the endpoint is of a form the probe does not read (ZeroMQ then says what is
 * wrong with it); -1 with the reason in err (refused, no such host, no answer in time). */
int cli_probe(const char *endpoint, int timeout_ms, char *err, size_t errlen);

#endif
