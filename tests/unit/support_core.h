/* support_core.h - the whole core (router_run) running in a thread against a
 * throwaway database, with one adapter talking to it over a real DEALER: what
 * test_ingest.c and test_session.c share for what only the core loop decides.
 * Failures fail the test. */
#ifndef JOINERY_TEST_SUPPORT_CORE_H
#define JOINERY_TEST_SUPPORT_CORE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>

#include "base/config.h"

typedef struct {
    char dir[256];
    char endpoint[128];
    config_t *cfg;
    char *conninfo;
    PGconn *db; /* the test's own connection to the core's database, if it wants one */
    pthread_t thread;
    int rc;
    void *ctx;
    void *sock; /* the adapter's DEALER */
} running_t;

/* The thread's body: router_run on R's configuration and database; its result into R->rc. */
void *run_core(void *arg);
/* The core stops on SIGTERM, read from a signalfd: every thread must block it. */
void block_stop_signals(void);
/* One command with its body to the core, from the adapter's socket. */
void client_send(running_t *r, const char *cmd, const void *body, size_t len);

#endif
