/* test_store.c - the store thread (hub/store/store.h) against a real
 * PostgreSQL, and core_dispatch's rule of one commit in flight (hub/core.h).
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture; each case makes
 * its own database with testdb_fresh and migrates it.
 *
 * The test plays the core: it hands batches to the store over the pipe and
 * waits for what comes back (zmq_poll with a deadline, never a sleep).
 *
 * Covered: a batch and its rows committed and read back; a batch that fails
 * commits nothing and the store goes on; a duplicate older than the dedup
 * table is found row by row and answered with the original seq; a lost
 * connection is reported down, re-made and reported up; and a COMMIT cut off
 * with the connection is never guessed: the store looks in the journal after
 * reconnecting and reports committed exactly when the batch's first event is
 * there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core.h"
#include "store/migrate.h"
#include "store/store.h"
#include "testdb.h"

#define ERRLEN 512

typedef struct {
    char *conninfo;
    PGconn *db; /* the test's own connection */
    void *ctx;
    store_t *store;
    int downs, ups; /* STORE_DB_DOWN / STORE_DB_UP seen */
} fx_t;

static void exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(db));
    PQclear(r);
}

static long long scalar(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(db));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static fx_t *fx_open(const char *dbname)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[ERRLEN] = "";
    f->conninfo = testdb_fresh(dbname, err, sizeof err);
    if (!f->conninfo)
        fail_msg("testdb_fresh: %s", err);
    f->db = testdb_connect(f->conninfo);
    assert_non_null(f->db);
    if (migrate_apply(f->db, migrate_default_dir(), err, sizeof err) < 0)
        fail_msg("migrate_apply: %s", err);
    f->ctx = zmq_ctx_new();
    f->store = store_new(f->ctx, f->conninfo, err, sizeof err);
    if (!f->store)
        fail_msg("store_new: %s", err);
    return f;
}

static void fx_close(fx_t *f)
{
    store_destroy(&f->store);
    zmq_ctx_term(f->ctx);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
}

/* The next batch the store hands back, counting DB_DOWN/DB_UP on the way.
 * Fails when the store says nothing for fifteen seconds. */
static jbatch_t *next_batch(fx_t *f)
{
    for (;;) {
        zmq_pollitem_t it = {store_socket(f->store), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 15000) != 1)
            fail_msg("the store said nothing for fifteen seconds (%d down, %d up)", f->downs,
                     f->ups);
        store_event_t ev;
        jbatch_t *b = NULL;
        store_job_t *job = NULL;
        assert_int_equal(store_receive(f->store, &ev, &b, &job), 0);
        assert_int_not_equal(ev, STORE_JOB);
        if (ev == STORE_DB_DOWN)
            f->downs++;
        else if (ev == STORE_DB_UP)
            f->ups++;
        else
            return b;
    }
}

/* Waits for the next DB_DOWN or DB_UP; fails on a batch. */
static store_event_t next_news(fx_t *f)
{
    zmq_pollitem_t it = {store_socket(f->store), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 15000) != 1)
        fail_msg("the store said nothing for fifteen seconds");
    store_event_t ev;
    jbatch_t *b = NULL;
    store_job_t *job = NULL;
    assert_int_equal(store_receive(f->store, &ev, &b, &job), 0);
    if (ev == STORE_BATCH)
        fail_msg("a batch came back (%s) before the store reported on the database", b->error);
    f->downs += ev == STORE_DB_DOWN;
    f->ups += ev == STORE_DB_UP;
    return ev;
}

/* A commit batch of events SEQ .. SEQ+N-1 with ids PREFIX<seq>. */
static jbatch_t *events(uint64_t seq, size_t n, const char *prefix)
{
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        char id[64], env[64];
        (void)snprintf(id, sizeof id, "%s%llu", prefix, (unsigned long long)(seq + i));
        int len = snprintf(env, sizeof env, "\x0a%c%s", (int)strlen(id), id);
        assert_non_null(jbatch_add(b, seq + i, "crm.contact.updated", 19, "crm", 3, id, strlen(id),
                                   "r:crm/c-1", 9, (const uint8_t *)env, (size_t)len,
                                   1000 + (int64_t)i));
    }
    return b;
}

static jbatch_t *commit(fx_t *f, jbatch_t *b)
{
    assert_int_equal(store_submit(f->store, b), 0);
    jbatch_t *back = next_batch(f);
    assert_ptr_equal(back, b);
    return back;
}

static void expect_committed(fx_t *f, jbatch_t *b)
{
    b = commit(f, b);
    if (b->status != JB_COMMITTED)
        fail_msg("expected the batch committed: %s", b->error);
    jbatch_release(&b);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_batch_committed_and_read_back(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_commit");
    jbatch_t *b = events(1, 3, "E");
    char *patterns[] = {"crm.*"};
    assert_int_equal(jbatch_add_cursor(b, "socialcare", "main", 0, patterns, 1), 0);
    assert_int_equal(
        jbatch_add_reject(b, "crm", "R1", "crm.bad", "type is invalid", "\x01\x02", 2, 2, 5), 0);
    assert_int_equal(jbatch_add_dead(b, "socialcare", "main", 1, "E1", "crm.contact.updated", 3,
                                     "too many attempts",
                                     "\x0a\x02"
                                     "E1",
                                     4, 6),
                     0);
    expect_committed(f, b);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal"), 3);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal WHERE seq = 2 AND event_id = "
                                   "'E2' AND source = 'crm' AND entity_key = 'r:crm/c-1'"),
                     1);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM rejected_event WHERE event_id = 'R1' "
                                   "AND bytes = '\\x0102'::bytea"),
                     1);
    assert_int_equal(scalar(f->db, "SELECT attempts FROM dead_letter WHERE seq = 1"), 3);
    assert_int_equal(scalar(f->db, "SELECT acked_seq FROM subscription WHERE name = 'main'"), 0);

    /* A cursor moves forward only. */
    b = jbatch_new(JB_COMMIT);
    jbatch_add_cursor(b, "socialcare", "main", 2, NULL, 0);
    expect_committed(f, b);
    assert_int_equal(scalar(f->db, "SELECT acked_seq FROM subscription WHERE name = 'main'"), 2);

    /* Read back from seq 2, as a catch-up does. */
    jbatch_t *r = jbatch_new(JB_FETCH);
    r->fetch_from = 2;
    r->fetch_limit = 10;
    r = commit(f, r);
    assert_int_equal(r->status, JB_COMMITTED);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->e[0].seq, 2);
    assert_int_equal(r->e[1].seq, 3);
    assert_memory_equal(jentry_event_id(r, &r->e[0]), "E2", 2);
    assert_int_equal(r->e[0].received_at, 1001);
    assert_int_equal(r->e[0].env_len, 4);
    assert_memory_equal(jentry_envelope(r, &r->e[0]),
                        "\x0a\x02"
                        "E2",
                        4);
    jbatch_release(&r);

    /* And what the hub reads at start-up. */
    char err[ERRLEN];
    uint64_t head = 0;
    assert_int_equal(store_head(f->db, &head, err, sizeof err), 0);
    assert_int_equal(head, 3);
    window_t *w = window_new(100);
    assert_int_equal(store_load_window(f->db, 1, w, err, sizeof err), 0);
    assert_int_equal(window_first(w), 2);
    assert_int_equal(window_last(w), 3);
    window_destroy(&w);
    dedup_t *d = dedup_new(16);
    assert_int_equal(store_load_dedup(f->db, 0, d, err, sizeof err), 0);
    uint64_t seq = 0;
    assert_true(dedup_get(d, dedup_key("crm", 3, "E3", 2), &seq));
    assert_int_equal(seq, 3);
    dedup_destroy(&d);
    fx_close(f);
}

static void test_failed_batch_commits_nothing(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_failed");
    expect_committed(f, events(1, 1, "E"));

    jbatch_t *b = events(2, 2, "E");
    const char *p[] = {"x"};
    assert_int_equal(jbatch_add_sql(b, "INSERT INTO no_such_table VALUES ($1)", 1, p), 0);
    assert_int_equal(jbatch_add_reject(b, "crm", "R1", "crm.bad", "why", "\x01", 1, 1, 5), 0);
    b = commit(f, b);
    assert_int_equal(b->status, JB_FAILED);
    if (strstr(b->error, "no_such_table") == NULL)
        fail_msg("the error does not say what failed: %s", b->error);
    jbatch_release(&b);
    /* Nothing of it is kept: not its events, not its rows. */
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal"), 1);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM rejected_event"), 0);

    /* The store goes on with the next batch. */
    expect_committed(f, events(4, 1, "E"));
    assert_int_equal(scalar(f->db, "SELECT max(seq) FROM journal"), 4);
    assert_int_equal(f->downs, 0);
    fx_close(f);
}

static void test_old_duplicate_found_row_by_row(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_duplicate");
    expect_committed(f, events(1, 2, "E")); /* E1, E2 */

    /* E2 again (the dedup table has forgotten it) with a new event E7. */
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(jbatch_add(b, 6, "crm.contact.updated", 19, "crm", 3, "E2", 2, "r:crm/c-1", 9,
                               (const uint8_t *)"\x0a\x02"
                                                "E2",
                               4, 2000));
    assert_non_null(jbatch_add(b, 7, "crm.contact.updated", 19, "crm", 3, "E7", 2, "r:crm/c-1", 9,
                               (const uint8_t *)"\x0a\x02"
                                                "E7",
                               4, 2001));
    b = commit(f, b);
    if (b->status != JB_COMMITTED)
        fail_msg("a batch with an old duplicate must still commit: %s", b->error);
    assert_int_equal(b->e[0].state, JE_DUPLICATE);
    assert_int_equal(b->e[0].dup_seq, 2); /* its publisher is told the original seq */
    assert_int_equal(b->e[1].state, JE_OK);
    jbatch_release(&b);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal WHERE seq = 6"), 0);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal WHERE seq = 7"), 1);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal WHERE event_id = 'E2'"), 1);
    fx_close(f);
}

/* Ends the store's connection from the server side; waits until it is gone. */
static void kill_store_connection(fx_t *f)
{
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 10000) "
                                   "FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()) t"),
                     1);
}

static void test_lost_connection_reported_and_remade(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_reconnect");
    expect_committed(f, events(1, 1, "E"));
    kill_store_connection(f);

    /* The next batch finds the connection gone: failed (nothing was begun),
     * the core is told the database is down, then that it is back. */
    jbatch_t *b = commit(f, events(2, 1, "E"));
    assert_int_equal(b->status, JB_FAILED);
    jbatch_release(&b);
    assert_int_equal(f->downs, 1);
    if (f->ups == 0)
        assert_int_equal(next_news(f), STORE_DB_UP);
    assert_int_equal(f->ups, 1);
    expect_committed(f, events(2, 1, "E"));
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal"), 2);
    fx_close(f);
}

/* A deferred trigger that ends the store's backend inside COMMIT, when the
 * batch holds an event with id 'die-at-commit': the COMMIT is cut off with
 * its connection and the client cannot know whether it happened. (pg_sleep
 * is where the backend acts on its own termination; it never runs out.) */
static void install_death_at_commit(PGconn *db)
{
    exec_ok(db, "CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(30); "
                "RETURN NULL; END $$");
    exec_ok(db, "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON journal "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "WHEN (NEW.event_id = 'die-at-commit') EXECUTE FUNCTION die_at_commit()");
}

static jbatch_t *doomed_batch(uint64_t seq)
{
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(jbatch_add(b, seq, "crm.contact.updated", 19, "crm", 3, "die-at-commit", 13,
                               "r:crm/c-1", 9, (const uint8_t *)"\x0a\x01x", 3, 3000));
    return b;
}

static void test_cut_off_commit_that_did_not_happen(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_unknown_failed");
    install_death_at_commit(f->db);
    expect_committed(f, events(1, 1, "E"));

    jbatch_t *b = commit(f, doomed_batch(2));
    /* Reported failed only once the journal was asked: after the reconnect. */
    assert_int_equal(b->status, JB_FAILED);
    assert_int_equal(f->downs, 1);
    assert_int_equal(f->ups, 1);
    jbatch_release(&b);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal WHERE seq = 2"), 0);
    expect_committed(f, events(3, 1, "E"));
    fx_close(f);
}

static void test_cut_off_commit_that_did_happen(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_unknown_ok");
    install_death_at_commit(f->db);
    expect_committed(f, events(1, 1, "E"));

    /* No new connections for now: the store cannot look until we let it.
     * (Said from another database: a database cannot shut itself.) */
    char admin_info[512];
    (void)snprintf(admin_info, sizeof admin_info, "%s dbname=postgres", f->conninfo);
    PGconn *admin = testdb_connect(admin_info);
    assert_non_null(admin);
    exec_ok(admin, "ALTER DATABASE test_store_unknown_ok WITH ALLOW_CONNECTIONS false");
    jbatch_t *b = doomed_batch(2);
    assert_int_equal(store_submit(f->store, b), 0);
    /* The store says the database is away and holds the batch... */
    assert_int_equal(next_news(f), STORE_DB_DOWN);
    /* ...while, as far as the journal can tell, the batch did commit. */
    exec_ok(f->db, "INSERT INTO journal (seq, source, event_id, type, entity_key, received_at, "
                   "envelope) VALUES (2, 'crm', 'committed-after-all', 'crm.contact.updated', "
                   "'r:crm/c-1', 3000, '\\x0a0178'::bytea)");
    exec_ok(admin, "ALTER DATABASE test_store_unknown_ok WITH ALLOW_CONNECTIONS true");
    PQfinish(admin);
    jbatch_t *back = next_batch(f);
    assert_ptr_equal(back, b);
    if (back->status != JB_COMMITTED)
        fail_msg("the journal holds the batch's first seq, but it was reported failed: %s",
                 back->error);
    assert_int_equal(f->ups, 1);
    jbatch_release(&back);
    expect_committed(f, events(3, 1, "E"));
    fx_close(f);
}

/* core_dispatch (core.c): one commit in flight at a time, none while the
 * database is away, none for an empty batch. */
static void test_dispatch_one_commit_at_a_time(void **state)
{
    (void)state;
    fx_t *f = fx_open("test_store_dispatch");
    core_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->store = f->store;
    c->db_up = true;
    c->pending = jbatch_new(JB_COMMIT);
    core_dispatch(c); /* empty: nothing to do */
    assert_false(c->inflight.away);

    jbatch_t *first = events(1, 1, "E");
    jbatch_release(&c->pending);
    c->pending = first;
    c->db_up = false;
    core_dispatch(c);
    assert_false(c->inflight.away);
    assert_ptr_equal(c->pending, first);

    c->db_up = true;
    core_dispatch(c);
    assert_true(c->inflight.away);
    assert_ptr_not_equal(c->pending, first);
    assert_true(core_pending_empty(c));

    /* More events arrive while the commit is in flight: they wait. */
    jbatch_t *second = events(2, 1, "E");
    jbatch_release(&c->pending);
    c->pending = second;
    core_dispatch(c);
    assert_ptr_equal(c->pending, second);

    jbatch_t *back = next_batch(f);
    assert_ptr_equal(back, first);
    assert_int_equal(back->status, JB_COMMITTED);
    jbatch_release(&back);
    c->inflight.away = false; /* back, as the router takes it */
    core_dispatch(c);
    assert_true(c->inflight.away);
    assert_ptr_not_equal(c->pending, second);
    back = next_batch(f);
    assert_ptr_equal(back, second);
    assert_int_equal(back->status, JB_COMMITTED);
    jbatch_release(&back);
    jbatch_release(&c->pending);
    free(c->pending_owed.v);
    free(c->inflight.owed.v);
    free(c);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM journal"), 2);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_committed_and_read_back),
        cmocka_unit_test(test_failed_batch_commits_nothing),
        cmocka_unit_test(test_old_duplicate_found_row_by_row),
        cmocka_unit_test(test_lost_connection_reported_and_remade),
        cmocka_unit_test(test_cut_off_commit_that_did_not_happen),
        cmocka_unit_test(test_cut_off_commit_that_did_happen),
        cmocka_unit_test(test_dispatch_one_commit_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
