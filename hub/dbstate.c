/* dbstate.c - see dbstate.h. */
#include "dbstate.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

void dbstate_init(dbstate_t *d, int64_t now_us)
{
    memset(d, 0, sizeof *d);
    d->health = DB_UP;
    d->since_us = now_us;
    d->backoff_us = DBSTATE_BACKOFF_MIN_US;
}

static double seconds(int64_t us)
{
    return (double)us / 1e6;
}

/* libpq's messages run over several lines (the error, then HINT and CONTEXT,
 * which names the row that failed): one log line gets them joined by "; ". */
static void set_error(dbstate_t *d, const char *why)
{
    snprintf(d->error, sizeof d->error, "%s", why && *why ? why : "no reason given");
    size_t n = strlen(d->error);
    while (n && (d->error[n - 1] == '\n' || d->error[n - 1] == ' '))
        d->error[--n] = '\0';
    char joined[sizeof d->error];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < sizeof joined; i++) {
        char ch = d->error[i];
        if (ch == '\n') {
            joined[o++] = ';';
            joined[o++] = ' ';
        } else {
            joined[o++] = ch == '\t' ? ' ' : ch;
        }
    }
    joined[o] = '\0';
    memcpy(d->error, joined, o + 1);
}

/* Is the database's reason the same as before? Only its first part counts: the
 * CONTEXT that follows names the row, which differs from one try to the next. */
static bool same_reason(const char *a, const char *b)
{
    size_t la = strcspn(a, ";"), lb = strcspn(b, ";");
    return la == lb && memcmp(a, b, la) == 0;
}

/* Leaving the failing state, with what it cost. */
static void end_failing(dbstate_t *d, int64_t now_us, const char *now_what)
{
    if (d->health != DB_FAILING)
        return;
    log_info("router", "commits %s after %llu failed commit(s) over %.1f s", now_what,
             (unsigned long long)d->failures, seconds(now_us - d->since_us));
}

void dbstate_down(dbstate_t *d, const char *why, int64_t now_us)
{
    if (d->health == DB_DOWN)
        return;
    end_failing(d, now_us, "stopped: the database connection is lost");
    d->health = DB_DOWN;
    d->since_us = now_us;
    set_error(d, why);
    log_warn("router", "journal database unavailable (%s): publishes are answered RETRY", d->error);
}

void dbstate_up(dbstate_t *d, int64_t now_us)
{
    if (d->health != DB_DOWN)
        return;
    log_info("router", "journal database available again after %.1f s",
             seconds(now_us - d->since_us));
    d->health = DB_UP;
    d->since_us = now_us;
    d->failures = 0;
    d->backoff_us = DBSTATE_BACKOFF_MIN_US;
    d->next_try_us = 0;
}

void dbstate_commit_failed(dbstate_t *d, const char *error, int64_t now_us)
{
    d->failures++;
    d->failures_total++;
    d->next_try_us = now_us + d->backoff_us;
    d->backoff_us =
        d->backoff_us * 2 > DBSTATE_BACKOFF_MAX_US ? DBSTATE_BACKOFF_MAX_US : d->backoff_us * 2;
    char previous[sizeof d->error];
    memcpy(previous, d->error, sizeof previous);
    set_error(d, error);
    if (d->health != DB_FAILING) {
        d->health = DB_FAILING;
        d->since_us = now_us;
        d->reminded_us = now_us;
        d->failures_logged = d->failures;
        log_warn("router",
                 "commits are failing: %s; publishes are answered RETRY and commits retried "
                 "with a pause doubling up to %.0f s",
                 d->error, seconds(DBSTATE_BACKOFF_MAX_US));
    } else if (!same_reason(previous, d->error)) {
        /* A new reason is news (the disk freed, now a privilege is missing). */
        d->reminded_us = now_us;
        d->failures_logged = d->failures;
        log_warn("router", "commits still failing, now: %s", d->error);
    }
}

void dbstate_commit_ok(dbstate_t *d, int64_t now_us)
{
    if (d->health == DB_FAILING) {
        end_failing(d, now_us, "succeed again");
        d->health = DB_UP;
        d->since_us = now_us;
    }
    d->failures = 0;
    d->backoff_us = DBSTATE_BACKOFF_MIN_US;
    d->next_try_us = 0;
}

bool dbstate_may_commit(const dbstate_t *d, int64_t now_us)
{
    return d->health == DB_UP || (d->health == DB_FAILING && now_us >= d->next_try_us);
}

bool dbstate_accepting(const dbstate_t *d)
{
    return d->health != DB_DOWN;
}

void dbstate_tick(dbstate_t *d, int64_t now_us)
{
    if (d->health != DB_FAILING || now_us - d->reminded_us < DBSTATE_REMIND_US ||
        d->failures == d->failures_logged)
        return;
    log_warn("router", "commits still failing after %.0f s (%llu failed commit(s)): %s",
             seconds(now_us - d->since_us), (unsigned long long)d->failures, d->error);
    d->reminded_us = now_us;
    d->failures_logged = d->failures;
}

void dbstate_describe(const dbstate_t *d, int64_t now_us, char *out, size_t cap)
{
    if (cap == 0)
        return;
    double for_s = seconds(now_us - d->since_us);
    switch (d->health) {
    case DB_UP:
        snprintf(out, cap, "up");
        break;
    case DB_DOWN:
        snprintf(out, cap, "down for %.0f s: %s", for_s, d->error);
        break;
    case DB_FAILING:
        snprintf(out, cap, "failing for %.0f s (%llu failed commit(s)): %s", for_s,
                 (unsigned long long)d->failures, d->error);
        break;
    }
}
