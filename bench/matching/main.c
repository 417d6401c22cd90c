/* main.c - bench_matching: identity-matching accuracy and load throughput of the hub's
 * master-data engine, measured against a synthetic population whose truth is known.

 *
 * It makes a British-realistic population (surnames with the real frequency skew, forenames by
 * sex and birth decade, households with couples, children, twins and grandparents, and people
 * who share a name and birth date by chance), gives each person a record in two or three council
 * systems with the noise such systems really carry (typos, nicknames, swapped day and month,
 * stale addresses, married names, missing identifiers, formatting), loads each system through
 * the hub as its adapter would (libjoinery, person.updated / joinery.v1.Person), and reads back
 * from PostgreSQL which golden record every local id was linked to. Against the generator's
 * ground truth it reports precision and recall of the automatic links, what went to the data
 * stewards, the false merges themselves, load throughput and the hub's memory. See
 * bench/MATCHING.md for the model and how to read the results; bench/run-matching.sh runs it.
 *
 *   bench_matching [--people N] [--seed S] [--systems 2|3] [--stats] [--csv FILE]
 *                  [--endpoint E --keys DIR|-] [--pg CONNINFO] [--hub-pid PID] [--eval-only]
 *                  [--external FILE [--external FILE2] [--format splink|febrl]
 *                   [--layout spread|split]]
 *
 * Without --endpoint it only generates (and prints --stats or writes --csv). Everything is
 * deterministic from the seed: one seed, one population, one set of records, byte for byte.
 *
 * This file holds the command line and the run; matching.h lists the other parts.
 */
#include "matching.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_matching [options]\n"
            "  --people N        distinct people (default 20000)\n"
            "  --seed S          population seed (default 1)\n"
            "  --systems 2|3     socialcare + crm, or also health (default 2)\n"
            "  --stats           print generator statistics\n"
            "  --csv FILE        write every record with its person (ground truth)\n"
            "  --endpoint E      hub endpoint; load the systems through it\n"
            "  --keys DIR|-      Curve keys directory (ADAPTER.key, hub.pub); - for none\n"
            "  --pg CONNINFO     the hub's database, to read the outcome\n"
            "  --hub-pid PID     the hub's process, for its resident memory and CPU\n"
            "  --pg-pid PID      PostgreSQL's postmaster, for the CPU it and its backends use\n"
            "  --eval-only       do not load; evaluate what the database holds\n"
            "  --moves           before the loads, each system holding a person's current address\n"
            "                    while another still has the one they left first sends them at\n"
            "                    that old address (as it had them before it heard of the move)\n"
            "  --shared-id       with --external FEBRL data: send soc_sec_id as the identifier\n"
            "                    " SHARED_ID_SYSTEM "\n"
            "                    (the hub's master_data.matching.shared_identifier)\n"
            "  --entities        after the people, every system's addresses (by UPRN) and a\n"
            "                    case for every fourth socialcare record; checked in the database\n"
            "  --external FILE   score another's data set instead (splink or FEBRL-style CSV;\n"
            "                    repeat for one file per system with --layout split)\n"
            "  --format splink|febrl   the CSV's shape (default: from its header)\n"
            "  --layout spread|split   spread: each record to a system by a hash of its id;\n"
            "                    split: one system per file, per `source` value, or per half\n"
            "  --outcome FILE    with --external: every record and the golden record it went to\n"
            "  --in-a F --b-given-a F --in-c F --namesakes F --twin-rate F\n"
            "                    population shape (0.8, 0.7, 0.85, 0.01, 0.016)\n");
}

static int parse_u64(const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_frac(const char *s, double *out)
{
    if (!s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

/* 0: run; 1: --help was printed; -1: bad arguments (reported). */
static int parse_args(int argc, char **argv, options_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long u = 0;
        int bad = 0, takes = 1;
        if (strcmp(a, "--people") == 0) {
            bad = parse_u64(val, 100, 5000000, &u);
            o->people = (size_t)u;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_u64(val, 0, ULLONG_MAX, &u);
            o->seed = u;
        } else if (strcmp(a, "--systems") == 0) {
            bad = parse_u64(val, 2, 3, &u);
            o->systems = (int)u;
        } else if (strcmp(a, "--hub-pid") == 0) {
            bad = parse_u64(val, 1, INT_MAX, &u);
            o->hub_pid = (long)u;
        } else if (strcmp(a, "--pg-pid") == 0) {
            bad = parse_u64(val, 1, INT_MAX, &u);
            o->pg_pid = (long)u;
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = val;
            bad = !val;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = val;
            bad = !val;
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = val;
            bad = !val;
        } else if (strcmp(a, "--pg") == 0) {
            o->pg = val;
            bad = !val;
        } else if (strcmp(a, "--external") == 0) {
            bad = !val || o->n_external == MAX_SYSTEMS;
            if (!bad)
                o->external[o->n_external++] = val;
        } else if (strcmp(a, "--outcome") == 0) {
            o->outcome = val;
            bad = !val;
        } else if (strcmp(a, "--format") == 0) {
            o->format = val;
            bad = !val || (strcmp(val, "splink") != 0 && strcmp(val, "febrl") != 0);
        } else if (strcmp(a, "--layout") == 0) {
            o->layout = val;
            bad = !val || (strcmp(val, "spread") != 0 && strcmp(val, "split") != 0);
        } else if (strcmp(a, "--in-a") == 0) {
            bad = parse_frac(val, &o->in_a);
        } else if (strcmp(a, "--b-given-a") == 0) {
            bad = parse_frac(val, &o->b_given_a);
        } else if (strcmp(a, "--in-c") == 0) {
            bad = parse_frac(val, &o->in_c);
        } else if (strcmp(a, "--namesakes") == 0) {
            bad = parse_frac(val, &o->namesakes);
        } else if (strcmp(a, "--twin-rate") == 0) {
            bad = parse_frac(val, &o->twin_rate);
        } else {
            takes = 0;
            if (strcmp(a, "--stats") == 0) {
                o->stats = true;
            } else if (strcmp(a, "--eval-only") == 0) {
                o->eval_only = true;
            } else if (strcmp(a, "--entities") == 0) {
                o->entities = true;
            } else if (strcmp(a, "--moves") == 0) {
                o->moves = true;
            } else if (strcmp(a, "--shared-id") == 0) {
                o->shared_id = true;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                usage(stdout);
                return 1; /* help shown: nothing to do */
            } else {
                fprintf(stderr, "bench_matching: unknown option '%s'\n", a);
                usage(stderr);
                return -1;
            }
        }
        if (bad) {
            fprintf(stderr, "bench_matching: %s needs a valid value%s%s\n", a, val ? ", not " : "",
                    val ? val : "");
            return -1;
        }
        i += takes;
    }
    if (o->eval_only && !o->pg) {
        fprintf(stderr, "bench_matching: --eval-only needs --pg\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t opt = {.people = 20000,
                     .seed = 1,
                     .systems = 2,
                     .in_a = 0.8,
                     .b_given_a = 0.7,
                     .in_c = 0.85,
                     .namesakes = 0.01,
                     .twin_rate = 0.016};
    int parsed = parse_args(argc, argv, &opt);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (opt.n_external)
        return external_run(&opt);

    int rc = 1;
    pop_t pop = {.opt = &opt};
    view_t views[MAX_SYSTEMS];
    memset(views, 0, sizeof views);
    pq_t pq = {0};
    outcome_t out = {0};
    phase_t phases[MAX_SYSTEMS];
    memset(phases, 0, sizeof phases);

    double t0 = mono_s();
    rng_seed(&pop.rng, opt.seed, 0x9090);
    /* Preallocated to the full size: person pointers stay valid while households grow. */
    pop.p = calloc(opt.people, sizeof *pop.p);
    if (!pop.p || build_tables(&pop) < 0) {
        fprintf(stderr, "bench_matching: out of memory\n");
        goto done;
    }
    while (pop.n < opt.people)
        if (make_household(&pop) < 0) {
            fprintf(stderr, "bench_matching: could not place a household (out of memory?)\n");
            goto done;
        }
    assign_systems(&pop);
    for (int s = 0; s < opt.systems; s++)
        if (build_view(&pop, s, &views[s]) < 0) {
            fprintf(stderr, "bench_matching: out of memory\n");
            goto done;
        }
    printf("population: %zu people, seed %" PRIu64 "; records:", pop.n, opt.seed);
    for (int s = 0; s < opt.systems; s++)
        printf(" %s %zu", views[s].pf->adapter, views[s].n);
    size_t both = 0;
    for (size_t i = 0; i < pop.n; i++)
        both += (pop.p[i].systems & 3) == 3;
    printf("; true %s-%s pairs %zu (generated in %.1f s)\n", views[0].pf->adapter,
           views[1].pf->adapter, both, mono_s() - t0);
    if (opt.stats)
        print_stats(&pop, views, opt.systems);
    if (opt.csv && write_csv(opt.csv, &pop, views, opt.systems) < 0)
        goto done;
    if (!opt.endpoint && !opt.eval_only) {
        rc = 0;
        goto done;
    }
    if (opt.pg && pq_open(&pq, opt.pg) < 0)
        goto done;

    if (!opt.eval_only) {
        long rss, hwm;
        if (read_rss(opt.hub_pid, &rss, &hwm) == 0)
            printf("hub RSS before loading: %.1f MiB\n", rss / 1024.0);
        for (int s = 0; opt.moves && s < opt.systems; s++) {
            tally_t t = {0};
            double seconds = 0;
            size_t sent = 0;
            if (load_before_moves(&opt, &pop, views, opt.systems, s, &t, &seconds, &sent) < 0)
                goto done;
            printf("load %s before the moves: %zu person events at the address the person left, "
                   "in %.2f s (ok %zu, rejected %zu)\n",
                   views[s].pf->adapter, sent, seconds, t.ok, t.rejected);
        }
        for (int s = 0; s < opt.systems; s++) {
            phase_t *ph = &phases[s];
            ph->events = views[s].n;
            double hub0 = proc_cpu_s(opt.hub_pid), self0 = self_cpu_s(), steal0 = steal_s();
            double core0 = main_thread_cpu_s(opt.hub_pid), pg0 = tree_cpu_s(opt.pg_pid);
            long long rows0 = pq.conn ? pg_rows(&pq) : -1;
            walstat_t wal0 = pq.conn ? pg_wal(&pq) : (walstat_t){-1, -1, -1, -1};
            if (load_view(&opt, &views[s], &ph->tally, &ph->seconds) < 0)
                goto done;
            double hub1 = proc_cpu_s(opt.hub_pid);
            ph->hub_cpu = hub0 >= 0 && hub1 >= 0 ? hub1 - hub0 : -1;
            double core1 = main_thread_cpu_s(opt.hub_pid), pg1 = tree_cpu_s(opt.pg_pid);
            ph->core_cpu = core0 >= 0 && core1 >= 0 ? core1 - core0 : -1;
            ph->pg_cpu = pg0 >= 0 && pg1 >= 0 ? pg1 - pg0 : -1;
            ph->bench_cpu = self_cpu_s() - self0;
            double steal1 = steal_s();
            ph->steal = steal0 >= 0 && steal1 >= 0 ? steal1 - steal0 : -1;
            long long rows1 = pq.conn ? pg_rows(&pq) : -1;
            ph->rows = rows0 >= 0 && rows1 >= 0 ? rows1 - rows0 : -1;
            walstat_t wal1 = pq.conn ? pg_wal(&pq) : (walstat_t){-1, -1, -1, -1};
            ph->wal.records =
                wal0.records >= 0 && wal1.records >= 0 ? wal1.records - wal0.records : -1;
            ph->wal.fpi = wal0.fpi >= 0 && wal1.fpi >= 0 ? wal1.fpi - wal0.fpi : -1;
            ph->wal.bytes = wal0.bytes >= 0 && wal1.bytes >= 0 ? wal1.bytes - wal0.bytes : -1;
            ph->wal.checkpoints = wal0.checkpoints >= 0 && wal1.checkpoints >= 0
                                      ? wal1.checkpoints - wal0.checkpoints
                                      : -1;
            ph->loaded = true;
            ph->golden = ph->queue_open = -1;
            if (pq.conn) {
                ph->golden = pq_count(&pq, "SELECT count(*) FROM golden_person WHERE state = "
                                           "'ACTIVE'");
                ph->queue_open = pq_count(&pq, "SELECT count(*) FROM steward_queue WHERE state = "
                                               "'OPEN'");
            }
            (void)read_rss(opt.hub_pid, &ph->rss_kib, &ph->hwm_kib);
            const tally_t *t = &ph->tally;
            printf("load %s: %zu person events in %.2f s = %.0f events/s confirmed (ok %zu, "
                   "duplicate %zu, rejected %zu, unconfirmed %zu; %zu answered with a master_id); "
                   "golden records %lld, open steward items %lld; hub RSS %.1f MiB (peak %.1f)\n",
                   views[s].pf->adapter, ph->events, ph->seconds,
                   ph->seconds > 0 ? (double)ph->events / ph->seconds : 0.0, t->ok, t->duplicate,
                   t->rejected, t->unconfirmed, t->with_master, ph->golden, ph->queue_open,
                   ph->rss_kib / 1024.0, ph->hwm_kib / 1024.0);
            printf("  CPU during the load: hub %.1f s (its core thread, which runs the engine, "
                   "%.1f s), PostgreSQL %.1f s, this program %.1f s, of %.1f s wall on %ld cores; "
                   "per event: hub %.0f us (core %.0f us), PostgreSQL %.0f us\n",
                   ph->hub_cpu, ph->core_cpu, ph->pg_cpu, ph->bench_cpu, ph->seconds,
                   sysconf(_SC_NPROCESSORS_ONLN), per_event_us(ph->hub_cpu, ph->events),
                   per_event_us(ph->core_cpu, ph->events), per_event_us(ph->pg_cpu, ph->events));
            if (ph->rows >= 0)
                printf("  rows added to journal, golden_person, its field history, xref, "
                       "steward_queue and master_audit: %lld (%.1f per event)\n",
                       ph->rows, ph->events ? (double)ph->rows / (double)ph->events : 0.0);
            if (ph->steal >= 0)
                printf("  CPU stolen by the hypervisor during the load: %.1f s\n", ph->steal);
            if (ph->wal.bytes >= 0 && ph->events > 0)
                printf("  WAL written: %.1f MiB (%.0f bytes, %.1f records and %.2f full-page "
                       "images per event), %lld checkpoints\n",
                       (double)ph->wal.bytes / 1048576.0,
                       (double)ph->wal.bytes / (double)ph->events,
                       (double)ph->wal.records / (double)ph->events,
                       (double)ph->wal.fpi / (double)ph->events, ph->wal.checkpoints);
            for (size_t k = 0; k < t->nreasons; k++)
                printf("  refused: %s\n", t->reasons[k]);
        }
    }
    if (opt.entities && !opt.eval_only &&
        load_and_check_entities(&opt, &pq, views, opt.systems) < 0)
        goto done;
    if (!pq.conn) {
        printf("no --pg: the outcome was not read\n");
        rc = 0;
        goto done;
    }
    long long db = pq_count(&pq, "SELECT pg_database_size(current_database())");
    if (db >= 0)
        printf("database size: %.1f MiB\n", (double)db / 1048576.0);
    if (read_outcome(&pq, views, opt.systems, &out) < 0)
        goto done;
    if (out.xref_rows == 0) {
        printf("NO XREF ROWS: the hub confirmed the events but linked no local id to a golden "
               "record; is the master-data engine wired into ingest?\n");
        rc = 0;
        goto done;
    }
    rc = evaluate(&pop, views, opt.systems, &out, phases) < 0 ? 1 : 0;
done:
    outcome_free(&out);
    pq_close(&pq);
    for (int s = 0; s < MAX_SYSTEMS; s++)
        view_free(&views[s]);
    pop_free(&pop);
    return rc;
}
