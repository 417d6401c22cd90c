/* support_core.h - the whole core (router_run) running in a thread against a
 * throwaway database, with one adapter talking to it over a real DEALER: what
 * test_ingest.c and test_session.c share for what only the core loop decides.
 * Failures fail the test. */
#ifndef JOINERY_TEST_SUPPORT_CORE_H
#define JOINERY_TEST_SUPPORT_CORE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

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

/* Starts the core on a fresh, migrated database DBNAME with CONFIG (a format
 * taking the endpoint, then the conninfo) and opens a session as ADAPTER.
 * R->db stays open for the test. */
running_t *start_core(const char *dbname, const char *config, const char *adapter);
/* Stops the core with SIGTERM (it must exit 0) and frees everything. */
void stop_core(running_t *r);
/* The next message's command into CMD and its body into BODY (the caller
 * closes it); false after TIMEOUT_MS. */
bool client_recv(running_t *r, char *cmd, size_t cap, zmq_msg_t *body, int timeout_ms);

/* The thread's body: router_run on R's configuration and database; its result into R->rc. */
void *run_core(void *arg);
/* The core stops on SIGTERM, read from a signalfd: every thread must block it. */
void block_stop_signals(void);
/* One command with its body to the core, from the adapter's socket. */
void client_send(running_t *r, const char *cmd, const void *body, size_t len);

#endif
