/* cli_disclosures.c - `joinery disclosures --person MASTER_ID`: what was shared about a person
 * with partners, with whom, under which agreement and purpose, when, and what was withheld
 * and why (partner_disclosure, written by the hub in the commit that settles each delivery),
 * as a subject access request needs it: a table, CSV or JSON. Read from the hub's database,
 * like the other reading commands (cli_master_common.h). */
#include "cli_commands.h"
#include "cli_master_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* A merged record's disclosures were made under the ids it had then: the person's own id and
 * every id that now redirects to it are asked for. */
static const char SQL_DISCLOSURES[] =
    "SELECT at, partner, agreement, purpose, event_type, event_id, master_id, "
    "coalesce(fields, ''), coalesce(withheld, '') FROM partner_disclosure "
    "WHERE master_id = $1 OR master_id IN (SELECT master_id FROM golden_person "
    "WHERE redirect_to = $1) ORDER BY at, id";

enum { C_AT, C_PARTNER, C_AGREEMENT, C_PURPOSE, C_TYPE, C_EVENT, C_MASTER, C_FIELDS, C_WITHHELD };
static const char *const COLUMNS[] = {"at",       "partner",   "agreement", "purpose", "event_type",
                                      "event_id", "master_id", "fields",    "withheld"};
#define NCOLS 9

typedef enum { OUT_TEXT, OUT_CSV, OUT_JSON } out_t;

static void csv_field(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n") != NULL) {
        fputc('"', stdout);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', stdout);
            fputc(*s, stdout);
        }
        fputc('"', stdout);
    } else {
        fputs(s, stdout);
    }
    fputs(last ? "\n" : ",", stdout);
}

static const char *cell(const PGresult *r, int i, int k, char *buf, size_t len)
{
    const char *v = cm_col(r, i, k);
    if (k == C_AT)
        return cm_fmt_time(v, buf, len);
    return v ? v : "";
}

static int print_csv(const PGresult *r)
{
    for (int k = 0; k < NCOLS; k++)
        csv_field(COLUMNS[k], k == NCOLS - 1);
    for (int i = 0; i < PQntuples(r); i++) {
        char t[32];
        for (int k = 0; k < NCOLS; k++)
            csv_field(cell(r, i, k, t, sizeof t), k == NCOLS - 1);
    }
    return 0;
}

static int print_json(const PGresult *r, const char *person, cm_err_t *e)
{
    json_t *rows = json_array(), *top = json_object();
    if (!rows || !top || cm_jset(top, "person", cm_jstr(person)) < 0) {
        json_decref(rows);
        json_decref(top);
        return cm_fail(e, "out of memory");
    }
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(rows, o) < 0)
            return json_decref(top), json_decref(rows), cm_fail(e, "out of memory");
        int bad = cm_jset(o, "at", cm_jtime(cm_col(r, i, C_AT))) < 0;
        for (int k = 1; k < NCOLS && !bad; k++) {
            const char *v = cm_col(r, i, k);
            bad = cm_jset(o, COLUMNS[k], cm_jstr(v && *v ? v : NULL)) < 0;
        }
        if (!bad)
            bad = cm_jset(o, "shared", json_boolean(cm_col(r, i, C_WITHHELD)[0] == '\0')) < 0;
        if (bad)
            return json_decref(top), json_decref(rows), cm_fail(e, "a value is not valid UTF-8");
    }
    if (cm_jset(top, "disclosures", rows) < 0)
        return json_decref(top), cm_fail(e, "out of memory");
    return cm_json_print(top, e);
}

static int print_text(const PGresult *r, const char *person)
{
    int n = PQntuples(r), shared = 0;
    for (int i = 0; i < n; i++)
        shared += cm_col(r, i, C_WITHHELD)[0] == '\0';
    printf("Disclosures about %s: %d shared, %d withheld\n", person, shared, n - shared);
    for (int i = 0; i < n; i++) {
        char t[32];
        const char *withheld = cm_col(r, i, C_WITHHELD);
        printf("\n%s  %s  %s (%s)\n", cell(r, i, C_AT, t, sizeof t), cm_col(r, i, C_PARTNER),
               cm_col(r, i, C_TYPE), cm_col(r, i, C_EVENT));
        printf("  agreement: %s\n  purpose:   %s\n", cm_col(r, i, C_AGREEMENT),
               cm_col(r, i, C_PURPOSE));
        if (withheld[0])
            printf("  WITHHELD:  %s\n", withheld);
        else
            printf("  fields:    %s\n", cm_col(r, i, C_FIELDS));
    }
    return 0;
}

static int disclosures(PGconn *c, const char *person, out_t out, cm_err_t *e)
{
    const char *params[] = {person};
    PGresult *r = cm_db_rows(c, SQL_DISCLOSURES, 1, params, e);
    if (r == NULL)
        return -1;
    int rc = out == OUT_CSV    ? print_csv(r)
             : out == OUT_JSON ? print_json(r, person, e)
                               : print_text(r, person);
    PQclear(r);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        return cm_fail(e, "cannot write: %s", strerror(errno));
    return rc;
}

static const char usage[] =
    "Usage: joinery disclosures --person MASTER_ID [--db CONNINFO] [--csv | --json]\n"
    "\n"
    "Lists what was shared with partners about a person (a golden record, and the records\n"
    "merged into it), oldest first: when, with which partner, under which agreement and\n"
    "purpose, which event and which fields; and what was withheld (no consent, ...) and why.\n"
    "  --person ID      the golden record's master id\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --csv            CSV with a header line (RFC 4180 quoting)\n"
    "  --json           one JSON object: person, disclosures[]\n";

int cli_disclosures_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"person", required_argument, NULL, 'p'},
        {"csv", no_argument, NULL, 'c'},      {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},     {0}};
    (void)common;
    const char *db = NULL, *person = NULL;
    out_t out = OUT_TEXT;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 'p':
            person = optarg;
            break;
        case 'c':
            out = OUT_CSV;
            break;
        case 'j':
            out = OUT_JSON;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc || person == NULL || person[0] == '\0') {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    int status = CLI_OK;
    PGconn *c = cm_db_connect("disclosures", db, &status);
    if (c == NULL)
        return status;
    cm_err_t e = {""};
    return cm_db_close("disclosures", c, disclosures(c, person, out, &e), &e);
}
