/* cli_golden.c - `joinery golden show`: one golden person, address or case from the hub's
 * database, with the records it absorbed followed, its fields, its cross-reference and its
 * history, as tables or JSON. */
#include "cli_admin.h"
#include "cli_commands.h"
#include "cli_master_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value on one table line: canonical addresses hold newlines, and a stray control character
 * must not be able to rewrite the operator's terminal. */
static const char *one_line(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 3 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/* The same columns for persons, addresses and cases (0006), so one printer serves all; the
 * record's 7th column is its key (an address's UPRN, a case's person), NULL for a person. */
typedef struct {
    const char *what; /* "person", "address", "case" */
    const char *rec, *fields, *xref, *history;
} golden_sql_t;

#define GOLDEN_FIELDS_SQL(table)                                                                   \
    "SELECT f.key, f.value->>'v', f.value->>'s', f.value->>'t', f.value->>'n' "                    \
    "FROM " table " g, json_each(g.fields) AS f WHERE g.master_id = $1 "                           \
    "ORDER BY f.key COLLATE \"C\""
#define ENTITY_XREF_SQL(table)                                                                     \
    "SELECT system, local_id, 'MATCH', '', NULL, linked_at FROM " table " WHERE master_id = $1 "   \
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\""
#define ENTITY_HISTORY_SQL(table)                                                                  \
    "SELECT h.version, f.key, f.value->>'o', f.value->>'n', coalesce(f.value->>'s', h.source), "   \
    "h.event_id, h.at FROM " table " h, json_each(h.changes) AS f WHERE h.master_id = $1 "         \
    "ORDER BY h.version DESC, f.key COLLATE \"C\""

static const golden_sql_t GOLDEN_SQL[] = {
    {"person",
     "SELECT master_id, version, state, redirect_to, created_at, updated_at, NULL "
     "FROM golden_person WHERE master_id = $1",
     GOLDEN_FIELDS_SQL("golden_person"),
     "SELECT system, local_id, link_state, how, score, linked_at FROM xref WHERE master_id = $1 "
     "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\"",
     "SELECT version, field, old_value, new_value, source, event_id, at "
     "FROM golden_person_field_history WHERE master_id = $1 "
     "ORDER BY version DESC, field COLLATE \"C\""},
    {"address",
     "SELECT master_id, version, 'ACTIVE', NULL, created_at, updated_at, uprn "
     "FROM golden_address WHERE master_id = $1",
     GOLDEN_FIELDS_SQL("golden_address"), ENTITY_XREF_SQL("address_xref"),
     ENTITY_HISTORY_SQL("golden_address_history")},
    {"case",
     "SELECT master_id, version, 'ACTIVE', NULL, created_at, updated_at, person_master_id "
     "FROM golden_case WHERE master_id = $1",
     GOLDEN_FIELDS_SQL("golden_case"), ENTITY_XREF_SQL("case_xref"),
     ENTITY_HISTORY_SQL("golden_case_history")},
};
#define SQL_GOLDEN (GOLDEN_SQL[0].rec)
static const char SQL_LOCAL_ID[] =
    "SELECT system, master_id, what FROM (SELECT system, master_id, local_id, '' AS what "
    "FROM xref UNION ALL SELECT system, master_id, local_id, 'address' FROM address_xref "
    "UNION ALL SELECT system, master_id, local_id, 'case' FROM case_xref) x "
    "WHERE local_id = $1 ORDER BY system COLLATE \"C\", what LIMIT 5";

#define MAX_REDIRECTS 32 /* a chain longer than this is a loop in damaged data */

typedef struct {
    PGresult *rec, *fields, *xref, *history;
    char final_id[128]; /* where the redirects end; "" if the record is ACTIVE */
    const golden_sql_t *kind;
} golden_t;

static void golden_free(golden_t *g)
{
    PQclear(g->rec);
    PQclear(g->fields);
    PQclear(g->xref);
    PQclear(g->history);
}

/* A name that is not a master id is often a system's local id: say whose it is. */
static int not_found(PGconn *c, const char *id, cm_err_t *e)
{
    const char *params[] = {id};
    PGresult *r = cm_db_rows(c, SQL_LOCAL_ID, 1, params, e);
    if (r == NULL) {
        return -1;
    }
    char hint[512] = "";
    size_t used = 0;
    for (int i = 0; i < PQntuples(r) && used < sizeof hint; i++) {
        const char *what = PQgetvalue(r, i, 2); /* "" for a person */
        int n = snprintf(hint + used, sizeof hint - used, "%s %s's local id for %s%s%s",
                         i ? "; and" : "; it is", PQgetvalue(r, i, 0), what, *what ? " " : "",
                         PQgetvalue(r, i, 1));
        used += n > 0 ? (size_t)n : 0;
    }
    PQclear(r);
    return cm_fail(e, "no golden record \"%s\"%s", id, hint);
}

/* Follows redirect_to to the record that absorbed this one. */
static int follow_redirects(PGconn *c, const char *start, char *out, size_t len, cm_err_t *e)
{
    (void)snprintf(out, len, "%s", start);
    for (int hop = 0; hop < MAX_REDIRECTS; hop++) {
        const char *params[] = {out};
        PGresult *r = cm_db_rows(c, SQL_GOLDEN, 1, params, e);
        if (r == NULL) {
            return -1;
        }
        const char *next = PQntuples(r) == 1 ? cm_col(r, 0, 3) : NULL;
        if (next == NULL) {
            PQclear(r);
            return 0;
        }
        (void)snprintf(out, len, "%s", next);
        PQclear(r);
    }
    return cm_fail(e, "%s: more than %d redirects (a loop?)", start, MAX_REDIRECTS);
}

static int golden_load(PGconn *c, const char *id, golden_t *g, cm_err_t *e)
{
    const char *params[] = {id};
    for (size_t k = 0; k < sizeof GOLDEN_SQL / sizeof GOLDEN_SQL[0] && g->kind == NULL; k++) {
        PQclear(g->rec);
        if ((g->rec = cm_db_rows(c, GOLDEN_SQL[k].rec, 1, params, e)) == NULL) {
            return -1;
        }
        if (PQntuples(g->rec) == 1) {
            g->kind = &GOLDEN_SQL[k];
        }
    }
    if (g->kind == NULL) {
        return not_found(c, id, e);
    }
    const char *redirect = cm_col(g->rec, 0, 3);
    if (redirect != NULL &&
        follow_redirects(c, redirect, g->final_id, sizeof g->final_id, e) != 0) {
        return -1;
    }
    if ((g->fields = cm_db_rows(c, g->kind->fields, 1, params, e)) == NULL ||
        (g->xref = cm_db_rows(c, g->kind->xref, 1, params, e)) == NULL ||
        (g->history = cm_db_rows(c, g->kind->history, 1, params, e)) == NULL) {
        return -1;
    }
    return 0;
}

/* Widest value in a column, within [min, max], for lining tables up. */
static int col_width(const PGresult *r, int column, int min, int max)
{
    int w = min;
    for (int i = 0; i < PQntuples(r); i++) {
        int n = PQgetlength(r, i, column);
        w = n > w ? n : w;
    }
    return w < max ? w : max;
}

static void print_golden_head(const golden_t *g)
{
    const PGresult *r = g->rec;
    char created[32], updated[32];
    if (strcmp(g->kind->what, "person") == 0) {
        printf("Golden record %s   version %s   %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
               PQgetvalue(r, 0, 2));
    } else {
        printf("Golden %s %s   version %s   %s %s\n", g->kind->what, PQgetvalue(r, 0, 0),
               PQgetvalue(r, 0, 1), strcmp(g->kind->what, "address") == 0 ? "UPRN" : "about person",
               PQgetvalue(r, 0, 6));
    }
    printf("created %s UTC, last changed %s UTC\n",
           cm_fmt_time(cm_col(r, 0, 4), created, sizeof created),
           cm_fmt_time(cm_col(r, 0, 5), updated, sizeof updated));
    if (cm_col(r, 0, 3) != NULL) {
        printf("MERGED AWAY: redirects to %s", PQgetvalue(r, 0, 3));
        if (strcmp(g->final_id, PQgetvalue(r, 0, 3)) != 0) {
            printf(", which now redirects to %s", g->final_id);
        }
        printf(". Its local ids and new changes belong to %s: see `joinery golden show %s`.\n"
               "The values below are this record's as they were at the merge.\n",
               g->final_id, g->final_id);
    }
}

static void print_golden_fields(const PGresult *r)
{
    int wf = col_width(r, 0, 5, 32), wv = col_width(r, 1, 5, 40), ws = col_width(r, 2, 6, 20);
    printf("\n%-*s  %-*s  %-*s  %-19s  %s\n", wf, "FIELD", wv, "VALUE", ws, "SOURCE", "WHEN (UTC)",
           "AT VERSION");
    for (int i = 0; i < PQntuples(r); i++) {
        char value[1024], when[32];
        const char *src = cm_col(r, i, 2), *n = cm_col(r, i, 4);
        printf("%-*s  %-*s  %-*s  %-19s  %s\n", wf, PQgetvalue(r, i, 0), wv,
               one_line(cm_col(r, i, 1), value, sizeof value), ws, src ? src : "?",
               cm_fmt_time(cm_col(r, i, 3), when, sizeof when), n ? n : "?");
    }
    if (PQntuples(r) == 0) {
        printf("(no fields)\n");
    }
}

static void print_golden_xref(const PGresult *r)
{
    int ws = col_width(r, 0, 6, 24), wl = col_width(r, 1, 8, 40);
    printf("\nCROSS-REFERENCE\n%-*s  %-*s  %-14s  %-7s  %-8s  %s\n", ws, "SYSTEM", wl, "LOCAL ID",
           "LINK STATE", "HOW", "SCORE", "LINKED (UTC)");
    for (int i = 0; i < PQntuples(r); i++) {
        char local[512], when[32], score[32] = "";
        double s = 0;
        if (cm_parse_double(cm_col(r, i, 4), &s) == 0) {
            (void)snprintf(score, sizeof score, "%.2f", s);
        }
        printf("%-*s  %-*s  %-14s  %-7s  %-8s  %s\n", ws, PQgetvalue(r, i, 0), wl,
               one_line(PQgetvalue(r, i, 1), local, sizeof local), PQgetvalue(r, i, 2),
               PQgetvalue(r, i, 3), score, cm_fmt_time(cm_col(r, i, 5), when, sizeof when));
    }
    if (PQntuples(r) == 0) {
        printf("(no local ids)\n");
    }
}

static void print_golden_history(const PGresult *r)
{
    printf("\nHISTORY (newest first)\n%-7s  %-24s  %-40s  %-12s  %-19s  %s\n", "VERSION", "FIELD",
           "OLD -> NEW", "SOURCE", "WHEN (UTC)", "EVENT");
    for (int i = 0; i < PQntuples(r); i++) {
        char old[512], newv[512], change[1100], when[32];
        const char *o = cm_col(r, i, 2), *n = cm_col(r, i, 3);
        (void)snprintf(change, sizeof change, "%s -> %s",
                       o ? one_line(o, old, sizeof old) : "(none)",
                       n ? one_line(n, newv, sizeof newv) : "(none)");
        printf("%-7s  %-24s  %-40s  %-12s  %-19s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               change, PQgetvalue(r, i, 4), cm_fmt_time(cm_col(r, i, 6), when, sizeof when),
               PQgetvalue(r, i, 5));
    }
    if (PQntuples(r) == 0) {
        printf("(no history)\n");
    }
}

static json_t *golden_fields_json(const PGresult *r)
{
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < PQntuples(r); i++) {
        json_t *f = json_object();
        int rc = f == NULL ? -1 : 0;
        if (f != NULL) {
            rc |= cm_jset(f, "value", cm_jstr(cm_col(r, i, 1)));
            rc |= cm_jset(f, "source", cm_jstr(cm_col(r, i, 2)));
            rc |= cm_jset(f, "at", cm_jtime(cm_col(r, i, 3)));
            rc |= cm_jset(f, "at_us", cm_jint(cm_col(r, i, 3)));
            rc |= cm_jset(f, "version", cm_jint(cm_col(r, i, 4)));
        }
        if (rc != 0 || cm_jset(o, PQgetvalue(r, i, 0), f) != 0) {
            json_decref(f);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *golden_xref_json(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < PQntuples(r); i++) {
        json_t *x = json_pack("{s:s, s:s, s:s, s:s}", "system", PQgetvalue(r, i, 0), "local_id",
                              PQgetvalue(r, i, 1), "link_state", PQgetvalue(r, i, 2), "how",
                              PQgetvalue(r, i, 3));
        int rc = x == NULL ? -1 : 0;
        if (x != NULL) {
            rc |= cm_jset(x, "score", cm_jreal(cm_col(r, i, 4)));
            rc |= cm_jset(x, "linked_at", cm_jtime(cm_col(r, i, 5)));
        }
        if (rc != 0 || json_array_append_new(a, x) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *golden_history_json(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < PQntuples(r); i++) {
        json_t *h = json_object();
        int rc = h == NULL ? -1 : 0;
        if (h != NULL) {
            rc |= cm_jset(h, "version", cm_jint(cm_col(r, i, 0)));
            rc |= cm_jset(h, "field", cm_jstr(cm_col(r, i, 1)));
            rc |= cm_jset(h, "old", cm_jstr(cm_col(r, i, 2)));
            rc |= cm_jset(h, "new", cm_jstr(cm_col(r, i, 3)));
            rc |= cm_jset(h, "source", cm_jstr(cm_col(r, i, 4)));
            rc |= cm_jset(h, "event_id", cm_jstr(cm_col(r, i, 5)));
            rc |= cm_jset(h, "at", cm_jtime(cm_col(r, i, 6)));
        }
        if (rc != 0 || json_array_append_new(a, h) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *golden_json(const golden_t *g)
{
    const PGresult *r = g->rec;
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    int rc = cm_jset(o, "master_id", cm_jstr(PQgetvalue(r, 0, 0)));
    rc |= cm_jset(o, "entity", cm_jstr(g->kind->what));
    if (strcmp(g->kind->what, "address") == 0) {
        rc |= cm_jset(o, "uprn", cm_jstr(cm_col(r, 0, 6)));
    } else if (strcmp(g->kind->what, "case") == 0) {
        rc |= cm_jset(o, "person_master_id", cm_jstr(cm_col(r, 0, 6)));
    }
    rc |= cm_jset(o, "version", cm_jint(PQgetvalue(r, 0, 1)));
    rc |= cm_jset(o, "state", cm_jstr(PQgetvalue(r, 0, 2)));
    rc |= cm_jset(o, "redirect_to", cm_jstr(cm_col(r, 0, 3)));
    rc |=
        cm_jset(o, "final_master_id", cm_jstr(g->final_id[0] ? g->final_id : PQgetvalue(r, 0, 0)));
    rc |= cm_jset(o, "created_at", cm_jtime(cm_col(r, 0, 4)));
    rc |= cm_jset(o, "updated_at", cm_jtime(cm_col(r, 0, 5)));
    rc |= cm_jset(o, "fields", golden_fields_json(g->fields));
    rc |= cm_jset(o, "xref", golden_xref_json(g->xref));
    rc |= cm_jset(o, "history", golden_history_json(g->history));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int golden_show(PGconn *c, const char *id, int as_json, cm_err_t *e)
{
    golden_t g = {0};
    int rc = golden_load(c, id, &g, e);
    if (rc == 0 && as_json) {
        rc = cm_json_print(golden_json(&g), e);
    } else if (rc == 0) {
        print_golden_head(&g);
        print_golden_fields(g.fields);
        print_golden_xref(g.xref);
        print_golden_history(g.history);
    }
    golden_free(&g);
    return rc;
}

/* through the admin API ----------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

static void print_api_fields(const json_t *fields)
{
    printf("\n%-24s  %-32s  %-12s  %-19s  %s\n", "FIELD", "VALUE", "SOURCE", "WHEN (UTC)",
           "AT VERSION");
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)fields, key, f)
    {
        char value[1024], when[32];
        json_t *t = json_object_get(f, "t"), *n = json_object_get(f, "n");
        printf("%-24s  %-32s  %-12s  %-19s  %lld\n", key,
               one_line(jstr(f, "v"), value, sizeof value), jstr(f, "s"),
               cli_admin_time(json_integer_value(t), when, sizeof when),
               (long long)json_integer_value(n));
    }
}

static void print_api_golden(const json_t *j)
{
    const json_t *g = json_object_get(j, "golden");
    printf("Golden record %s   version %lld   %s\n", jstr(g, "master_id"),
           (long long)json_integer_value(json_object_get(g, "version")), jstr(g, "state"));
    if (*jstr(g, "redirect_to") != '\0') {
        printf("MERGED AWAY: redirects to %s\n", jstr(g, "redirect_to"));
    }
    print_api_fields(json_object_get(g, "fields"));
    printf("\nCROSS-REFERENCE\n%-16s  %-24s  %-14s  %-7s  %s\n", "SYSTEM", "LOCAL ID", "LINK STATE",
           "HOW", "LINKED (UTC)");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "xref"), i, x)
    {
        char local[512], when[32];
        printf("%-16s  %-24s  %-14s  %-7s  %s\n", jstr(x, "system"),
               one_line(jstr(x, "local_id"), local, sizeof local), jstr(x, "link_state"),
               jstr(x, "how"),
               cli_admin_time(json_integer_value(json_object_get(x, "linked_at_us")), when,
                              sizeof when));
    }
    printf("\nHISTORY (newest first)\n%-7s  %-24s  %-40s  %-12s  %-19s  %s\n", "VERSION", "FIELD",
           "OLD -> NEW", "SOURCE", "WHEN (UTC)", "EVENT");
    json_array_foreach(json_object_get(j, "history"), i, x)
    {
        const char *field;
        json_t *c;
        json_object_foreach(json_object_get(x, "changes"), field, c)
        {
            char old[512], newv[512], change[1100], when[32];
            const char *o = json_string_value(json_object_get(c, "o"));
            const char *n = json_string_value(json_object_get(c, "n"));
            (void)snprintf(change, sizeof change, "%s -> %s",
                           o ? one_line(o, old, sizeof old) : "(none)",
                           n ? one_line(n, newv, sizeof newv) : "(none)");
            printf(
                "%-7lld  %-24s  %-40s  %-12s  %-19s  %s\n",
                (long long)json_integer_value(json_object_get(x, "version")), field, change,
                *jstr(c, "s") ? jstr(c, "s") : jstr(x, "source"),
                cli_admin_time(json_integer_value(json_object_get(x, "at_us")), when, sizeof when),
                jstr(x, "event_id"));
        }
    }
}

static int golden_show_api(const cli_admin_t *a, const char *id)
{
    char *e = cli_admin_escape(id);
    size_t n = e != NULL ? strlen(e) + 32 : 0;
    char *path = e != NULL ? malloc(n) : NULL;
    json_t *j = NULL;
    if (path != NULL) {
        (void)snprintf(path, n, "/api/v1/golden/%s", e);
        j = cli_admin_call(a, "GET", path, NULL);
    }
    free(path);
    free(e);
    if (j == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a->json) {
        rc = cli_admin_print_json(j);
    } else {
        print_api_golden(j);
    }
    json_decref(j);
    return rc;
}

static const char search_usage[] =
    "Usage: joinery golden search [--name TEXT] [--birth-date YYYY-MM-DD] [--postcode P]\n"
    "                             [--nhs-number N] [--limit N] [--json]\n"
    "\n"
    "Finds active golden persons through the hub's admin API (GET /api/v1/golden): the name\n"
    "anywhere in given and family name, any case; the postcode without spaces; the rest exact.\n"
    "NHS numbers are shown with all but the last three digits masked.\n"
    "\n" CLI_ADMIN_HELP;

static int golden_search_main(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"birth-date", required_argument, NULL, 'b'},
                                         {"postcode", required_argument, NULL, 'p'},
                                         {"nhs-number", required_argument, NULL, 'N'},
                                         {"limit", required_argument, NULL, 'l'},
                                         CLI_ADMIN_OPTIONS,
                                         {0}};
    static const char *const keys[] = {"name", "birth_date", "postcode", "nhs_number", "limit"};
    static const char letters[] = "nbpNl";
    const char *vals[5] = {NULL};
    cli_admin_t a;
    cli_admin_init(&a);
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *k = opt > 0 && opt < 128 ? strchr(letters, opt) : NULL;
        if (k != NULL) {
            vals[k - letters] = optarg;
        } else if (!cli_admin_option(&a, opt, optarg)) {
            fputs(search_usage, stderr);
            return CLI_USAGE;
        }
    }
    char path[2048] = "/api/v1/golden";
    size_t used = strlen(path);
    for (size_t i = 0; i < 5; i++) {
        char *v = vals[i] ? cli_admin_escape(vals[i]) : NULL;
        int w = v ? snprintf(path + used, sizeof path - used, "%s%s=%s",
                             strchr(path, '?') ? "&" : "?", keys[i], v)
                  : 0;
        free(v);
        if (w < 0 || (size_t)w >= sizeof path - used) {
            fprintf(stderr, "joinery golden search: the search terms are too long\n");
            return CLI_USAGE;
        }
        used += (size_t)w;
    }
    json_t *j = cli_admin_call(&a, "GET", path, NULL);
    if (j == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a.json) {
        rc = cli_admin_print_json(j);
    } else {
        size_t i;
        json_t *r;
        printf("%-28s  %-7s  %-28s  %-10s  %-9s  %s\n", "MASTER ID", "VERSION", "NAME", "BORN",
               "POSTCODE", "NHS NUMBER");
        json_array_foreach(json_object_get(j, "records"), i, r)
        {
            char name[256];
            (void)snprintf(name, sizeof name, "%s %s", jstr(r, "given"), jstr(r, "family"));
            printf("%-28s  %-7lld  %-28s  %-10s  %-9s  %s\n", jstr(r, "master_id"),
                   (long long)json_integer_value(json_object_get(r, "version")), name,
                   jstr(r, "birth_date"), jstr(r, "postcode"), jstr(r, "nhs_number_masked"));
        }
        if (json_is_true(json_object_get(j, "truncated"))) {
            printf("(more: narrow the search or raise --limit)\n");
        }
    }
    json_decref(j);
    return rc;
}

static const char golden_usage[] =
    "Usage: joinery golden show MASTER_ID [--db CONNINFO] [--json]\n"
    "\n"
    "Shows a golden record from the hub's database -- a person (P...), an address (A...,\n"
    "with its UPRN) or a case (C..., with the person it is about): its version and state (and,\n"
    "if it was merged away, which record it redirects to); each field with its value, the system "
    "that\n"
    "supplied it and when; its cross-reference (each system's local id and link state); and\n"
    "its history, newest first (version, field, old -> new, source, when, event).\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB; deprecated)\n"
    "  --admin URL      read a person through the hub's admin API instead (default\n"
    "                   $JOINERY_ADMIN when no --db or $JOINERY_DB is given)\n"
    "  --token-file F   the admin API's bearer token (default $JOINERY_ADMIN_TOKEN_FILE)\n"
    "  --json           one JSON object instead of the tables\n"
    "\n"
    "joinery golden search: see `joinery golden search --help`.\n";

int cli_golden_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"admin", required_argument, NULL, CLI_ADMIN_OPT_URL},
        {"token-file", required_argument, NULL, CLI_ADMIN_OPT_TOKEN},
        {0}};
    (void)common;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(golden_usage, stdout);
        return CLI_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "search") == 0) {
        return golden_search_main(argc - 1, argv + 1);
    }
    cli_admin_t a;
    cli_admin_init(&a);
    int admin = 0;
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        fputs(golden_usage, stderr);
        return CLI_USAGE;
    }
    const char *db = NULL;
    int as_json = 0, opt;
    optind = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (cli_admin_option(&a, opt, optarg)) {
            admin |= opt == CLI_ADMIN_OPT_URL;
            continue;
        }
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            fputs(golden_usage, stdout);
            return CLI_OK;
        default:
            fputs(golden_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 2) {
        fputs(golden_usage, stderr);
        return CLI_USAGE;
    }
    const char *id = argv[1 + optind];
    /* The API when asked for, or when it is all there is: --db (or $JOINERY_DB) is the old way.
     * The API shows persons; addresses and cases still need --db. */
    const char *env_db = getenv("JOINERY_DB");
    if (admin || (a.url != NULL && db == NULL && (env_db == NULL || *env_db == '\0'))) {
        a.json = as_json;
        return golden_show_api(&a, id);
    }
    int status = CLI_OK;
    PGconn *c = cm_db_connect("golden show", db, &status);
    if (c == NULL) {
        return status;
    }
    cm_err_t e = {""};
    return cm_db_close("golden show", c, golden_show(c, id, as_json, &e), &e);
}
