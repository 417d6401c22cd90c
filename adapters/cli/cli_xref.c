/* cli_xref.c - `joinery xref export`: the cross-reference of persons, addresses or cases (every
 * system's local id and its golden record) as CSV, read from the hub's database. */
#include "cli_commands.h"
#include "cli_master_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Per entity: persons' cross-reference, then addresses' and cases' (0006), whose links are
 * deterministic (by UPRN, or by the system's own case id): always MATCH, never a score.
 * linked_records counts the OTHER local ids on the same golden record, over every system
 * whatever --system says, so a data owner reads a cluster's size on each of its rows. The record
 * that founded a golden record was NO_MATCH when it came (nothing to link to); once another
 * links to it, it reads MATCH, as the others do: the link is a fact about both. */
static const char *const SQL_XREF_EXPORT[] = {
    "SELECT system, local_id, master_id, "
    "CASE WHEN link_state = 'NO_MATCH' AND linked > 0 THEN 'MATCH' ELSE link_state END, score, "
    "linked FROM (SELECT system, local_id, master_id, link_state, score, "
    "count(*) OVER (PARTITION BY master_id) - 1 AS linked FROM xref) x "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\"",
    "SELECT system, local_id, master_id, 'MATCH', NULL, linked FROM (SELECT system, local_id, "
    "master_id, count(*) OVER (PARTITION BY master_id) - 1 AS linked FROM address_xref) x "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\"",
    "SELECT system, local_id, master_id, 'MATCH', NULL, linked FROM (SELECT system, local_id, "
    "master_id, count(*) OVER (PARTITION BY master_id) - 1 AS linked FROM case_xref) x "
    "WHERE $1::text IS NULL OR system = $1::text "
    "ORDER BY system COLLATE \"C\", local_id COLLATE \"C\""};
#define XREF_COLS 6
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
    PGresult *r = cm_db_rows(c, SQL_XREF_EXPORT[entity], 1, params, e);
    if (r == NULL) {
        return -1;
    }
    const char *eol = crlf ? "\r\n" : "\n";
    printf("system,local_id,master_id,link_state,score,linked_records%s", eol);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int k = 0; k < XREF_COLS; k++) {
            csv_field(stdout, cm_col(r, i, k), k == XREF_COLS - 1, eol);
        }
    }
    PQclear(r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return cm_fail(e, "cannot write the CSV: %s", strerror(errno));
    }
    return 0;
}

/* Every system that has local ids in any cross-reference. */
static const char SQL_XREF_SYSTEMS[] =
    "SELECT system FROM xref UNION SELECT system FROM address_xref "
    "UNION SELECT system FROM case_xref ORDER BY 1";

static int has_name(json_t *names, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "crm, socialcare" into out; the names as candidates for "did you mean" into near. */
static void name_list(json_t *names, char *out, size_t len, const char **near, const char *word)
{
    const char *cand[65] = {NULL};
    size_t used = 0, i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(names, i, v)
    {
        if (i < 64) {
            cand[i] = json_string_value(v);
        }
        if (used < len) {
            used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                     json_string_value(v));
        }
    }
    *near = cli_closest(word, cand);
}

/* An empty CSV for a misspelt system looks like a system without records: say instead that no
 * adapter has that name. Known are the systems in the cross-references and, when the hub can be
 * asked, its configured adapters (one that has sent nothing yet is known all the same). */
static int check_system(PGconn *c, const cli_common_t *common, const char *system, cm_err_t *e)
{
    PGresult *r = cm_db_rows(c, SQL_XREF_SYSTEMS, 0, NULL, e);
    if (r == NULL) {
        return -1;
    }
    json_t *names = json_array();
    for (int i = 0; names != NULL && i < PQntuples(r); i++) {
        json_array_append_new(names, json_string(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    char hub_err[512] = "";
    json_t *hub =
        has_name(names, system) ? NULL : cli_hub_adapters(common, hub_err, sizeof hub_err);
    size_t i;
    json_t *v;
    json_array_foreach(hub, i, v)
    {
        if (!has_name(names, json_string_value(v))) {
            json_array_append(names, v);
        }
    }
    json_decref(hub);
    int known = names == NULL || has_name(names, system);
    if (!known) {
        char list[512];
        const char *near = NULL;
        name_list(names, list, sizeof list, &near, system);
        char asked[600] = "";
        if (hub_err[0] != '\0') {
            snprintf(asked, sizeof asked, "; the hub could not be asked for its adapters: %s",
                     hub_err);
        }
        char mean[96] = "";
        if (near != NULL) {
            snprintf(mean, sizeof mean, ": did you mean '%s'?", near);
        }
        cm_fail(e, "no adapter '%s' (known: %s)%s%s", system, list[0] ? list : "none", mean, asked);
    }
    json_decref(names);
    return known ? 0 : -1;
}

static const char xref_usage[] =
    "Usage: joinery xref export [--db CONNINFO] [--entity person|address|case] [--system S]\n"
    "       [--crlf]\n"
    "\n"
    "Writes the cross-reference (every system's local id and its golden record) as CSV on\n"
    "standard output: header system,local_id,master_id,link_state,score,linked_records, one\n"
    "row per local id ordered by system and local id (byte order), RFC 4180 quoting, score\n"
    "empty when none. linked_records: how many other local ids (of any system) share the\n"
    "golden record; a record that founded one reads MATCH once another has linked to it.\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --entity E       whose cross-reference: person (default), address or case; addresses'\n"
    "                   and cases' links are always MATCH, without a score\n"
    "  --system S       only system S's local ids; exit status 1 if no adapter is called S\n"
    "                   (known: the systems in the cross-references, and the hub's adapters\n"
    "                   when it can be asked, with the connection options)\n"
    "  --crlf           end lines with CRLF, as RFC 4180 has it (default LF)\n"
    "\n" CLI_COMMON_HELP;

int cli_xref_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"system", required_argument, NULL, 's'},
                                         {"entity", required_argument, NULL, 'e'},
                                         {"crlf", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
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
        if (cli_common_option(common, opt, optarg)) {
            continue;
        }
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
    int status = CLI_OK;
    PGconn *c = cm_db_connect("xref export", db, &status);
    if (c == NULL) {
        return status;
    }
    cm_err_t e = {""};
    int rc = system != NULL ? check_system(c, common, system, &e) : 0;
    if (rc == 0) {
        rc = xref_export(c, entity, system, crlf, &e);
    }
    return cm_db_close("xref export", c, rc, &e);
}
