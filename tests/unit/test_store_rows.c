/* test_store_rows.c - typed rows through the store thread into PostgreSQL.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt).
 *
 * The store builds its binary COPY from the rows' descriptors alone: every
 * type a descriptor may declare (text, json, jsonb, bigint, integer, double
 * precision, boolean) and NULL must arrive as the value given, bit for bit;
 * rows of one table gathered per batch keep the last row per key (and only
 * the same key: ("a", "bc") is not ("ab", "c")); a statement of the batch
 * sees the rows appended before it; a column no row gives takes its default.
 * A row whose value does not fit its column is refused when it is added. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "store/store.h"
#include "testdb.h"

#define ERRLEN 512

static const row_desc_t ALL = {"typed",
                               7,
                               {{"t", ROW_TEXT},
                                {"j", ROW_JSON},
                                {"jb", ROW_JSONB},
                                {"i8", ROW_INT8},
                                {"i4", ROW_INT4},
                                {"f8", ROW_FLOAT8},
                                {"b", ROW_BOOL}}};

static const row_desc_t KEYED = {"keyed", 3, {{"k1", ROW_TEXT}, {"k2", ROW_TEXT}, {"v", ROW_INT8}}};
static const row_upsert_t KEYED_UPSERT = {
    &KEYED, "stage_keyed",
    "INSERT INTO keyed (k1, k2, v) SELECT k1, k2, v FROM stage_keyed "
    "ON CONFLICT (k1, k2) DO UPDATE SET v = EXCLUDED.v",
    2};

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
}

/* One query's rows as text, one line per row, fields joined by '|' and NULL as '~'. */
static char *rows_text(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        for (int f = 0; f < PQnfields(r); f++) {
            const char *v = PQgetisnull(r, i, f) ? "~" : PQgetvalue(r, i, f);
            size_t need = strlen(v) + 2;
            while (len + need + 1 > cap) {
                cap *= 2;
                char *more = realloc(out, cap);
                assert_non_null(more);
                out = more;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s%s", v,
                                    f + 1 == PQnfields(r) ? "\n" : "|");
        }
    PQclear(r);
    return out;
}

typedef struct {
    void *zctx;
    store_t *store;
    PGconn *conn;
} fixture_t;

static void open_fixture(fixture_t *fx, const char *dbname)
{
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh(dbname, err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    fx->conn = testdb_connect(conninfo);
    assert_non_null(fx->conn);
    exec_ok(fx->conn, "CREATE TABLE typed (t text, j json, jb jsonb, i8 bigint, i4 integer, "
                      "f8 double precision, b boolean, d text NOT NULL DEFAULT 'default')");
    exec_ok(fx->conn, "CREATE TABLE keyed (k1 text, k2 text, v bigint NOT NULL, "
                      "PRIMARY KEY (k1, k2))");
    exec_ok(fx->conn, "CREATE TABLE seen (n bigint)");
    exec_ok(fx->conn, "SET extra_float_digits = 3");
    fx->zctx = zmq_ctx_new();
    assert_non_null(fx->zctx);
    fx->store = store_new(fx->zctx, conninfo, err, sizeof err);
    free(conninfo);
    if (fx->store == NULL)
        fail_msg("store_new: %s", err);
}

static void close_fixture(fixture_t *fx)
{
    store_destroy(&fx->store);
    zmq_ctx_term(fx->zctx);
    PQfinish(fx->conn);
}

/* Hands B to the store and waits for it to come back; its status. */
static jbatch_status_t commit(fixture_t *fx, jbatch_t *b)
{
    assert_int_equal(store_submit(fx->store, b), 0);
    for (;;) {
        zmq_pollitem_t it = {store_socket(fx->store), 0, ZMQ_POLLIN, 0};
        assert_true(zmq_poll(&it, 1, 30000) == 1);
        store_event_t ev;
        jbatch_t *back = NULL;
        store_job_t *job = NULL;
        if (store_receive(fx->store, &ev, &back, &job) < 0 || ev != STORE_BATCH)
            continue;
        assert_ptr_equal(back, b);
        jbatch_status_t st = back->status;
        if (st != JB_COMMITTED)
            print_error("batch failed: %s\n", back->error);
        jbatch_release(&back);
        return st;
    }
}

static void add(jbatch_t *b, row_val_t t, row_val_t j, row_val_t jb, row_val_t i8, row_val_t i4,
                row_val_t f8, row_val_t bo)
{
    const row_val_t v[] = {t, j, jb, i8, i4, f8, bo};
    assert_int_equal(jbatch_add_row(b, &ALL, v), 0);
}

static void keyed(jbatch_t *b, const char *k1, const char *k2, int64_t v)
{
    const row_val_t r[] = {row_text(k1), row_text(k2), row_int(v)};
    assert_int_equal(jbatch_add_upsert_row(b, &KEYED_UPSERT, r), 0);
}

static void test_every_type_arrives_as_given(void **state)
{
    (void)state;
    fixture_t fx = {0};
    open_fixture(&fx, "test_store_types");
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    add(b, row_text("tab\there, newline\nthere, back\\slash, \xc3\xa9t\xc3\xa9"),
        row_text("{\"a\": [1, 2.50, \"x\\ty\"]}"), row_text("{\"b\": 1, \"a\": {\"c\": null}}"),
        row_int(INT64_MIN), row_int(INT32_MIN), row_float8(-0.0), row_bool(false));
    add(b, row_text(""), row_text("\"\""), row_text("[]"), row_int(INT64_MAX), row_int(INT32_MAX),
        row_float8(0.1 + 0.2), row_bool(true));
    add(b, row_null(), row_null(), row_null(), row_null(), row_null(), row_null(), row_null());
    add(b, row_text(NULL), row_text(NULL), row_text(NULL), row_int(0), row_int(-1), row_float8(NAN),
        row_bool(true));
    add(b, row_text("big"), row_text("1e400"), row_text("{}"), row_int(1717200000000000LL),
        row_int(7), row_float8(5e-324), row_bool(false));
    add(b, row_text("last"), row_text("null"), row_text("{}"), row_int(8), row_int(9),
        row_float8(-1.7976931348623157e308), row_null());
    /* Values that do not fit their column are refused and leave nothing behind. */
    size_t before = b->nsql;
    const row_val_t wide[] = {
        row_text("x"), row_text("{}"), row_text("{}"), row_int(1), row_int(INT64_C(1) << 31),
        row_float8(1), row_bool(true)};
    assert_int_equal(jbatch_add_row(b, &ALL, wide), -1);
    assert_int_equal(b->nsql, before);
    /* A statement sees the rows appended in the same batch. */
    assert_int_equal(jbatch_add_sql(b, "INSERT INTO seen SELECT count(*) FROM typed", 0, NULL), 0);
    assert_int_equal(commit(&fx, b), JB_COMMITTED);

    char *got = rows_text(fx.conn, "SELECT t, j::text, jb::text, i8, i4, f8, b, d FROM typed "
                                   "ORDER BY i8 NULLS FIRST, i4");
    assert_string_equal(got, "~|~|~|~|~|~|~|default\n"
                             "tab\there, newline\nthere, back\\slash, \xc3\xa9t\xc3\xa9|"
                             "{\"a\": [1, 2.50, \"x\\ty\"]}|{\"a\": {\"c\": null}, \"b\": 1}|"
                             "-9223372036854775808|-2147483648|-0|f|default\n"
                             "~|~|~|0|-1|NaN|t|default\n"
                             "last|null|{}|8|9|-1.7976931348623157e+308|~|default\n"
                             "big|1e400|{}|1717200000000000|7|5e-324|f|default\n"
                             "|\"\"|[]|9223372036854775807|2147483647|0.30000000000000004|t|"
                             "default\n");
    free(got);
    /* Every bit of the doubles. */
    got = rows_text(fx.conn, "SELECT count(*) FROM typed WHERE f8 = 0.1::float8 + 0.2::float8 "
                             "OR (f8 = 0 AND text(f8) = '-0') OR f8 = 5e-324::float8");
    assert_string_equal(got, "3\n");
    free(got);
    got = rows_text(fx.conn, "SELECT n FROM seen");
    assert_string_equal(got, "6\n");
    free(got);
    close_fixture(&fx);
}

static void test_gathered_rows_keep_the_last_per_key(void **state)
{
    (void)state;
    fixture_t fx = {0};
    open_fixture(&fx, "test_store_upsert");
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    keyed(b, "a", "bc", 1);
    keyed(b, "ab", "c", 2);
    keyed(b, "a", "bc", 3);
    keyed(b, "", "", 4);
    keyed(b, "ab", "", 5);
    keyed(b, "ab", "c", 6);
    keyed(b, "a", "bc", 7);
    assert_int_equal(commit(&fx, b), JB_COMMITTED);
    char *got = rows_text(fx.conn, "SELECT k1, k2, v FROM keyed ORDER BY k1, k2");
    assert_string_equal(got, "||4\na|bc|7\nab||5\nab|c|6\n");
    free(got);

    /* The next batch on the same connection: the stage is empty again, and a row lands on the
     * one committed before. */
    b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    keyed(b, "ab", "c", 8);
    keyed(b, "z", "z", 9);
    assert_int_equal(commit(&fx, b), JB_COMMITTED);
    got = rows_text(fx.conn, "SELECT k1, k2, v FROM keyed ORDER BY k1, k2");
    assert_string_equal(got, "||4\na|bc|7\nab||5\nab|c|8\nz|z|9\n");
    free(got);
    close_fixture(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_arrives_as_given),
        cmocka_unit_test(test_gathered_rows_keep_the_last_per_key),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
