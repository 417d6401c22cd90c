/* test_sdk_order_pg.c - the SDK against the real hub (joineryd) and PostgreSQL: a publisher
 * keeps publishing over a set of records while the journal refuses writes for two seconds (a
 * trigger that raises, in this test's own database), so the hub answers RETRY; afterwards the
 * journal holds every event once and each record's events in publish order (issue 23).
 * JOINERY_NEEDS_PG: ctest starts the throwaway cluster first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../include/joinery/joinery.h"
#include "../../adapters/sdk/sdk_arena.c"
#include "../../adapters/sdk/sdk_backoff.c"
#include "../../adapters/sdk/sdk_client.c"
#include "../../adapters/sdk/sdk_codec.c"
#include "../../adapters/sdk/sdk_dedup.c"
#include "../../adapters/sdk/sdk_hindex.c"
#include "../../adapters/sdk/sdk_keys.c"
#include "../../adapters/sdk/sdk_outbox.c"
#include "../../adapters/sdk/sdk_status.c"
#include "../../adapters/sdk/sdk_ulid.c"
#include "../../adapters/sdk/sdk_util.c"

#include "support_hubproc.h"
#include "testdb.h"

#define RECORDS 50
#define RATE 100 /* events per second: each record every 500 ms, far above a round trip */
#define REFUSE_FROM_MS 500
#define REFUSE_UNTIL_MS 2500
#define PUBLISH_FOR_MS 3500

typedef hubproc_t rig_t;

static void sql(rig_t *r, const char *q)
{
    PGresult *res = PQexec(r->db, q);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", q, PQerrorMessage(r->db));
    }
    PQclear(res);
}

static int rig_setup(void **state)
{
    rig_t *r;
    int rc = hubproc_start(&r, "sdk_order", "  - name: crm\n    publish: [\"crm.*\"]\n");
    *state = r;
    return rc;
}

static int rig_teardown(void **state)
{
    rig_t *r = *state;
    hubproc_stop(&r);
    return 0;
}

static void test_order_kept_while_journal_refuses_writes(void **state)
{
    rig_t *r = *state;
    if (r == NULL) {
        skip();
    }
    joinery_options_t o = {.endpoint = r->endpoint, .adapter = "crm", .max_unconfirmed = 20000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (c == NULL) {
        fail_msg("connect: %s", err);
    }
    sql(r, "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS "
           "$$BEGIN RAISE EXCEPTION 'the journal refuses writes (test)'; END$$");
    int64_t t0 = sdk_now_ms();
    int refusing = 0, refused = 0;
    size_t n = 0;
    for (;;) {
        int64_t t = sdk_now_ms() - t0;
        if (!refused && t >= REFUSE_FROM_MS) {
            sql(r, "CREATE TRIGGER refuse BEFORE INSERT ON journal "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes()");
            refusing = refused = 1;
        }
        if (refusing && t >= REFUSE_UNTIL_MS) {
            sql(r, "DROP TRIGGER refuse ON journal");
            refusing = 0;
        }
        if (t >= PUBLISH_FOR_MS) {
            break;
        }
        if ((int64_t)n * 1000 / RATE <= t) {
            char id[32], rec[16];
            snprintf(id, sizeof id, "o-%06zu", n);
            snprintf(rec, sizeof rec, "rec-%zu", n % RECORDS);
            joinery_event_t ev = {.event_id = id,
                                  .type = "crm.contact.updated",
                                  .source_record_id = rec,
                                  .payload_type = "application/json",
                                  .payload = "{}",
                                  .payload_len = 2};
            assert_int_equal(joinery_publish_async(c, &ev, NULL, NULL, NULL), 0);
            n++;
        }
        joinery_poll(c, 2);
    }
    if (joinery_flush(c, 60000) != 0) {
        fail_msg("flush: %s", joinery_last_error(c));
    }
    joinery_close(&c);
    /* the hub did meet the refusal (said once per change of state, dbstate.c) */
    assert_true(hubproc_log_has(r, "commits are failing"));

    PGresult *res = PQexec(r->db, "SELECT entity_key, event_id FROM journal "
                                  "WHERE source = 'crm' ORDER BY seq");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal((size_t)PQntuples(res), n);
    char last[RECORDS][32];
    memset(last, 0, sizeof last);
    size_t disorder = 0;
    char example[128] = "";
    for (int i = 0; i < PQntuples(res); i++) {
        const char *key = PQgetvalue(res, i, 0); /* r:crm/rec-N */
        const char *id = PQgetvalue(res, i, 1);
        const char *dash = strrchr(key, '-');
        assert_non_null(dash);
        size_t k = strtoul(dash + 1, NULL, 10) % RECORDS;
        if (strcmp(id, last[k]) < 0) {
            if (disorder++ == 0) {
                snprintf(example, sizeof example, "%s journaled after %s", id, last[k]);
            }
        } else {
            snprintf(last[k], sizeof last[k], "%s", id);
        }
    }
    PQclear(res);
    if (disorder > 0) {
        fail_msg("%zu of %zu events journaled out of publish order for their record, e.g. %s",
                 disorder, n, example);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_kept_while_journal_refuses_writes, rig_setup,
                                        rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
