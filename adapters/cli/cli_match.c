/* cli_match.c - `joinery match train`: estimates the matcher's Fellegi-Sunter m and u from the
 * golden records in the hub's database (u from random pairs, m by EM over the pairs blocking
 * finds) and writes them as YAML for review; `joinery match defaults` prints the built-in ones. */
#include "cli_commands.h"
#include "cli_master_common.h"
#include "match/match.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if ((pp->res = cm_db_rows(c, SQL_TRAIN_PEOPLE, 0, NULL, e)) == NULL) {
        return -1;
    }
    pp->n = (size_t)PQntuples(pp->res);
    if (pp->n > UINT32_MAX) {
        return cm_fail(e, "too many golden records (%zu)", pp->n);
    }
    pp->p = calloc(pp->n ? pp->n : 1, sizeof pp->p[0]);
    pp->given = calloc(pp->n ? pp->n : 1, sizeof pp->given[0]);
    if (pp->p == NULL || pp->given == NULL) {
        return cm_fail(e, "out of memory for %zu records", pp->n);
    }
    for (size_t i = 0; i < pp->n; i++) {
        const PGresult *r = pp->res;
        int row = (int)i;
        pp->p[i] = (match_person_t){
            .nhs_number = cm_col(r, row, 0),
            .ni_number = cm_col(r, row, 1),
            .given = first_word(cm_col(r, row, 2), pp->given[i], sizeof pp->given[i]),
            .family = cm_col(r, row, 3),
            .birth_date = cm_col(r, row, 4),
            .sex = cm_col(r, row, 5),
            .postcode = cm_col(r, row, 6),
            .phone = cm_col(r, row, 7),
            .email = cm_col(r, row, 8),
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
        cm_fail(e, "out of memory for blocking keys");
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
            cm_fail(e, "out of memory for candidate pairs");
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
        return cm_fail(e, "out of memory for %zu comparison vectors", t->candidates);
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
        return cm_fail(e, "EM refused the comparison vectors (a bug: please report it)");
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
    fprintf(f,
            "# The matcher's built-in Fellegi-Sunter parameters (lib/match/match.c), in the form\n"
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
        return fflush(stdout) == 0 ? 0 : cm_fail(e, "cannot write: %s", strerror(errno));
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return cm_fail(e, "cannot create %s: %s", path, strerror(errno));
    }
    write_yaml(f, t);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        return cm_fail(e, "cannot write %s: %s", path, strerror(errno));
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
    int status = CLI_OK;
    PGconn *c = cm_db_connect("match train", db, &status);
    if (c == NULL) {
        return status;
    }
    cm_err_t e = {""};
    return cm_db_close("match train", c, match_train(c, &t, out, &e), &e);
}
