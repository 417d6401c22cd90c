/* dbstate.h - what the core knows of the journal database, and when it may
 * try a commit again.
 *
 * The database can be away (the connection is lost: the store reconnects and
 * says so) or present but refusing writes (a full disk, a revoked privilege, a
 * broken constraint: every commit fails while the connection stays up). In
 * the second case nothing tells the core the fault is over except a commit
 * that succeeds, so the core keeps trying, with a doubling pause between
 * tries, and says so once per change of state rather than once per try: a
 * full disk must not fill the log too.
 *
 * Only the core thread touches a dbstate_t; it is a plain value inside
 * core_t. Times are core_now_us() microseconds, passed in so tests can drive
 * the clock. */
#ifndef JOINERY_DBSTATE_H
#define JOINERY_DBSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DB_UP,      /* commits succeed */
    DB_DOWN,    /* no connection: the store is reconnecting */
    DB_FAILING, /* connected, but commits fail */
} db_health_t;

/* The first pause after a failed commit, doubling up to the last. */
#define DBSTATE_BACKOFF_MIN_US 100000LL
#define DBSTATE_BACKOFF_MAX_US 5000000LL
/* While commits keep failing, a reminder at most this often. */
#define DBSTATE_REMIND_US 60000000LL

typedef struct {
    db_health_t health;
    uint64_t failures;        /* failed commits since the last that succeeded */
    uint64_t failures_total;  /* this hub run */
    int64_t since_us;         /* when the current state began */
    int64_t next_try_us;      /* no commit before this while failing */
    int64_t backoff_us;       /* the pause after the next failure */
    int64_t reminded_us;      /* the last reminder logged while failing */
    uint64_t failures_logged; /* failures when the last line was logged */
    char error[256];          /* the latest failure, for STATUS and the log */
} dbstate_t;

void dbstate_init(dbstate_t *d, int64_t now_us);

/* The store says the connection is gone, or back. */
void dbstate_down(dbstate_t *d, const char *why, int64_t now_us);
void dbstate_up(dbstate_t *d, int64_t now_us);

/* A commit's outcome: the connection stayed, but it failed (ERROR is the
 * database's reason), or it succeeded. */
void dbstate_commit_failed(dbstate_t *d, const char *error, int64_t now_us);
void dbstate_commit_ok(dbstate_t *d, int64_t now_us);

/* May the core hand the store a commit now? */
bool dbstate_may_commit(const dbstate_t *d, int64_t now_us);
/* Are publishes accepted for the journal (not answered RETRY at once)? True
 * while failing too: the pending batch is what finds out the fault is over. */
bool dbstate_accepting(const dbstate_t *d);

/* Logs a reminder if commits have kept failing since the last line. */
void dbstate_tick(dbstate_t *d, int64_t now_us);

/* "up", "down: ..." or "failing for 12 s (34 failed commits): ..." for
 * STATUS; always NUL-terminated. */
void dbstate_describe(const dbstate_t *d, int64_t now_us, char *out, size_t cap);

#endif
