/* support_sink.c - the capturing sink (contract in support_sink.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "support_sink.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int cap_emit(void *ctx, const char *type, const char *target, const char *master_id,
                    const char *local_id, const char *payload_type, const uint8_t *payload,
                    size_t len)
{
    capture_t *c = ctx;
    if (++c->calls == c->fail_at)
        return -1;
    if (c->nstmts > 0)
        c->emit_after_sql = true;
    if (c->nemits == c->capemits) {
        c->capemits = c->capemits ? c->capemits * 2 : 64;
        c->emits = realloc(c->emits, c->capemits * sizeof *c->emits);
        assert_non_null(c->emits);
    }
    emitted_t *e = &c->emits[c->nemits++];
    e->type = strdup(type);
    e->target = dup_or_null(target);
    e->master_id = strdup(master_id);
    e->local_id = strdup(local_id);
    e->payload_type = strdup(payload_type);
    e->payload = malloc(len ? len : 1);
    assert_non_null(e->payload);
    memcpy(e->payload, payload, len);
    e->len = len;
    return 0;
}

static int cap_sql(void *ctx, const char *stmt, int nparams, const char *const *params)
{
    capture_t *c = ctx;
    if (++c->calls == c->fail_at)
        return -1;
    assert_true(nparams <= SINK_MAX_PARAMS);
    if (c->nstmts == c->capstmts) {
        c->capstmts = c->capstmts ? c->capstmts * 2 : 64;
        c->stmts = realloc(c->stmts, c->capstmts * sizeof *c->stmts);
        assert_non_null(c->stmts);
    }
    stmt_t *s = &c->stmts[c->nstmts++];
    s->stmt = strdup(stmt);
    s->n = nparams;
    for (int i = 0; i < nparams; i++)
        s->params[i] = dup_or_null(params[i]);
    if (c->conn != NULL) {
        PGresult *r = PQexecParams(c->conn, stmt, nparams, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", stmt, PQresultErrorMessage(r));
        PQclear(r);
    }
    return 0;
}

master_sink_t sink_capture(capture_t *c)
{
    return (master_sink_t){c, cap_emit, cap_sql, NULL, NULL};
}

void sink_clear(capture_t *c)
{
    for (size_t i = 0; i < c->nemits; i++) {
        emitted_t *e = &c->emits[i];
        free(e->type);
        free(e->target);
        free(e->master_id);
        free(e->local_id);
        free(e->payload_type);
        free(e->payload);
    }
    for (size_t i = 0; i < c->nstmts; i++) {
        free(c->stmts[i].stmt);
        for (int k = 0; k < c->stmts[i].n; k++)
            free(c->stmts[i].params[k]);
    }
    c->nemits = c->nstmts = 0;
    c->calls = 0;
    c->fail_at = 0;
    c->emit_after_sql = false;
}

void sink_free(capture_t *c)
{
    sink_clear(c);
    free(c->emits);
    free(c->stmts);
    c->emits = NULL;
    c->stmts = NULL;
    c->capemits = c->capstmts = 0;
}

static bool emit_is(const emitted_t *e, const char *type, const char *target)
{
    return (type == NULL || strcmp(e->type, type) == 0) &&
           (target == NULL || (e->target && strcmp(e->target, target) == 0));
}

const emitted_t *sink_find_emit(const capture_t *c, const char *type, const char *target)
{
    for (size_t i = 0; i < c->nemits; i++)
        if (emit_is(&c->emits[i], type, target))
            return &c->emits[i];
    return NULL;
}

size_t sink_count_emits(const capture_t *c, const char *type, const char *target)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nemits; i++)
        n += emit_is(&c->emits[i], type, target);
    return n;
}

const stmt_t *sink_find_sql(const capture_t *c, const char *prefix, size_t nth)
{
    for (size_t i = 0; i < c->nstmts; i++)
        if (strncmp(c->stmts[i].stmt, prefix, strlen(prefix)) == 0 && nth-- == 0)
            return &c->stmts[i];
    return NULL;
}

size_t sink_count_sql(const capture_t *c, const char *prefix)
{
    size_t n = 0;
    while (sink_find_sql(c, prefix, n) != NULL)
        n++;
    return n;
}

const stmt_t *sink_last_sql(const capture_t *c, const char *prefix)
{
    size_t n = sink_count_sql(c, prefix);
    return n ? sink_find_sql(c, prefix, n - 1) : NULL;
}
