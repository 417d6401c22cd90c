/* cli_master.c - the master-data commands of `joinery`, for data stewards and the data owner:
 *
 *   steward list | link | keep-apart | merge | unmerge   the steward queue and its decisions
 *   xref export                                          a cross-reference as CSV (persons,
 *                                                        addresses or cases)
 *   golden show                                          one golden person, address or case,
 *                                                        its ids and history
 *   match train                                          Fellegi-Sunter m and u from local data
 *
 * The reading commands query PostgreSQL directly: the tables are the durable truth and the hub
 * has no read API for them. The writing commands never touch the tables: the hub's in-memory
 * master-data engine owns those rows and would not see a change made behind its back, so each
 * decision goes through the hub as a steward.* event carrying a joinery.v1.StewardDecision. */
#include "cli_commands.h"
#include "cli_event.h"
#include "match/match.h"

#include <joinery/v1/master.pb-c.h>

#include <jansson.h>
#include <libpq-fe.h>

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DECISION_TYPE "joinery.v1.StewardDecision"

/* Errors --------------------------------------------------------------------------------- */

/* Helpers describe a failure here and return -1; the command's main prints it, once. */
typedef struct {
    char msg[1024];
} cm_err_t;

__attribute__((format(printf, 2, 3))) static int fail(cm_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    /* libpq's messages end in a newline; the caller adds its own. */
    size_t n = strlen(e->msg);
    while (n > 0 && (e->msg[n - 1] == '\n' || e->msg[n - 1] == ' ')) {
        e->msg[--n] = '\0';
    }
    return -1;
}

/* Small parsers and formatters ------------------------------------------------------------ */

static int parse_i64(const char *s, long long *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return -1; /* strtoull would accept "-1" and a leading blank */
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* UTC microseconds (the tables' clock) as "YYYY-MM-DD HH:MM:SS"; "" when absent or unreadable. */
static const char *fmt_time(const char *us_text, char *out, size_t len)
{
    long long us = 0;
    out[0] = '\0';
    if (parse_i64(us_text, &us) != 0) {
        return out;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL) {
        (void)strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
    }
    return out;
}

/* Only the last three digits: enough for a steward to tell two records apart, too little to be
 * a usable NHS number in a screenshot or a pasted ticket. */
static const char *mask_nhs(const char *nhs, char *out, size_t len)
{
    size_t n = strlen(nhs), i;
    for (i = 0; i < n && i + 1 < len; i++) {
        out[i] = i + 3 < n ? '*' : nhs[i];
    }
    out[i] = '\0';
    return out;
}

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

/* Who decided, for the audit trail: $USER, else the account's name. */
static const char *default_decider(char *buf, size_t len)
{
    const char *u = getenv("USER");
    if (u != NULL && u[0] != '\0') {
        return u;
    }
    struct passwd pw, *found = NULL;
    char scratch[1024];
    if (getpwuid_r(geteuid(), &pw, scratch, sizeof scratch, &found) == 0 && found != NULL) {
        (void)snprintf(buf, len, "%s", found->pw_name);
        return buf;
    }
    return "unknown";
}

/* Database --------------------------------------------------------------------------------- */

static const char *db_conninfo(const char *opt)
{
    if (opt != NULL && opt[0] != '\0') {
        return opt;
    }
    const char *env = getenv("JOINERY_DB");
    return env != NULL && env[0] != '\0' ? env : NULL;
}

/* Said when the read commands have neither --db nor $JOINERY_DB: a usage error. */
static const char NO_DB[] = "no database given: use --db CONNINFO or set JOINERY_DB (the hub's "
                            "database.conninfo, e.g. \"host=/run/postgresql dbname=joinery\")";

static int db_exec(PGconn *c, const char *sql, cm_err_t *e)
{
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        fail(e, "database: %s", PQerrorMessage(c));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* Connects for reading. Everything runs in one read-only snapshot: a record, its
 * cross-reference and its history then agree even while the hub writes, and a mistake in
 * this tool cannot write to tables the engine owns. */
static PGconn *db_open(const char *conninfo, cm_err_t *e)
{
    PGconn *c = PQconnectdb(conninfo);
    if (c == NULL) {
        fail(e, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        fail(e, "cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        fail(e, "database: cannot use UTF8: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static PGresult *db_rows(PGconn *c, const char *sql, int n, const char *const *params, cm_err_t *e)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail(e, "database: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* A column's text, or NULL for SQL NULL. */
static const char *col(const PGresult *r, int row, int column)
{
    return PQgetisnull(r, row, column) ? NULL : PQgetvalue(r, row, column);
}

/* JSON helpers ----------------------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *jint(const char *s)
{
    long long v = 0;
    return parse_i64(s, &v) == 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *jreal(const char *s)
{
    double v = 0;
    return parse_double(s, &v) == 0 && isfinite(v) ? json_real(v) : json_null();
}

/* UTC microseconds as ISO 8601, for JSON readers that are people or spreadsheets. */
static json_t *jtime(const char *us_text)
{
    char when[32];
    fmt_time(us_text, when, sizeof when);
    if (when[0] == '\0') {
        return json_null();
    }
    when[10] = 'T';
    char iso[40];
    (void)snprintf(iso, sizeof iso, "%sZ", when);
    return json_string(iso);
}

/* Sets o[key] = v; a NULL v (invalid UTF-8 or out of memory) makes it fail. */
static int jset(json_t *o, const char *key, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(o, key, v);
}

/* Prints v indented on stdout; frees it. */
static int json_print(json_t *v, cm_err_t *e)
{
    char *s = v != NULL ? json_dumps(v, JSON_INDENT(2)) : NULL;
    json_decref(v);
    if (s == NULL) {
        return fail(e, "cannot render JSON");
    }
    puts(s);
    free(s);
    return 0;
}

/* steward list ------------------------------------------------------------------------------ */

/* The few fields that let a steward recognise a person at a glance. */
#define PERSON_COLS(t)                                                                             \
    t ".state, " t ".fields->'name.given'->>'v', " t ".fields->'name.family'->>'v', " t            \
      ".fields->'birth_date'->>'v', " t ".fields->'address.home.postcode'->>'v', " t               \
      ".fields->'nhs_number'->>'v'"

/* Continuation lines of an item start under its records: "%-7s %-11s %5s  " */
#define LIST_INDENT 27

enum { Q_ID, Q_STATE, Q_SCORE, Q_A, Q_B, Q_EVIDENCE, Q_CREATED, Q_DECIDED, Q_BY, Q_REASON, Q_PA };
enum { P_STATE, P_GIVEN, P_FAMILY, P_BIRTH, P_POSTCODE, P_NHS, P_NCOLS };

/* One clause a line reads better than the reflowed macro calls. */
/* clang-format off */
static const char SQL_QUEUE_LIST[] =
    "SELECT q.id, q.state, q.score, q.master_a, q.master_b, q.evidence::text, q.created_at, "
    "q.decided_at, q.decided_by, q.reason, "
    PERSON_COLS("a") ", "
    PERSON_COLS("b")
    " FROM steward_queue q LEFT JOIN golden_person a ON a.master_id = q.master_a "
    "LEFT JOIN golden_person b ON b.master_id = q.master_b "
    "WHERE $1::text = 'ALL' OR q.state = $1::text ORDER BY q.id";
/* clang-format on */

typedef struct {
    const char *id, *state, *given, *family, *birth, *postcode, *nhs;
    char nhs_masked[32];
} person_view_t;

static void person_view(const PGresult *r, int row, int master_col, int first, person_view_t *v)
{
    v->id = col(r, row, master_col);
    v->state = col(r, row, first + P_STATE);
    v->given = col(r, row, first + P_GIVEN);
    v->family = col(r, row, first + P_FAMILY);
    v->birth = col(r, row, first + P_BIRTH);
    v->postcode = col(r, row, first + P_POSTCODE);
    const char *nhs = col(r, row, first + P_NHS);
    v->nhs = nhs != NULL ? mask_nhs(nhs, v->nhs_masked, sizeof v->nhs_masked) : NULL;
}

/* "Brian Jones, born 1971-03-02, M1 1AE, no NHS number" */
static const char *person_summary(const person_view_t *v, char *out, size_t len)
{
    if (v->state == NULL) {
        (void)snprintf(out, len, "(no such golden record)");
        return out;
    }
    char name[256], nhs[48] = "no NHS number", born[32] = "no birth date", state[48] = "";
    if (v->given != NULL || v->family != NULL) {
        (void)snprintf(name, sizeof name, "%s%s%s", v->given ? v->given : "",
                       v->given && v->family ? " " : "", v->family ? v->family : "");
    } else {
        (void)snprintf(name, sizeof name, "(no name)");
    }
    if (v->nhs != NULL) {
        (void)snprintf(nhs, sizeof nhs, "NHS %s", v->nhs);
    }
    if (v->birth != NULL) {
        (void)snprintf(born, sizeof born, "born %s", v->birth);
    }
    if (strcmp(v->state, "ACTIVE") != 0) {
        (void)snprintf(state, sizeof state, " [%s]", v->state);
    }
    (void)snprintf(out, len, "%s, %s, %s, %s%s", name, born,
                   v->postcode ? v->postcode : "no postcode", nhs, state);
    return out;
}

static json_t *person_json(const person_view_t *v)
{
    char summary[512];
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    int rc = jset(o, "master_id", jstr(v->id));
    rc |= jset(o, "state", jstr(v->state));
    rc |= jset(o, "given", jstr(v->given));
    rc |= jset(o, "family", jstr(v->family));
    rc |= jset(o, "birth_date", jstr(v->birth));
    rc |= jset(o, "postcode", jstr(v->postcode));
    rc |= jset(o, "nhs_number_masked", jstr(v->nhs));
    rc |= jset(o, "summary", jstr(person_summary(v, summary, sizeof summary)));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "given exact +6.42, family exact +8.78, ..., phone missing", in the matcher's field order
 * (jsonb keeps its keys in its own order, which reads badly). */
static void print_evidence(json_t *evidence)
{
    json_t *fields = json_object_get(evidence, "fields");
    printf("%*sevidence:", LIST_INDENT, "");
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        const char *name = match_field_name((match_field_t)f);
        json_t *one = json_object_get(fields, name);
        const char *level = json_string_value(json_object_get(one, "level"));
        json_t *w = json_object_get(one, "weight");
        printf("%s %s %s", f ? "," : "", name, level ? level : "?");
        if (json_is_number(w) && level != NULL && strcmp(level, "missing") != 0) {
            printf(" %+.2f", json_number_value(w));
        }
    }
    const char *why = json_string_value(json_object_get(evidence, "reason"));
    printf("\n%*swhy: %s\n", LIST_INDENT, "", why ? why : "?");
}

static void print_queue_row(const PGresult *r, int row, json_t *evidence)
{
    person_view_t a, b;
    person_view(r, row, Q_A, Q_PA, &a);
    person_view(r, row, Q_B, Q_PA + P_NCOLS, &b);
    char sa[512], sb[512], score[32] = "-";
    double s = 0;
    if (parse_double(col(r, row, Q_SCORE), &s) == 0) {
        (void)snprintf(score, sizeof score, "%.2f", s);
    }
    printf("%-7s %-11s %5s  A %s  %s\n", col(r, row, Q_ID), col(r, row, Q_STATE), score,
           a.id ? a.id : "?", person_summary(&a, sa, sizeof sa));
    printf("%*sB %s  %s\n", LIST_INDENT, "", b.id ? b.id : "?", person_summary(&b, sb, sizeof sb));
    print_evidence(evidence);
    const char *by = col(r, row, Q_BY);
    if (col(r, row, Q_DECIDED) != NULL) {
        char when[32];
        const char *reason = col(r, row, Q_REASON);
        printf("%*sdecided %s UTC by %s%s%s\n", LIST_INDENT, "",
               fmt_time(col(r, row, Q_DECIDED), when, sizeof when), by ? by : "?",
               reason ? ": " : "", reason ? reason : "");
    }
}

static json_t *queue_row_json(const PGresult *r, int row, json_t *evidence)
{
    person_view_t a, b;
    person_view(r, row, Q_A, Q_PA, &a);
    person_view(r, row, Q_B, Q_PA + P_NCOLS, &b);
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    int rc = jset(o, "id", jint(col(r, row, Q_ID)));
    rc |= jset(o, "state", jstr(col(r, row, Q_STATE)));
    rc |= jset(o, "score", jreal(col(r, row, Q_SCORE)));
    rc |= jset(o, "master_a", person_json(&a));
    rc |= jset(o, "master_b", person_json(&b));
    rc |= jset(o, "evidence", json_incref(evidence));
    rc |= jset(o, "created_at", jtime(col(r, row, Q_CREATED)));
    rc |= jset(o, "decided_at", jtime(col(r, row, Q_DECIDED)));
    rc |= jset(o, "decided_by", jstr(col(r, row, Q_BY)));
    rc |= jset(o, "reason", jstr(col(r, row, Q_REASON)));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int steward_list(PGconn *c, const char *state, int as_json, cm_err_t *e)
{
    const char *params[] = {state};
    PGresult *r = db_rows(c, SQL_QUEUE_LIST, 1, params, e);
    if (r == NULL) {
        return -1;
    }
    int n = PQntuples(r), rc = 0;
    json_t *all = as_json ? json_array() : NULL;
    if (!as_json && n == 0) {
        printf("No %s%ssteward queue items.\n", strcmp(state, "ALL") == 0 ? "" : state,
               strcmp(state, "ALL") == 0 ? "" : " ");
    } else if (!as_json) {
        printf("%-7s %-11s %5s  RECORDS (A was there first, B is the newcomer)\n", "QUEUE", "STATE",
               "SCORE");
    }
    for (int i = 0; i < n && rc == 0; i++) {
        json_t *evidence = json_loads(PQgetvalue(r, i, Q_EVIDENCE), 0, NULL);
        if (evidence == NULL) {
            rc = fail(e, "steward queue item %s: unreadable evidence", PQgetvalue(r, i, Q_ID));
        } else if (as_json) {
            rc = json_array_append_new(all, queue_row_json(r, i, evidence)) == 0
                     ? 0
                     : fail(e, "cannot build JSON for item %s", PQgetvalue(r, i, Q_ID));
        } else {
            print_queue_row(r, i, evidence);
        }
        json_decref(evidence);
    }
    PQclear(r);
    if (as_json) {
        if (rc == 0) {
            return json_print(all, e);
        }
        json_decref(all);
    }
    return rc;
}

/* steward decisions ------------------------------------------------------------------------- */

typedef struct {
    const char *verb;   /* as typed: link, keep-apart, merge, unmerge */
    const char *action; /* StewardDecision.action and the event type's suffix */
    int by_queue;       /* may name a steward queue item instead of two records */
} verb_t;

static const verb_t VERBS[] = {{"link", "link", 1},
                               {"keep-apart", "keep_apart", 1},
                               {"merge", "merge", 0},
                               {"unmerge", "unmerge", 0}};

static const verb_t *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++) {
        if (strcmp(VERBS[i].verb, name) == 0) {
            return &VERBS[i];
        }
    }
    return NULL;
}

typedef struct {
    const verb_t *verb;
    unsigned long long queue_id; /* 0: the two records below */
    char *a, *b;
    char *reason;
    const char *by;
    int timeout_ms;
} decision_t;

/* The StewardDecision, serialised; caller frees. */
static uint8_t *decision_pack(const decision_t *d, size_t *len, cm_err_t *e)
{
    char action[16], by[256];
    (void)snprintf(action, sizeof action, "%s", d->verb->action);
    (void)snprintf(by, sizeof by, "%s", d->by);
    Joinery__V1__StewardDecision m = JOINERY__V1__STEWARD_DECISION__INIT;
    m.action = action;
    m.decided_by = by;
    m.queue_id = d->queue_id;
    if (d->a != NULL) {
        m.master_id_a = d->a;
        m.master_id_b = d->b;
    }
    if (d->reason != NULL) {
        m.reason = d->reason;
    }
    *len = joinery__v1__steward_decision__get_packed_size(&m);
    uint8_t *buf = malloc(*len > 0 ? *len : 1);
    if (buf == NULL) {
        fail(e, "out of memory");
        return NULL;
    }
    (void)joinery__v1__steward_decision__pack(&m, buf);
    return buf;
}

/* Publishes the decision and prints the hub's confirmation: 0 when the hub took it, -1 when it
 * refused (the reason in e) or did not answer. */
static int steward_decide(const cli_common_t *common, const decision_t *d, cm_err_t *e)
{
    size_t len = 0;
    uint8_t *payload = decision_pack(d, &len, e);
    if (payload == NULL) {
        return -1;
    }
    joinery_client_t *c = cli_connect(common);
    if (c == NULL) {
        free(payload);
        return fail(e, "cannot reach the hub (see above)");
    }
    char type[40];
    (void)snprintf(type, sizeof type, "steward.%s", d->verb->action);
    joinery_event_t ev = {
        .type = type, .payload_type = DECISION_TYPE, .payload = payload, .payload_len = len};
    joinery_confirm_t cf;
    int rc = joinery_publish(c, &ev, &cf, d->timeout_ms);
    free(payload);
    if (rc != 0) {
        rc = fail(e, "%s", joinery_last_error(c));
    } else {
        cli_print_line(cli_confirm_json(&cf));
        if (cf.status == JOINERY_REJECTED) {
            rc = fail(e, "rejected: %s", cf.reason);
        }
    }
    joinery_close(&c);
    return rc;
}

/* Positional arguments of a decision: QUEUE_ID, or two master ids. 0, or -1 with a usage
 * message in e. */
static int decision_args(decision_t *d, int n, char **args, cm_err_t *e)
{
    if (n == 1 && d->verb->by_queue) {
        if (parse_u64(args[0], &d->queue_id) != 0 || d->queue_id == 0) {
            return fail(e,
                        "\"%s\" is not a steward queue id (a whole number; see `joinery "
                        "steward list`)",
                        args[0]);
        }
        return 0;
    }
    if (n != 2) {
        return fail(e,
                    d->verb->by_queue ? "%s needs QUEUE_ID, or MASTER_A and MASTER_B"
                                      : "%s needs SURVIVOR and RETIRED master ids",
                    d->verb->verb);
    }
    if (strcmp(args[0], args[1]) == 0) {
        return fail(e, "the two master ids are the same");
    }
    d->a = args[0];
    d->b = args[1];
    return 0;
}

/* steward command ---------------------------------------------------------------------------- */

static const char steward_usage[] =
    "Usage: joinery steward list [--db CONNINFO] [--state OPEN|ALL|LINKED|KEPT_APART|MERGED]\n"
    "                            [--json]\n"
    "       joinery steward link (QUEUE_ID | MASTER_A MASTER_B) [decision options]\n"
    "       joinery steward keep-apart (QUEUE_ID | MASTER_A MASTER_B) [decision options]\n"
    "       joinery steward merge SURVIVOR RETIRED [decision options]\n"
    "       joinery steward unmerge SURVIVOR RETIRED [decision options]\n"
    "\n"
    "list reads the steward queue from the hub's database: each item's id, score, the two\n"
    "golden records (A was there first, B is the newcomer) summarised as name, birth date,\n"
    "postcode and NHS number (all but the last 3 digits masked), and the per-field evidence\n"
    "(comparison level and weight). Default: the OPEN items, as a table.\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --state S        OPEN (default), ALL, or one decided state\n"
    "  --json           a JSON array instead of the table\n"
    "\n"
    "link, keep-apart, merge and unmerge send a StewardDecision through the hub (event\n"
    "steward.link, steward.keep_apart, steward.merge, steward.unmerge), as an adapter allowed\n"
    "to publish steward.* (default \"ops\"), and print the hub's confirmation as JSON. link\n"
    "merges the pair into MASTER_A; keep-apart records that they are different people; merge\n"
    "redirects RETIRED into SURVIVOR; unmerge undoes that merge exactly. Exit status 1 if the\n"
    "hub refused the decision (the reason is on stderr) or did not answer.\n"
    "Decision options:\n"
    "  --reason TEXT    why, kept in the audit trail\n"
    "  --by NAME        who decided (default $USER)\n"
    "  --timeout MS     how long to wait for the hub (default 30000)\n"
    "\n" CLI_COMMON_HELP;

static int is_queue_state(const char *s)
{
    static const char *const states[] = {"OPEN", "ALL", "LINKED", "KEPT_APART", "MERGED"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(s, states[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int steward_list_main(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *state = "OPEN";
    int as_json = 0, opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 's':
            state = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            fputs(steward_usage, stdout);
            return CLI_OK;
        default:
            fputs(steward_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc || !is_queue_state(state)) {
        fprintf(stderr, "joinery steward list: --state is OPEN, ALL, LINKED, KEPT_APART or "
                        "MERGED, and there are no arguments\n");
        return CLI_USAGE;
    }
    const char *conninfo = db_conninfo(db);
    if (conninfo == NULL) {
        fprintf(stderr, "joinery steward list: %s\n", NO_DB);
        return CLI_USAGE;
    }
    cm_err_t e = {""};
    PGconn *c = db_open(conninfo, &e);
    int rc = c != NULL ? steward_list(c, state, as_json, &e) : -1;
    PQfinish(c);
    if (rc != 0) {
        fprintf(stderr, "joinery steward list: %s\n", e.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int steward_decision_main(const verb_t *verb, int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    char user[256];
    decision_t d = {.verb = verb, .by = default_decider(user, sizeof user), .timeout_ms = 30000};
    unsigned long long timeout = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg)) {
            continue;
        }
        switch (opt) {
        case 'r':
            d.reason = optarg;
            break;
        case 'b':
            d.by = optarg;
            break;
        case 'T':
            if (cli_parse_ull("timeout", optarg, 1, 86400000, &timeout) != 0) {
                return CLI_USAGE;
            }
            d.timeout_ms = (int)timeout;
            break;
        case 'h':
            fputs(steward_usage, stdout);
            return CLI_OK;
        default:
            fputs(steward_usage, stderr);
            return CLI_USAGE;
        }
    }
    cm_err_t e = {""};
    if (decision_args(&d, argc - optind, argv + optind, &e) != 0) {
        fprintf(stderr, "joinery steward %s: %s\n", verb->verb, e.msg);
        return CLI_USAGE;
    }
    if (steward_decide(common, &d, &e) != 0) {
        fprintf(stderr, "joinery steward %s: %s\n", verb->verb, e.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_steward_main(int argc, char **argv, cli_common_t *common)
{
    if (argc < 2) {
        fputs(steward_usage, stderr);
        return CLI_USAGE;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
        fputs(steward_usage, stdout);
        return CLI_OK;
    }
    optind = 0; /* the verb's options, with the verb in argv[0]'s place */
    if (strcmp(verb, "list") == 0) {
        return steward_list_main(argc - 1, argv + 1);
    }
    const verb_t *v = find_verb(verb);
    if (v == NULL) {
        fprintf(stderr, "joinery steward: unknown action \"%s\"\n\n%s", verb, steward_usage);
        return CLI_USAGE;
    }
    return steward_decision_main(v, argc - 1, argv + 1, common);
}

/* xref export ------------------------------------------------------------------------------ */

/* Per entity: persons' cross-reference, then addresses' and cases' (0006), whose links are
 * deterministic (by UPRN, or by the system's own case id): always MATCH, never a score. */
static const char *const SQL_XREF_EXPORT[] = {
    "SELECT system, local_id, master_id, link_state, score FROM xref "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\"",
    "SELECT system, local_id, master_id, 'MATCH', NULL FROM address_xref "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\"",
    "SELECT system, local_id, master_id, 'MATCH', NULL FROM case_xref "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\""};
static const char *const ENTITY_NAMES[] = {"person", "address", "case"};

/* RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
static void csv_field(FILE *f, const char *s, int last, const char *eol)
{
    if (s != NULL && strpbrk(s, ",\"\r\n") != NULL) {
        fputc('"', f);
        for (; *s != '\0'; s++) {
            if (*s == '"') {
                fputc('"', f);
            }
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (s != NULL) {
        fputs(s, f);
    }
    fputs(last ? eol : ",", f);
}

static int xref_export(PGconn *c, int entity, const char *system, int crlf, cm_err_t *e)
{
    const char *params[] = {system};
    PGresult *r = db_rows(c, SQL_XREF_EXPORT[entity], 1, params, e);
    if (r == NULL) {
        return -1;
    }
    const char *eol = crlf ? "\r\n" : "\n";
    printf("system,local_id,master_id,link_state,score%s", eol);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int k = 0; k < 5; k++) {
            csv_field(stdout, col(r, i, k), k == 4, eol);
        }
    }
    PQclear(r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return fail(e, "cannot write the CSV: %s", strerror(errno));
    }
    return 0;
}

static const char xref_usage[] =
    "Usage: joinery xref export [--db CONNINFO] [--entity person|address|case] [--system S]\n"
    "       [--crlf]\n"
    "\n"
    "Writes the cross-reference (every system's local id and its golden record) as CSV on\n"
    "standard output: header system,local_id,master_id,link_state,score, one row per local\n"
    "id ordered by system and local id (byte order), RFC 4180 quoting, score empty when none.\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --entity E       whose cross-reference: person (default), address or case; addresses'\n"
    "                   and cases' links are always MATCH, without a score\n"
    "  --system S       only system S's local ids\n"
    "  --crlf           end lines with CRLF, as RFC 4180 has it (default LF)\n";

int cli_xref_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},     {"system", required_argument, NULL, 's'},
        {"entity", required_argument, NULL, 'e'}, {"crlf", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},         {0}};
    (void)common;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(xref_usage, stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "export") != 0) {
        fputs(xref_usage, stderr);
        return CLI_USAGE;
    }
    const char *db = NULL, *system = NULL;
    int crlf = 0, opt, entity = 0;
    optind = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 's':
            system = optarg;
            break;
        case 'e':
            entity = -1;
            for (int k = 0; k < 3; k++)
                if (strcmp(optarg, ENTITY_NAMES[k]) == 0)
                    entity = k;
            if (entity < 0) {
                fprintf(stderr, "joinery xref export: --entity is person, address or case\n");
                return CLI_USAGE;
            }
            break;
        case 'c':
            crlf = 1;
            break;
        case 'h':
            fputs(xref_usage, stdout);
            return CLI_OK;
        default:
            fputs(xref_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(xref_usage, stderr);
        return CLI_USAGE;
    }
    const char *conninfo = db_conninfo(db);
    if (conninfo == NULL) {
        fprintf(stderr, "joinery xref export: %s\n", NO_DB);
        return CLI_USAGE;
    }
    cm_err_t e = {""};
    PGconn *c = db_open(conninfo, &e);
    int rc = c != NULL ? xref_export(c, entity, system, crlf, &e) : -1;
    PQfinish(c);
    if (rc != 0) {
        fprintf(stderr, "joinery xref export: %s\n", e.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* golden show ------------------------------------------------------------------------------ */

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
    PGresult *r = db_rows(c, SQL_LOCAL_ID, 1, params, e);
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
    return fail(e, "no golden record \"%s\"%s", id, hint);
}

/* Follows redirect_to to the record that absorbed this one. */
static int follow_redirects(PGconn *c, const char *start, char *out, size_t len, cm_err_t *e)
{
    (void)snprintf(out, len, "%s", start);
    for (int hop = 0; hop < MAX_REDIRECTS; hop++) {
        const char *params[] = {out};
        PGresult *r = db_rows(c, SQL_GOLDEN, 1, params, e);
        if (r == NULL) {
            return -1;
        }
        const char *next = PQntuples(r) == 1 ? col(r, 0, 3) : NULL;
        if (next == NULL) {
            PQclear(r);
            return 0;
        }
        (void)snprintf(out, len, "%s", next);
        PQclear(r);
    }
    return fail(e, "%s: more than %d redirects (a loop?)", start, MAX_REDIRECTS);
}

static int golden_load(PGconn *c, const char *id, golden_t *g, cm_err_t *e)
{
    const char *params[] = {id};
    for (size_t k = 0; k < sizeof GOLDEN_SQL / sizeof GOLDEN_SQL[0] && g->kind == NULL; k++) {
        PQclear(g->rec);
        if ((g->rec = db_rows(c, GOLDEN_SQL[k].rec, 1, params, e)) == NULL) {
            return -1;
        }
        if (PQntuples(g->rec) == 1) {
            g->kind = &GOLDEN_SQL[k];
        }
    }
    if (g->kind == NULL) {
        return not_found(c, id, e);
    }
    const char *redirect = col(g->rec, 0, 3);
    if (redirect != NULL &&
        follow_redirects(c, redirect, g->final_id, sizeof g->final_id, e) != 0) {
        return -1;
    }
    if ((g->fields = db_rows(c, g->kind->fields, 1, params, e)) == NULL ||
        (g->xref = db_rows(c, g->kind->xref, 1, params, e)) == NULL ||
        (g->history = db_rows(c, g->kind->history, 1, params, e)) == NULL) {
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
    printf("created %s UTC, last changed %s UTC\n", fmt_time(col(r, 0, 4), created, sizeof created),
           fmt_time(col(r, 0, 5), updated, sizeof updated));
    if (col(r, 0, 3) != NULL) {
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
        const char *src = col(r, i, 2), *n = col(r, i, 4);
        printf("%-*s  %-*s  %-*s  %-19s  %s\n", wf, PQgetvalue(r, i, 0), wv,
               one_line(col(r, i, 1), value, sizeof value), ws, src ? src : "?",
               fmt_time(col(r, i, 3), when, sizeof when), n ? n : "?");
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
        if (parse_double(col(r, i, 4), &s) == 0) {
            (void)snprintf(score, sizeof score, "%.2f", s);
        }
        printf("%-*s  %-*s  %-14s  %-7s  %-8s  %s\n", ws, PQgetvalue(r, i, 0), wl,
               one_line(PQgetvalue(r, i, 1), local, sizeof local), PQgetvalue(r, i, 2),
               PQgetvalue(r, i, 3), score, fmt_time(col(r, i, 5), when, sizeof when));
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
        const char *o = col(r, i, 2), *n = col(r, i, 3);
        (void)snprintf(change, sizeof change, "%s -> %s",
                       o ? one_line(o, old, sizeof old) : "(none)",
                       n ? one_line(n, newv, sizeof newv) : "(none)");
        printf("%-7s  %-24s  %-40s  %-12s  %-19s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               change, PQgetvalue(r, i, 4), fmt_time(col(r, i, 6), when, sizeof when),
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
            rc |= jset(f, "value", jstr(col(r, i, 1)));
            rc |= jset(f, "source", jstr(col(r, i, 2)));
            rc |= jset(f, "at", jtime(col(r, i, 3)));
            rc |= jset(f, "at_us", jint(col(r, i, 3)));
            rc |= jset(f, "version", jint(col(r, i, 4)));
        }
        if (rc != 0 || jset(o, PQgetvalue(r, i, 0), f) != 0) {
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
            rc |= jset(x, "score", jreal(col(r, i, 4)));
            rc |= jset(x, "linked_at", jtime(col(r, i, 5)));
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
            rc |= jset(h, "version", jint(col(r, i, 0)));
            rc |= jset(h, "field", jstr(col(r, i, 1)));
            rc |= jset(h, "old", jstr(col(r, i, 2)));
            rc |= jset(h, "new", jstr(col(r, i, 3)));
            rc |= jset(h, "source", jstr(col(r, i, 4)));
            rc |= jset(h, "event_id", jstr(col(r, i, 5)));
            rc |= jset(h, "at", jtime(col(r, i, 6)));
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
    int rc = jset(o, "master_id", jstr(PQgetvalue(r, 0, 0)));
    rc |= jset(o, "entity", jstr(g->kind->what));
    if (strcmp(g->kind->what, "address") == 0) {
        rc |= jset(o, "uprn", jstr(col(r, 0, 6)));
    } else if (strcmp(g->kind->what, "case") == 0) {
        rc |= jset(o, "person_master_id", jstr(col(r, 0, 6)));
    }
    rc |= jset(o, "version", jint(PQgetvalue(r, 0, 1)));
    rc |= jset(o, "state", jstr(PQgetvalue(r, 0, 2)));
    rc |= jset(o, "redirect_to", jstr(col(r, 0, 3)));
    rc |= jset(o, "final_master_id", jstr(g->final_id[0] ? g->final_id : PQgetvalue(r, 0, 0)));
    rc |= jset(o, "created_at", jtime(col(r, 0, 4)));
    rc |= jset(o, "updated_at", jtime(col(r, 0, 5)));
    rc |= jset(o, "fields", golden_fields_json(g->fields));
    rc |= jset(o, "xref", golden_xref_json(g->xref));
    rc |= jset(o, "history", golden_history_json(g->history));
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
        rc = json_print(golden_json(&g), e);
    } else if (rc == 0) {
        print_golden_head(&g);
        print_golden_fields(g.fields);
        print_golden_xref(g.xref);
        print_golden_history(g.history);
    }
    golden_free(&g);
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
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --json           one JSON object instead of the tables\n";

int cli_golden_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    (void)common;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(golden_usage, stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        fputs(golden_usage, stderr);
        return CLI_USAGE;
    }
    const char *db = NULL;
    int as_json = 0, opt;
    optind = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
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
    const char *conninfo = db_conninfo(db);
    if (conninfo == NULL) {
        fprintf(stderr, "joinery golden show: %s\n", NO_DB);
        return CLI_USAGE;
    }
    cm_err_t e = {""};
    PGconn *c = db_open(conninfo, &e);
    int rc = c != NULL ? golden_show(c, id, as_json, &e) : -1;
    PQfinish(c);
    if (rc != 0) {
        fprintf(stderr, "joinery golden show: %s\n", e.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* match train ------------------------------------------------------------------------------ */

#define TRAIN_MIN_RECORDS 50       /* below this, estimates are noise */
#define TRAIN_MIN_CANDIDATES 20    /* EM needs some pairs to separate two classes */
#define TRAIN_BLOCK_MAX 2000       /* as the hub: a key this common says too little */
#define TRAIN_PAIRS_PER_RULE 50000 /* sampled per blocking rule, so no rule dominates */
#define TRAIN_KEYS 8

/* The golden records' current values, as the hub's matcher sees them. */
static const char SQL_TRAIN_PEOPLE[] =
    "SELECT fields->'nhs_number'->>'v', fields->'ni_number'->>'v', "
    "fields->'name.given'->>'v', fields->'name.family'->>'v', fields->'birth_date'->>'v', "
    "fields->'sex'->>'v', fields->'address.home.postcode'->>'v', "
    "fields->'telecom.phone'->>'v', fields->'telecom.email'->>'v' "
    "FROM golden_person WHERE state = 'ACTIVE' ORDER BY master_id COLLATE \"C\"";

/* Blocking rules, by the prefix of match_blocking_keys' keys; "other" catches new ones. */
static const char *const RULES[] = {"nhs", "ni", "dob", "pc", "ph", "dm", "tel", "em", "other"};
#define NRULES (sizeof RULES / sizeof RULES[0])

typedef struct {
    PGresult *res;
    size_t n;
    match_person_t *p;
    char (*given)[MATCH_JW_MAX_LEN]; /* first forenames */
} people_t;

typedef struct {
    uint64_t hash;
    uint32_t rec;
    uint32_t rule;
} keyent_t;

typedef struct {
    uint32_t a, b;
} pair_t;

typedef struct {
    size_t records, candidates;
    size_t per_rule[NRULES];
    unsigned long long sample, seed;
    int iterations;
    double lambda;
    double m[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS], u[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    unsigned long long mcount[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    unsigned long long ucount[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    int nlevels[MATCH_FIELD_COUNT];
    int m_seen[MATCH_FIELD_COUNT], u_seen[MATCH_FIELD_COUNT]; /* any non-missing comparison */
} train_t;

/* splitmix64: tiny, seedable and good enough for sampling pairs; the point is that the same
 * seed on the same data gives the same numbers, so a reviewer can reproduce them. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n; /* the bias is negligible for n far below 2^64 */
}

static void people_free(people_t *pp)
{
    PQclear(pp->res);
    free(pp->p);
    free(pp->given);
}

/* The matcher compares the first forename only, as the hub does (master_match_view). */
static const char *first_word(const char *s, char *out, size_t len)
{
    if (s == NULL) {
        return NULL;
    }
    size_t n = strcspn(s, " ");
    n = n < len ? n : len - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static int people_load(PGconn *c, people_t *pp, cm_err_t *e)
{
    if ((pp->res = db_rows(c, SQL_TRAIN_PEOPLE, 0, NULL, e)) == NULL) {
        return -1;
    }
    pp->n = (size_t)PQntuples(pp->res);
    if (pp->n > UINT32_MAX) {
        return fail(e, "too many golden records (%zu)", pp->n);
    }
    pp->p = calloc(pp->n ? pp->n : 1, sizeof pp->p[0]);
    pp->given = calloc(pp->n ? pp->n : 1, sizeof pp->given[0]);
    if (pp->p == NULL || pp->given == NULL) {
        return fail(e, "out of memory for %zu records", pp->n);
    }
    for (size_t i = 0; i < pp->n; i++) {
        const PGresult *r = pp->res;
        int row = (int)i;
        pp->p[i] = (match_person_t){
            .nhs_number = col(r, row, 0),
            .ni_number = col(r, row, 1),
            .given = first_word(col(r, row, 2), pp->given[i], sizeof pp->given[i]),
            .family = col(r, row, 3),
            .birth_date = col(r, row, 4),
            .sex = col(r, row, 5),
            .postcode = col(r, row, 6),
            .phone = col(r, row, 7),
            .email = col(r, row, 8),
        };
    }
    return 0;
}

/* Counts the comparison levels of one pair into count[field][level]. */
static void tally_pair(const match_person_t *a, const match_person_t *b,
                       unsigned long long count[][MATCH_MAX_LEVELS], match_vector_t *v)
{
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        int level = match_level((match_field_t)f, a, b);
        level = level >= 0 && level < MATCH_MAX_LEVELS ? level : 0;
        count[f][level]++;
        if (v != NULL) {
            v->level[f] = level;
        }
    }
}

/* u: how often each level occurs between two records drawn at random, which are almost always
 * different people. Levels never seen get half a count, so no weight is infinite. */
static void estimate_u(const people_t *pp, train_t *t)
{
    uint64_t rng = t->seed;
    for (unsigned long long i = 0; i < t->sample; i++) {
        uint64_t a = rng_below(&rng, pp->n), b = rng_below(&rng, pp->n - 1);
        b += b >= a; /* never a record with itself */
        tally_pair(&pp->p[a], &pp->p[b], t->ucount, NULL);
    }
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        double sum = 0;
        for (int k = 1; k < t->nlevels[f]; k++) {
            sum += t->ucount[f][k] > 0 ? (double)t->ucount[f][k] : 0.5;
            t->u_seen[f] |= t->ucount[f][k] > 0;
        }
        for (int k = 1; k < t->nlevels[f] && t->u_seen[f]; k++) {
            t->u[f][k] = (t->ucount[f][k] > 0 ? (double)t->ucount[f][k] : 0.5) / sum;
        }
    }
}

static uint32_t rule_of(const char *key)
{
    size_t n = strcspn(key, ":#");
    for (uint32_t r = 0; r + 1 < NRULES; r++) {
        if (strlen(RULES[r]) == n && strncmp(RULES[r], key, n) == 0) {
            return r;
        }
    }
    return (uint32_t)NRULES - 1;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

static int keyent_cmp(const void *x, const void *y)
{
    const keyent_t *a = x, *b = y;
    if (a->rule != b->rule) {
        return a->rule < b->rule ? -1 : 1;
    }
    if (a->hash != b->hash) {
        return a->hash < b->hash ? -1 : 1;
    }
    return a->rec < b->rec ? -1 : (a->rec > b->rec);
}

static int pair_cmp(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;
    if (a->a != b->a) {
        return a->a < b->a ? -1 : 1;
    }
    return a->b < b->b ? -1 : (a->b > b->b);
}

/* Every record's blocking keys, sorted so that the records sharing a key are adjacent. */
static keyent_t *block_keys(const people_t *pp, size_t *nkeys, cm_err_t *e)
{
    keyent_t *k = malloc((pp->n ? pp->n : 1) * TRAIN_KEYS * sizeof *k);
    if (k == NULL) {
        fail(e, "out of memory for blocking keys");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < pp->n; i++) {
        char keys[TRAIN_KEYS][MATCH_KEY_LEN];
        int got = match_blocking_keys(&pp->p[i], keys, TRAIN_KEYS);
        for (int j = 0; j < got; j++) {
            k[n++] =
                (keyent_t){.hash = fnv1a(keys[j]), .rec = (uint32_t)i, .rule = rule_of(keys[j])};
        }
    }
    qsort(k, n, sizeof *k, keyent_cmp);
    *nkeys = n;
    return k;
}

typedef struct {
    pair_t *pairs;
    size_t stored;           /* this rule's pairs so far, from pairs[0] */
    unsigned long long seen; /* this rule's pairs offered */
    uint64_t *rng;
} reservoir_t;

/* Reservoir sampling: every pair of a rule has the same chance to be kept, however many there
 * are, in one pass. */
static void reservoir_offer(reservoir_t *r, uint32_t a, uint32_t b)
{
    pair_t p = {a < b ? a : b, a < b ? b : a};
    r->seen++;
    if (r->stored < TRAIN_PAIRS_PER_RULE) {
        r->pairs[r->stored++] = p;
        return;
    }
    uint64_t j = rng_below(r->rng, r->seen);
    if (j < TRAIN_PAIRS_PER_RULE) {
        r->pairs[j] = p;
    }
}

/* The pairs within each block (records sharing one key) of one rule's run of keys. */
static void rule_pairs(const keyent_t *k, size_t from, size_t to, reservoir_t *r)
{
    size_t i = from;
    while (i < to) {
        size_t j = i + 1;
        while (j < to && k[j].hash == k[i].hash) {
            j++;
        }
        if (j - i <= TRAIN_BLOCK_MAX) {
            for (size_t x = i; x < j; x++) {
                for (size_t y = x + 1; y < j; y++) {
                    if (k[x].rec != k[y].rec) {
                        reservoir_offer(r, k[x].rec, k[y].rec);
                    }
                }
            }
        }
        i = j;
    }
}

/* Candidate pairs, as the hub's blocking finds them: per rule, capped; then without repeats
 * (a pair sharing a birth date and a postcode is still one pair). */
static pair_t *candidate_pairs(const people_t *pp, train_t *t, size_t *npairs, cm_err_t *e)
{
    size_t nkeys = 0;
    keyent_t *k = block_keys(pp, &nkeys, e);
    pair_t *pairs = k != NULL ? malloc(NRULES * TRAIN_PAIRS_PER_RULE * sizeof *pairs) : NULL;
    if (pairs == NULL) {
        free(k);
        if (k != NULL) {
            fail(e, "out of memory for candidate pairs");
        }
        return NULL;
    }
    uint64_t rng = t->seed ^ 0x5EED5EED5EED5EEDull;
    size_t total = 0, i = 0;
    while (i < nkeys) {
        size_t j = i;
        while (j < nkeys && k[j].rule == k[i].rule) {
            j++;
        }
        reservoir_t r = {.pairs = pairs + total, .rng = &rng};
        rule_pairs(k, i, j, &r);
        t->per_rule[k[i].rule] = r.stored;
        total += r.stored;
        i = j;
    }
    free(k);
    qsort(pairs, total, sizeof *pairs, pair_cmp);
    size_t n = 0;
    for (size_t x = 0; x < total; x++) {
        if (n == 0 || pair_cmp(&pairs[n - 1], &pairs[x]) != 0) {
            pairs[n++] = pairs[x];
        }
    }
    *npairs = n;
    return pairs;
}

/* m: EM over the candidate pairs, a mixture of matches and non-matches, starting from the
 * built-in defaults with u from the random sample. */
static int estimate_m(const people_t *pp, const pair_t *pairs, train_t *t, cm_err_t *e)
{
    match_vector_t *v = malloc(t->candidates * sizeof *v);
    if (v == NULL) {
        return fail(e, "out of memory for %zu comparison vectors", t->candidates);
    }
    for (size_t i = 0; i < t->candidates; i++) {
        tally_pair(&pp->p[pairs[i].a], &pp->p[pairs[i].b], t->mcount, &v[i]);
    }
    match_params_t p;
    match_params_default(&p);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        for (int k = 1; k < t->nlevels[f] && t->u_seen[f]; k++) {
            p.u[f][k] = t->u[f][k];
        }
    }
    t->iterations = match_train_em(&p, v, t->candidates, &t->lambda);
    free(v);
    if (t->iterations < 0) {
        return fail(e, "EM refused the comparison vectors (a bug: please report it)");
    }
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        unsigned long long seen = 0;
        for (int k = 1; k < t->nlevels[f]; k++) {
            t->m[f][k] = p.m[f][k];
            seen += t->mcount[f][k];
        }
        t->m_seen[f] = seen > 0;
    }
    return 0;
}

static double weight(const train_t *t, int f, int k)
{
    return log2(t->m[f][k] / t->u[f][k]);
}

static void print_train_table(FILE *out, const train_t *t)
{
    fprintf(out, "%-11s %-21s %10s %10s %8s %12s %12s\n", "FIELD", "LEVEL", "m", "u", "WEIGHT",
            "CANDIDATES", "RANDOM");
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        for (int k = 1; k < t->nlevels[f]; k++) {
            fprintf(out, "%-11s %-21s %10.6f %10.6f %+8.2f %12llu %12llu\n",
                    match_field_name((match_field_t)f), match_level_name((match_field_t)f, k),
                    t->m[f][k], t->u[f][k], weight(t, f, k), t->mcount[f][k], t->ucount[f][k]);
        }
        if (!t->m_seen[f] || !t->u_seen[f]) {
            fprintf(out, "%-11s (no comparisons in the data: %s kept at the built-in defaults)\n",
                    "",
                    !t->m_seen[f] && !t->u_seen[f] ? "m and u"
                    : !t->m_seen[f]                ? "m"
                                                   : "u");
        }
    }
}

static void write_yaml_head(FILE *f, const train_t *t)
{
    fprintf(f,
            "# Fellegi-Sunter parameters estimated by `joinery match train` from %zu active "
            "golden records.\n",
            t->records);
    fprintf(f, "# For review: a person compares them with the built-in defaults (`joinery match\n"
               "# defaults`) before anyone changes the matcher. To use them, put the `fields:`\n"
               "# block under master_data.matching in the hub's configuration and restart it;\n"
               "# the hub checks that every level of a field is given and that m and u each\n"
               "# add up to 1.\n");
    fprintf(f, "#   u: share of each comparison level among %llu random pairs (seed %llu).\n",
            t->sample, t->seed);
    fprintf(f,
            "#   m: EM (match_train_em) over %zu candidate pairs sharing a blocking key (at "
            "most %d per rule):\n#      ",
            t->candidates, TRAIN_PAIRS_PER_RULE);
    for (size_t r = 0; r < NRULES; r++) {
        fprintf(f, "%s%s %zu", r ? ", " : "", RULES[r], t->per_rule[r]);
    }
    fprintf(f, "; estimated share of matches %.4f after %d iterations.\n", t->lambda,
            t->iterations);
    fprintf(f, "#   weight = log2(m/u). Levels are best first; \"missing\" is not modelled.\n"
               "#   A level no random pair showed gets half a count, so that no u is 0.\n"
               "#   Estimates for levels with few pairs (see the counts) are weak, and m is\n"
               "#   biased towards agreement on the fields the blocking keys are made of.\n");
}

static void write_yaml(FILE *f, const train_t *t)
{
    write_yaml_head(f, t);
    fprintf(f, "master_data:\n  matching:\n    trained:\n");
    fprintf(f, "      records: %zu\n      random_pairs: %llu\n      seed: %llu\n", t->records,
            t->sample, t->seed);
    fprintf(f, "      candidate_pairs: %zu\n      em_iterations: %d\n      match_share: %.6g\n",
            t->candidates, t->iterations, t->lambda);
    fprintf(f, "    fields:\n");
    for (int fi = 0; fi < MATCH_FIELD_COUNT; fi++) {
        fprintf(f, "      %s:", match_field_name((match_field_t)fi));
        if (!t->m_seen[fi] || !t->u_seen[fi]) {
            fprintf(f, "  # no comparisons in the data for %s: built-in defaults",
                    !t->m_seen[fi] && !t->u_seen[fi] ? "m and u"
                    : !t->m_seen[fi]                 ? "m"
                                                     : "u");
        }
        fputc('\n', f);
        for (int k = 1; k < t->nlevels[fi]; k++) {
            char key[40];
            (void)snprintf(key, sizeof key, "\"%s\":", match_level_name((match_field_t)fi, k));
            fprintf(f,
                    "        %-23s {m: %.6g, u: %.6g}  # weight %+.2f; pairs %llu candidate, "
                    "%llu random%s\n",
                    key, t->m[fi][k], t->u[fi][k], weight(t, fi, k), t->mcount[fi][k],
                    t->ucount[fi][k],
                    t->m_seen[fi] && t->mcount[fi][k] == 0 ? "; m is EM's floor: unsupported" : "");
        }
    }
}

/* The built-in parameters (match_params_default) in the form the hub's configuration takes. */
static void write_defaults_yaml(FILE *f)
{
    match_params_t p;
    match_params_default(&p);
    fprintf(f, "# The matcher's built-in Fellegi-Sunter parameters (lib/match/match.c), in the form\n"
               "# master_data.matching takes them; weight = log2(m/u). `joinery match train`\n"
               "# estimates the same from a hub's own data.\n");
    fprintf(f, "master_data:\n  matching:\n    upper: %g\n    lower: %g\n    fields:\n", p.upper,
            p.lower);
    for (int fi = 0; fi < MATCH_FIELD_COUNT; fi++) {
        fprintf(f, "      %s:\n", match_field_name((match_field_t)fi));
        for (int k = 1; k < p.nlevels[fi]; k++) {
            char key[40];
            (void)snprintf(key, sizeof key, "\"%s\":", match_level_name((match_field_t)fi, k));
            fprintf(f, "        %-23s {m: %.6g, u: %.6g}  # weight %+.2f\n", key, p.m[fi][k],
                    p.u[fi][k], log2(p.m[fi][k] / p.u[fi][k]));
        }
    }
}

/* Writes the YAML to path ("-": stdout). */
static int write_yaml_to(const char *path, const train_t *t, cm_err_t *e)
{
    if (strcmp(path, "-") == 0) {
        write_yaml(stdout, t);
        return fflush(stdout) == 0 ? 0 : fail(e, "cannot write: %s", strerror(errno));
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return fail(e, "cannot create %s: %s", path, strerror(errno));
    }
    write_yaml(f, t);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        return fail(e, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

static void too_little(const char *what, size_t have, size_t need)
{
    printf("Too little data to train the matcher: %zu %s, and at least %zu are needed for\n"
           "estimates that mean anything. The hub keeps matching with its built-in defaults\n"
           "(lib/match/match.c); run `joinery match train` again once it holds more residents.\n",
           have, what, need);
}

static int match_train(PGconn *c, train_t *t, const char *out, cm_err_t *e)
{
    people_t pp = {0};
    int rc = people_load(c, &pp, e);
    t->records = pp.n;
    if (rc == 0 && pp.n < TRAIN_MIN_RECORDS) {
        too_little("active golden records", pp.n, TRAIN_MIN_RECORDS);
        people_free(&pp);
        return 0;
    }
    match_params_t defaults;
    match_params_default(&defaults);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        t->nlevels[f] = defaults.nlevels[f];
        for (int k = 0; k < MATCH_MAX_LEVELS; k++) {
            t->m[f][k] = defaults.m[f][k];
            t->u[f][k] = defaults.u[f][k];
        }
    }
    pair_t *pairs = NULL;
    if (rc == 0) {
        estimate_u(&pp, t);
        pairs = candidate_pairs(&pp, t, &t->candidates, e);
        rc = pairs != NULL ? 0 : -1;
    }
    if (rc == 0 && t->candidates < TRAIN_MIN_CANDIDATES) {
        too_little("candidate pairs (records sharing a blocking key)", t->candidates,
                   TRAIN_MIN_CANDIDATES);
    } else if (rc == 0 && (rc = estimate_m(&pp, pairs, t, e)) == 0) {
        /* The file first: a table followed by "cannot create" would read like success. */
        rc = write_yaml_to(out, t, e);
        if (rc == 0 && strcmp(out, "-") != 0) {
            print_train_table(stdout, t);
            printf("\nWrote %s: for review; the hub does not load these parameters yet.\n", out);
        }
    }
    free(pairs);
    people_free(&pp);
    return rc;
}

static const char match_usage[] =
    "Usage: joinery match train [--db CONNINFO] [--sample N] [--seed N] [--out FILE]\n"
    "       joinery match defaults\n"
    "\n"
    "Estimates the matcher's Fellegi-Sunter parameters from the golden records in the hub's\n"
    "database: u (how often each comparison level occurs between different people) from N\n"
    "random pairs, and m (how often it occurs for the same person) by EM over the pairs that\n"
    "share a blocking key, at most 50,000 per blocking rule. Prints m and u per field and\n"
    "level and writes them as YAML for a person to review; the hub takes them from\n"
    "master_data.matching.fields in its configuration. `defaults` prints the built-in ones.\n"
    "With fewer than 50 golden records it says there is too little data.\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --sample N       random pairs for u (default 100000)\n"
    "  --seed N         random seed; the same seed on the same data gives the same result\n"
    "                   (default 1)\n"
    "  --out FILE       write the YAML to FILE and print a table (default: YAML on stdout)\n";

int cli_match_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},   {"sample", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {0}};
    (void)common;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(match_usage, stdout);
        return CLI_OK;
    }
    if (argc == 2 && strcmp(argv[1], "defaults") == 0) {
        write_defaults_yaml(stdout);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
    }
    if (argc < 2 || strcmp(argv[1], "train") != 0) {
        fputs(match_usage, stderr);
        return CLI_USAGE;
    }
    train_t t = {.sample = 100000, .seed = 1};
    const char *db = NULL, *out = "-";
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            bad = cli_parse_ull("sample", optarg, 1000, 100000000ull, &t.sample);
            break;
        case 's':
            bad = cli_parse_ull("seed", optarg, 0, UINT64_MAX, &t.seed);
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(match_usage, stdout);
            return CLI_OK;
        default:
            fputs(match_usage, stderr);
            return CLI_USAGE;
        }
        if (bad) {
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(match_usage, stderr);
        return CLI_USAGE;
    }
    const char *conninfo = db_conninfo(db);
    if (conninfo == NULL) {
        fprintf(stderr, "joinery match train: %s\n", NO_DB);
        return CLI_USAGE;
    }
    cm_err_t e = {""};
    PGconn *c = db_open(conninfo, &e);
    int rc = c != NULL ? match_train(c, &t, out, &e) : -1;
    PQfinish(c);
    if (rc != 0) {
        fprintf(stderr, "joinery match train: %s\n", e.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}
