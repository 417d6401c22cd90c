/* admin_steward.c - see admin_steward.h. */
#include "admin/admin_steward.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few fields that let a steward recognise a person at a glance. */
#define PERSON_COLS(t)                                                                             \
    t ".state, " t ".fields->'name.given'->>'v', " t ".fields->'name.family'->>'v', " t            \
      ".fields->'birth_date'->>'v', " t ".fields->'address.home.postcode'->>'v', " t               \
      ".fields->'nhs_number'->>'v'"

static json_int_t num(const PGresult *r, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* All but the last three digits: enough to tell two records apart, too
 * little to be a usable NHS number in a screenshot or a pasted ticket. */
static json_t *nhs_masked(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    char out[32];
    const char *nhs = PQgetvalue(r, row, col);
    size_t n = strlen(nhs), i;
    for (i = 0; i < n && i + 1 < sizeof out; i++)
        out[i] = i + 3 < n ? '*' : nhs[i];
    out[i] = '\0';
    return json_string(out);
}

/* The person whose master id is in column ID and PERSON_COLS from FIRST. */
static json_t *person(const PGresult *r, int row, int id, int first)
{
    return json_pack("{so so so so so so so}", "master_id", text_or_null(r, row, id), "state",
                     text_or_null(r, row, first), "given", text_or_null(r, row, first + 1),
                     "family", text_or_null(r, row, first + 2), "birth_date",
                     text_or_null(r, row, first + 3), "postcode", text_or_null(r, row, first + 4),
                     "nhs_number_masked", nhs_masked(r, row, first + 5));
}

static json_t *json_col(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *j = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
    return j ? j : json_string(PQgetvalue(r, row, col));
}

/* clang-format off */
static const char SQL_QUEUE[] =
    "SELECT q.id, q.state, q.score, q.master_a, q.master_b, q.evidence::text, q.created_at, "
    "q.decided_at, q.decided_by, q.reason, "
    PERSON_COLS("a") ", "
    PERSON_COLS("b")
    " FROM steward_queue q LEFT JOIN golden_person a ON a.master_id = q.master_a "
    "LEFT JOIN golden_person b ON b.master_id = q.master_b "
    "WHERE ($1::text = 'ALL' OR q.state = $1::text) AND q.id > $2::bigint ORDER BY q.id "
    "LIMIT $3::int";
/* clang-format on */

static json_t *queue_item(const PGresult *r, int i)
{
    return json_pack("{sI ss so so so so sI so so so}", "id", num(r, i, 0), "state",
                     PQgetvalue(r, i, 1), "score",
                     PQgetisnull(r, i, 2) ? json_null() : json_real(atof(PQgetvalue(r, i, 2))),
                     "master_a", person(r, i, 3, 10), "master_b", person(r, i, 4, 16), "evidence",
                     json_col(r, i, 5), "created_at_us", num(r, i, 6), "decided_at_us",
                     PQgetisnull(r, i, 7) ? json_null() : json_integer(num(r, i, 7)), "decided_by",
                     text_or_null(r, i, 8), "reason", text_or_null(r, i, 9));
}

json_t *admin_steward_queue(PGconn *c, const char *state, long long after, int limit, char *err,
                            size_t errlen)
{
    char a[24], l[16];
    snprintf(a, sizeof a, "%lld", after);
    snprintf(l, sizeof l, "%d", limit);
    const char *v[3] = {state, a, l};
    PGresult *r = PQexecParams(c, SQL_QUEUE, 3, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    json_t *items = json_array();
    int n = PQntuples(r);
    for (int i = 0; items && i < n; i++)
        json_array_append_new(items, queue_item(r, i));
    /* A full page may have more after it. */
    json_t *next = n == limit && n > 0 ? json_integer(num(r, n - 1, 0)) : json_null();
    PQclear(r);
    json_t *j = json_pack("{so so}", "items", items ? items : json_array(), "next_after", next);
    if (!j)
        snprintf(err, errlen, "out of memory");
    return j;
}

/* Names match in any case, given and family together or either alone;
 * postcodes without their spaces; the rest exactly. Only ACTIVE records: a
 * merged-away one is found through its survivor. */
/* clang-format off */
static const char SQL_SEARCH[] =
    "SELECT g.master_id, g.version, " PERSON_COLS("g") " FROM golden_person g "
    "WHERE g.state = 'ACTIVE' "
    "AND ($1 = '' OR lower(concat_ws(' ', g.fields->'name.given'->>'v', "
    "g.fields->'name.family'->>'v')) LIKE '%' || lower($1) || '%') "
    "AND ($2 = '' OR g.fields->'birth_date'->>'v' = $2) "
    "AND ($3 = '' OR upper(replace(g.fields->'address.home.postcode'->>'v', ' ', '')) = "
    "upper(replace($3, ' ', ''))) "
    "AND ($4 = '' OR replace(g.fields->'nhs_number'->>'v', ' ', '') = replace($4, ' ', '')) "
    "ORDER BY g.master_id LIMIT $5::int";
/* clang-format on */

/* A name's LIKE wildcards taken literally. OUT has room for twice IN. */
static void like_escape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 2 < cap; in++) {
        if (*in == '%' || *in == '_' || *in == '\\')
            out[n++] = '\\';
        out[n++] = *in;
    }
    out[n] = '\0';
}

json_t *admin_golden_search(PGconn *c, const admin_golden_search_t *q, char *err, size_t errlen)
{
    char name[GOLDEN_TERM_MAX * 2 + 1], l[16];
    like_escape(q->name, name, sizeof name);
    /* One more than asked: whether there were more. */
    snprintf(l, sizeof l, "%d", q->limit + 1);
    const char *v[5] = {name, q->birth_date, q->postcode, q->nhs_number, l};
    PGresult *r = PQexecParams(c, SQL_SEARCH, 5, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    json_t *list = json_array();
    int n = PQntuples(r);
    for (int i = 0; list && i < n && i < q->limit; i++) {
        json_t *p = person(r, i, 0, 2);
        if (p)
            json_object_set_new(p, "version", json_integer(num(r, i, 1)));
        json_array_append_new(list, p);
    }
    PQclear(r);
    json_t *j =
        json_pack("{so sb}", "records", list ? list : json_array(), "truncated", n > q->limit);
    if (!j)
        snprintf(err, errlen, "out of memory");
    return j;
}
