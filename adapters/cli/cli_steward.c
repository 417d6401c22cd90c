/* cli_steward.c - `joinery steward`: list the steward queue from the hub's database (a table, or
 * JSON), and link, keep-apart, merge and unmerge, which the hub carries out: each decision goes
 * through it as a steward.* event carrying a joinery.v1.StewardDecision, never into the tables
 * the hub's master-data engine owns. */
#include "cli_admin.h"
#include "cli_commands.h"
#include "cli_event.h"
#include "cli_master_common.h"
#include "match/match.h"

#include <joinery/v1/master.pb-c.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DECISION_TYPE "joinery.v1.StewardDecision"

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
    v->id = cm_col(r, row, master_col);
    v->state = cm_col(r, row, first + P_STATE);
    v->given = cm_col(r, row, first + P_GIVEN);
    v->family = cm_col(r, row, first + P_FAMILY);
    v->birth = cm_col(r, row, first + P_BIRTH);
    v->postcode = cm_col(r, row, first + P_POSTCODE);
    const char *nhs = cm_col(r, row, first + P_NHS);
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
    int rc = cm_jset(o, "master_id", cm_jstr(v->id));
    rc |= cm_jset(o, "state", cm_jstr(v->state));
    rc |= cm_jset(o, "given", cm_jstr(v->given));
    rc |= cm_jset(o, "family", cm_jstr(v->family));
    rc |= cm_jset(o, "birth_date", cm_jstr(v->birth));
    rc |= cm_jset(o, "postcode", cm_jstr(v->postcode));
    rc |= cm_jset(o, "nhs_number_masked", cm_jstr(v->nhs));
    rc |= cm_jset(o, "summary", cm_jstr(person_summary(v, summary, sizeof summary)));
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
    if (cm_parse_double(cm_col(r, row, Q_SCORE), &s) == 0) {
        (void)snprintf(score, sizeof score, "%.2f", s);
    }
    printf("%-7s %-11s %5s  A %s  %s\n", cm_col(r, row, Q_ID), cm_col(r, row, Q_STATE), score,
           a.id ? a.id : "?", person_summary(&a, sa, sizeof sa));
    printf("%*sB %s  %s\n", LIST_INDENT, "", b.id ? b.id : "?", person_summary(&b, sb, sizeof sb));
    print_evidence(evidence);
    const char *by = cm_col(r, row, Q_BY);
    if (cm_col(r, row, Q_DECIDED) != NULL) {
        char when[32];
        const char *reason = cm_col(r, row, Q_REASON);
        printf("%*sdecided %s UTC by %s%s%s\n", LIST_INDENT, "",
               cm_fmt_time(cm_col(r, row, Q_DECIDED), when, sizeof when), by ? by : "?",
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
    int rc = cm_jset(o, "id", cm_jint(cm_col(r, row, Q_ID)));
    rc |= cm_jset(o, "state", cm_jstr(cm_col(r, row, Q_STATE)));
    rc |= cm_jset(o, "score", cm_jreal(cm_col(r, row, Q_SCORE)));
    rc |= cm_jset(o, "master_a", person_json(&a));
    rc |= cm_jset(o, "master_b", person_json(&b));
    rc |= cm_jset(o, "evidence", json_incref(evidence));
    rc |= cm_jset(o, "created_at", cm_jtime(cm_col(r, row, Q_CREATED)));
    rc |= cm_jset(o, "decided_at", cm_jtime(cm_col(r, row, Q_DECIDED)));
    rc |= cm_jset(o, "decided_by", cm_jstr(cm_col(r, row, Q_BY)));
    rc |= cm_jset(o, "reason", cm_jstr(cm_col(r, row, Q_REASON)));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int steward_list(PGconn *c, const char *state, int as_json, cm_err_t *e)
{
    const char *params[] = {state};
    PGresult *r = cm_db_rows(c, SQL_QUEUE_LIST, 1, params, e);
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
            rc = cm_fail(e, "steward queue item %s: unreadable evidence", PQgetvalue(r, i, Q_ID));
        } else if (as_json) {
            rc = json_array_append_new(all, queue_row_json(r, i, evidence)) == 0
                     ? 0
                     : cm_fail(e, "cannot build JSON for item %s", PQgetvalue(r, i, Q_ID));
        } else {
            print_queue_row(r, i, evidence);
        }
        json_decref(evidence);
    }
    PQclear(r);
    if (as_json) {
        if (rc == 0) {
            return cm_json_print(all, e);
        }
        json_decref(all);
    }
    return rc;
}

/* steward list through the admin API ----------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The API's person (NHS number masked by the hub already) as the table's view of it. */
static void person_view_json(const json_t *p, person_view_t *v)
{
    v->id = jstr(p, "master_id");
    v->state = jstr(p, "state");
    v->given = jstr(p, "given");
    v->family = jstr(p, "family");
    v->birth = jstr(p, "birth_date");
    v->postcode = jstr(p, "postcode");
    v->nhs = jstr(p, "nhs_number_masked");
}

static void print_queue_item(json_t *item)
{
    person_view_t a, b;
    person_view_json(json_object_get(item, "master_a"), &a);
    person_view_json(json_object_get(item, "master_b"), &b);
    char sa[512], sb[512], score[32] = "-";
    json_t *sc = json_object_get(item, "score");
    if (json_is_number(sc)) {
        (void)snprintf(score, sizeof score, "%.2f", json_number_value(sc));
    }
    printf("%-7lld %-11s %5s  A %s  %s\n",
           (long long)json_integer_value(json_object_get(item, "id")),
           jstr(item, "state") ? jstr(item, "state") : "?", score, a.id ? a.id : "?",
           person_summary(&a, sa, sizeof sa));
    printf("%*sB %s  %s\n", LIST_INDENT, "", b.id ? b.id : "?", person_summary(&b, sb, sizeof sb));
    print_evidence(json_object_get(item, "evidence"));
    if (json_is_integer(json_object_get(item, "decided_at_us"))) {
        char when[32];
        const char *by = jstr(item, "decided_by"), *reason = jstr(item, "reason");
        printf("%*sdecided %s UTC by %s%s%s\n", LIST_INDENT, "",
               cli_admin_time(json_integer_value(json_object_get(item, "decided_at_us")), when,
                              sizeof when),
               by ? by : "?", reason ? ": " : "", reason ? reason : "");
    }
}

static int steward_list_api(const cli_admin_t *a, const char *state, int as_json)
{
    char path[96];
    (void)snprintf(path, sizeof path, "/api/v1/steward/queue?state=%s&limit=1000", state);
    json_t *j = cli_admin_call(a, "GET", path, NULL);
    if (j == NULL) {
        return CLI_FAIL;
    }
    json_t *items = json_object_get(j, "items"), *item;
    int rc = CLI_OK;
    if (as_json) {
        rc = cli_admin_print_json(items);
    } else if (json_array_size(items) == 0) {
        printf("No %s%ssteward queue items.\n", strcmp(state, "ALL") == 0 ? "" : state,
               strcmp(state, "ALL") == 0 ? "" : " ");
    } else {
        printf("%-7s %-11s %5s  RECORDS (A was there first, B is the newcomer)\n", "QUEUE", "STATE",
               "SCORE");
        size_t i;
        json_array_foreach(items, i, item)
        {
            print_queue_item(item);
        }
    }
    json_decref(j);
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
        cm_fail(e, "out of memory");
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
        return cm_fail(e, "cannot reach the hub (see above)");
    }
    char type[40];
    (void)snprintf(type, sizeof type, "steward.%s", d->verb->action);
    joinery_event_t ev = {
        .type = type, .payload_type = DECISION_TYPE, .payload = payload, .payload_len = len};
    joinery_confirm_t cf;
    int rc = joinery_publish(c, &ev, &cf, d->timeout_ms);
    free(payload);
    if (rc != 0) {
        rc = cm_fail(e, "%s", joinery_last_error(c));
    } else {
        cli_print_line(cli_confirm_json(&cf));
        if (cf.status == JOINERY_REJECTED) {
            rc = cm_fail(e, "rejected: %s", cf.reason);
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
            return cm_fail(e,
                           "\"%s\" is not a steward queue id (a whole number; see `joinery "
                           "steward list`)",
                           args[0]);
        }
        return 0;
    }
    if (n != 2) {
        return cm_fail(e,
                       d->verb->by_queue ? "%s needs QUEUE_ID, or MASTER_A and MASTER_B"
                                         : "%s needs SURVIVOR and RETIRED master ids",
                       d->verb->verb);
    }
    if (strcmp(args[0], args[1]) == 0) {
        return cm_fail(e, "the two master ids are the same");
    }
    d->a = args[0];
    d->b = args[1];
    return 0;
}

/* Through the admin API: POST /api/v1/steward/VERB; the hub records the token's name as the
 * decider. Prints the hub's answer as JSON: 0 when the engine took the decision. */
static int steward_decide_api(const cli_admin_t *a, const decision_t *d)
{
    json_t *body = d->queue_id != 0
                       ? json_pack("{sI}", "queue_id", (json_int_t)d->queue_id)
                       : json_pack("{ss ss}", "master_id_a", d->a, "master_id_b", d->b);
    if (body != NULL && d->reason != NULL) {
        json_object_set_new(body, "reason", json_string(d->reason));
    }
    char path[64];
    (void)snprintf(path, sizeof path, "/api/v1/steward/%s", d->verb->verb);
    json_t *j = body != NULL ? cli_admin_call(a, "POST", path, body) : NULL;
    json_decref(body);
    if (j == NULL) {
        return CLI_FAIL;
    }
    int ok = strcmp(jstr(j, "status") ? jstr(j, "status") : "", "OK") == 0;
    int rc = cli_admin_print_json(j);
    json_decref(j);
    return ok ? rc : CLI_FAIL; /* PENDING: not known to be applied yet */
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
    "  --admin URL      read through the hub's admin API instead (default $JOINERY_ADMIN when\n"
    "                   no --db or $JOINERY_DB is given; --db is deprecated)\n"
    "  --token-file F   the admin API's bearer token (default $JOINERY_ADMIN_TOKEN_FILE)\n"
    "  --json           a JSON array instead of the table\n"
    "\n"
    "link, keep-apart, merge and unmerge send a StewardDecision through the hub (event\n"
    "steward.link, steward.keep_apart, steward.merge, steward.unmerge), as an adapter allowed\n"
    "to publish steward.* (default \"ops\"), and print the hub's confirmation as JSON. link\n"
    "merges the pair into MASTER_A; keep-apart records that they are different people; merge\n"
    "redirects RETIRED into SURVIVOR; unmerge undoes that merge exactly. Exit status 1 if the\n"
    "hub refused the decision (the reason is on stderr) or did not answer.\n"
    "With --admin URL (or $JOINERY_ADMIN) the decision goes through the hub's admin API\n"
    "instead, with a token of the steward role (--token-file, $JOINERY_ADMIN_TOKEN_FILE); the\n"
    "hub records the token's name as the decider, and --reason is required.\n"
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
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"admin", required_argument, NULL, CLI_ADMIN_OPT_URL},
        {"token-file", required_argument, NULL, CLI_ADMIN_OPT_TOKEN},
        {0}};
    const char *db = NULL, *state = "OPEN";
    int as_json = 0, opt, admin = 0;
    cli_admin_t a;
    cli_admin_init(&a);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_admin_option(&a, opt, optarg)) {
            admin |= opt == CLI_ADMIN_OPT_URL;
            continue;
        }
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
    /* The API when asked for, or when it is all there is: --db (or $JOINERY_DB) is the old way. */
    const char *env_db = getenv("JOINERY_DB");
    if (admin || (a.url != NULL && db == NULL && (env_db == NULL || *env_db == '\0'))) {
        return steward_list_api(&a, state, as_json);
    }
    int status = CLI_OK;
    PGconn *c = cm_db_connect("steward list", db, &status);
    if (c == NULL) {
        return status;
    }
    cm_err_t e = {""};
    return cm_db_close("steward list", c, steward_list(c, state, as_json, &e), &e);
}

static int steward_decision_main(const verb_t *verb, int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"by", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"admin", required_argument, NULL, CLI_ADMIN_OPT_URL},
        {"token-file", required_argument, NULL, CLI_ADMIN_OPT_TOKEN},
        CLI_COMMON_OPTIONS,
        {0}};
    char user[256];
    decision_t d = {.verb = verb, .by = default_decider(user, sizeof user), .timeout_ms = 30000};
    unsigned long long timeout = 0;
    int opt, by_given = 0;
    cli_admin_t a;
    cli_admin_init(&a);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg) || cli_admin_option(&a, opt, optarg)) {
            continue;
        }
        switch (opt) {
        case 'r':
            d.reason = optarg;
            break;
        case 'b':
            d.by = optarg;
            by_given = 1;
            break;
        case 'T':
            if (cli_parse_ull("timeout", optarg, 1, 86400000, &timeout) != 0) {
                return CLI_USAGE;
            }
            d.timeout_ms = (int)timeout;
            common->timeout_ms = (int)timeout;
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
    if (a.url != NULL) {
        if (by_given) {
            fprintf(stderr,
                    "joinery steward %s: through the admin API the decider is the "
                    "token's name; drop --by\n",
                    verb->verb);
            return CLI_USAGE;
        }
        return steward_decide_api(&a, &d);
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
