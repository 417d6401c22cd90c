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

#include "testdb.h"

#define RECORDS 50
#define RATE 100 /* events per second: each record every 500 ms, far above a round trip */
#define REFUSE_FROM_MS 500
#define REFUSE_UNTIL_MS 2500
#define PUBLISH_FOR_MS 3500

typedef struct {
    char dir[64];
    char log[128];
    char endpoint[64];
    char *conninfo;
    PGconn *db;
    pid_t hub;
} rig_t;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int log_has(const rig_t *r, const char *what)
{
    FILE *f = fopen(r->log, "r");
    char line[1024];
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, what) != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

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
    const char *build = getenv("JOINERY_BUILD_DIR");
    char hubbin[512];
    snprintf(hubbin, sizeof hubbin, "%s/hub/joineryd", build ? build : ".");
    if (build == NULL || access(hubbin, X_OK) != 0) {
        fprintf(stderr, "no joineryd at %s: skipped\n", hubbin);
        *state = NULL;
        return 0;
    }
    rig_t *r = calloc(1, sizeof *r);
    char err[512];
    r->conninfo = testdb_fresh("sdk_order", err, sizeof err);
    if (r->conninfo == NULL) {
        fprintf(stderr, "%s\n", err);
        free(r);
        return -1;
    }
    snprintf(r->dir, sizeof r->dir, "/tmp/joinery-sdk-order-XXXXXX");
    if (mkdtemp(r->dir) == NULL) {
        free(r->conninfo);
        free(r);
        return -1;
    }
    chmod(r->dir, 0711);
    snprintf(r->log, sizeof r->log, "%s/hub.log", r->dir);
    int port = free_port();
    snprintf(r->endpoint, sizeof r->endpoint, "tcp://127.0.0.1:%d", port);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", r->dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "hub:\n  listen: %s\n  data_dir: %s/data\ndatabase:\n  conninfo: \"%s\"\n"
            "security:\n  curve: false\nadapters:\n  - name: crm\n    publish: [\"crm.*\"]\n",
            r->endpoint, r->dir, r->conninfo);
    fclose(f);
    r->hub = fork();
    if (r->hub == 0) {
        int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(hubbin, hubbin, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && !log_has(r, "ready: listening"); i++) {
        if (waitpid(r->hub, NULL, WNOHANG) == r->hub) {
            fprintf(stderr, "joineryd exited during start-up; see %s\n", r->log);
            r->hub = 0;
            return -1;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (!log_has(r, "ready: listening")) {
        fprintf(stderr, "joineryd not ready in 30 s; see %s\n", r->log);
        return -1;
    }
    r->db = testdb_connect(r->conninfo);
    if (r->db == NULL) {
        return -1;
    }
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    rig_t *r = *state;
    if (r == NULL) {
        return 0;
    }
    if (r->hub > 0) {
        kill(r->hub, SIGTERM);
        waitpid(r->hub, NULL, 0);
    }
    if (r->db != NULL) {
        PQfinish(r->db);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", r->dir);
    }
    free(r->conninfo);
    free(r);
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
    assert_true(log_has(r, "commits are failing"));

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
