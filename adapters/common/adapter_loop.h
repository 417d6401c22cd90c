/* adapter_loop.h - one poll loop for an adapter's own sockets and its SDK client, and a clean
 * stop on SIGTERM or SIGINT.
 *
 *     adapter_loop_t *l = adapter_loop_new(err, sizeof err);   // before joinery_connect
 *     joinery_client_t *c = joinery_connect(...);
 *     while (!adapter_loop_stopping(l)) {
 *         ... fill fds[] with the adapter's sockets ...
 *         adapter_loop_run_once(l, c, fds, nfds, 1000);
 *         ... act on fds[i].revents ...
 *     }
 *
 * The signals are taken through a signalfd, so they never interrupt a system call halfway and no
 * handler touches process state; that means blocking them in every thread, which is why the loop
 * must be made before the SDK client starts ZeroMQ's threads. */
#ifndef JOINERY_ADAPTER_LOOP_H
#define JOINERY_ADAPTER_LOOP_H

#include <poll.h>
#include <stddef.h>

#include <joinery/joinery.h>

typedef struct adapter_loop adapter_loop_t;

/* Blocks SIGTERM and SIGINT and opens a signalfd for them; NULL and ERR on failure. */
adapter_loop_t *adapter_loop_new(char *err, size_t errlen);
void adapter_loop_destroy(adapter_loop_t **l);

/* Waits up to TIMEOUT_MS (-1: no limit; shortened to the client's next timer) for an event on
 * FDS (NFDS entries, poll(2) style; revents are set), on the client's socket, or a signal; then
 * does the client's work (joinery_poll with no wait, until nothing is left), which runs the
 * confirmation callbacks. C may be NULL. Returns how many of FDS have events, or -1 when poll
 * fails (ERR). A hub that refuses the adapter is logged, not returned: the SDK keeps trying. */
int adapter_loop_run_once(adapter_loop_t *l, joinery_client_t *c, struct pollfd *fds, size_t nfds,
                          int timeout_ms, char *err, size_t errlen);

/* Does the client's work without waiting: call after queueing events, so they go out at once. */
void adapter_loop_drive(joinery_client_t *c);

/* 1 once SIGTERM or SIGINT has come. */
int adapter_loop_stopping(const adapter_loop_t *l);

#endif
