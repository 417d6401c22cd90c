/* agresso_main.c - joinery-agresso: Unit4 Agresso (ERP) through files, as councils run it.
 *
 *   joinery-agresso --config FILE [--check-config]
 *
 * In: customer-master CSV exports dropped into a directory become person.updated events
 * (agresso_inbound). Out: golden-record changes for Agresso's customers become customer import
 * files, and care packages become GL07 batch-input files (agresso_outbound). The configuration is
 * in docs/adapters.md, "Connecting Unit4 Agresso (ERP)".
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when it cannot start, 2 for usage. */
#include "agresso_inbound.h"
#include "agresso_outbound.h"
#include "common/adapter_config.h"
#include "common/adapter_log.h"
#include "common/adapter_loop.h"

#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DRAIN_MS 5000 /* at a stop, how long published rows may still be answered */
#define COUNTERS_EVERY_S 60

typedef struct {
    agresso_inbound_opts_t in;
    agresso_outbound_opts_t out;
    const char *subscription;
    const adapter_hub_t *hub;
    char done[PATH_MAX], failed[PATH_MAX];
} settings_t;

static int delimiter(const adapter_config_t *cfg, const char *path, char *out, char *err,
                     size_t errlen)
{
    static const char *const names[] = {"comma", "semicolon", "pipe", "tab", ",", ";", "|", NULL};
    static const char chars[] = {',', ';', '|', '\t', ',', ';', '|'};
    int k;
    if (adapter_config_choice(cfg, path, names, 0, &k, err, errlen) != 0)
        return -1;
    *out = chars[k];
    return 0;
}

static int read_inbound(const adapter_config_t *cfg, settings_t *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"dir",       "done_dir",  "failed_dir",     "delimiter",
                                       "stable_ms", "rescan_ms", "max_file_bytes", NULL};
    unsigned long stable, rescan, maxb;
    if (adapter_config_keys(cfg, "inbound", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "inbound.dir", NULL, &s->in.dir, err, errlen) != 0 ||
        adapter_config_string(cfg, "inbound.done_dir", NULL, &s->in.done_dir, err, errlen) != 0 ||
        adapter_config_string(cfg, "inbound.failed_dir", NULL, &s->in.failed_dir, err, errlen) !=
            0 ||
        delimiter(cfg, "inbound.delimiter", &s->in.delimiter, err, errlen) != 0 ||
        adapter_config_uint(cfg, "inbound.stable_ms", 50, 600000, 1000, &stable, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "inbound.rescan_ms", 100, 3600000, 30000, &rescan, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "inbound.max_file_bytes", 1024, 4UL << 30, 512UL << 20, &maxb, err,
                            errlen) != 0)
        return -1;
    if (s->in.dir == NULL) {
        (void)snprintf(err, errlen,
                       "'inbound.dir' is required: the directory Agresso's "
                       "customer-master exports are dropped into");
        return -1;
    }
    if (s->in.done_dir == NULL) {
        (void)snprintf(s->done, sizeof s->done, "%s/done", s->in.dir);
        s->in.done_dir = s->done;
    }
    if (s->in.failed_dir == NULL) {
        (void)snprintf(s->failed, sizeof s->failed, "%s/failed", s->in.dir);
        s->in.failed_dir = s->failed;
    }
    s->in.stable_ms = (unsigned)stable;
    s->in.rescan_ms = (unsigned)rescan;
    s->in.max_file_bytes = maxb;
    s->in.max_in_flight = 10000;
    return 0;
}

static int read_outbound(const adapter_config_t *cfg, settings_t *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"dir",       "customer_file_prefix", "gl07_file_prefix",
                                       "delimiter", "subscription",         NULL};
    static const char *const gl07[] = {"interface", "voucher_type", "client",
                                       "account",   "cost_centre",  "tax_code",
                                       "currency",  "batch_prefix", NULL};
    gl07_coding_t *g = &s->out.coding;
    if (adapter_config_keys(cfg, "outbound", keys, err, errlen) != 0 ||
        adapter_config_keys(cfg, "gl07", gl07, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.dir", NULL, &s->out.dir, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.customer_file_prefix", "CUST", &s->out.customer_prefix,
                              err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.gl07_file_prefix", "GL07", &s->out.gl07_prefix, err,
                              errlen) != 0 ||
        delimiter(cfg, "outbound.delimiter", &s->out.delimiter, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.subscription", "agresso", &s->subscription, err,
                              errlen) != 0 ||
        adapter_config_string(cfg, "gl07.interface", "BI", &g->interface, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.voucher_type", "GL", &g->voucher_type, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.client", NULL, &g->client, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.account", NULL, &g->account, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.cost_centre", NULL, &g->cost_centre, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.tax_code", "0", &g->tax_code, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.currency", "GBP", &g->currency, err, errlen) != 0 ||
        adapter_config_string(cfg, "gl07.batch_prefix", "JNY", &g->batch_prefix, err, errlen) != 0)
        return -1;
    const char *missing = s->out.dir == NULL       ? "'outbound.dir' (where Agresso's import "
                                                     "job collects its files)"
                          : g->client == NULL      ? "'gl07.client' (the Agresso client, e.g. LC)"
                          : g->account == NULL     ? "'gl07.account' (the care-charge account)"
                          : g->cost_centre == NULL ? "'gl07.cost_centre' (dim_1)"
                                                   : NULL;
    if (missing != NULL) {
        (void)snprintf(err, errlen, "%s is required", missing);
        return -1;
    }
    if (strlen(g->batch_prefix) > 12) {
        (void)snprintf(err, errlen,
                       "'gl07.batch_prefix' is '%s'; at most 12 characters, so a batch id fits "
                       "Agresso's 25",
                       g->batch_prefix);
        return -1;
    }
    return 0;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s --config FILE [--check-config]\n", prog);
    return 2;
}

static void log_counters(const agresso_inbound_t *in, const agresso_outbound_t *out)
{
    const agresso_inbound_counters_t *i = agresso_inbound_counters(in);
    const agresso_outbound_counters_t *o = agresso_outbound_counters(out);
    adapter_log(ADAPTER_LOG_INFO,
                "counters: files_done=%" PRIu64 " files_failed=%" PRIu64 " files_again=%" PRIu64
                " rows_taken=%" PRIu64 " rows_refused=%" PRIu64 " customer_files=%" PRIu64
                " gl07_files=%" PRIu64 " skipped=%" PRIu64 " rejected=%" PRIu64
                " write_failures=%" PRIu64,
                i->files_done, i->files_failed, i->files_again, i->rows_taken, i->rows_refused,
                o->customers, o->gl07, o->skipped, o->rejected, o->write_failures);
}

static int run(adapter_loop_t *loop, joinery_client_t *client, agresso_inbound_t *in,
               const agresso_outbound_t *out)
{
    char err[256];
    struct pollfd fds[1];
    time_t last = time(NULL);
    while (!adapter_loop_stopping(loop)) {
        size_t n = agresso_inbound_fds(in, fds, 1);
        int t = agresso_inbound_timeout_ms(in);
        if (adapter_loop_run_once(loop, client, fds, n, t < 0 || t > 1000 ? 1000 : t, err,
                                  sizeof err) < 0) {
            adapter_log(ADAPTER_LOG_ERROR, "%s", err);
            return -1;
        }
        agresso_inbound_handle(in);
        adapter_loop_drive(client); /* what was just published goes out now */
        if (time(NULL) - last >= COUNTERS_EVERY_S) {
            last = time(NULL);
            log_counters(in, out);
        }
    }
    /* A clean stop: no new rows; what the hub confirms in the next moments still counts, and a
     * file left unfinished is read again at the next start (its rows then DUPLICATE). */
    agresso_inbound_quiesce(in);
    int64_t deadline = (int64_t)time(NULL) * 1000 + DRAIN_MS;
    while (agresso_inbound_in_flight(in) > 0 && (int64_t)time(NULL) * 1000 < deadline) {
        if (adapter_loop_run_once(loop, client, NULL, 0, 100, err, sizeof err) < 0)
            break;
        agresso_inbound_handle(in);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--check-config") == 0)
            check = 1;
        else
            return usage(argv[0]);
    }
    if (config == NULL)
        return usage(argv[0]);
    static const char *const sections[] = {"inbound", "outbound", "gl07", NULL};
    char err[512];
    adapter_config_t *cfg = adapter_config_load(config, sections, err, sizeof err);
    static settings_t s; /* configuration: PATH_MAX buffers, read once */
    if (cfg == NULL || read_inbound(cfg, &s, err, sizeof err) != 0 ||
        read_outbound(cfg, &s, err, sizeof err) != 0) {
        fprintf(stderr, "joinery-agresso: %s\n", err);
        adapter_config_destroy(&cfg);
        return 1;
    }
    s.hub = adapter_config_hub(cfg);
    adapter_log_setup("joinery-agresso", adapter_config_log_level(cfg));
    if (check) {
        printf("joinery-agresso: %s is valid\n", config);
        adapter_config_destroy(&cfg);
        return 0;
    }
    int rc = 1;
    err[0] = '\0';
    joinery_client_t *client = NULL;
    agresso_inbound_t *in = NULL;
    agresso_outbound_t *out = agresso_outbound_new(&s.out, err, sizeof err);
    adapter_loop_t *loop = out ? adapter_loop_new(err, sizeof err) : NULL; /* before the SDK */
    if (loop == NULL)
        goto done;
    joinery_options_t jo = {
        .endpoint = s.hub->endpoint,
        .adapter = s.hub->adapter,
        .keys_dir = s.hub->keys_dir,
        .heartbeat_ms = s.hub->heartbeat_ms,
        .max_unconfirmed = (unsigned)s.in.max_in_flight,
        .connect_timeout_ms = -1, /* files wait in their directory for the hub */
    };
    client = joinery_connect(&jo, err, sizeof err);
    if (client == NULL)
        goto done;
    static const char *const patterns[] = {"person.*", "case.care_package.*"};
    joinery_subscription_t sub = {.name = s.subscription,
                                  .patterns = patterns,
                                  .npatterns = 2,
                                  .handler = agresso_outbound_handle,
                                  .ud = out};
    if (joinery_subscribe_with(client, &sub) != 0) {
        (void)snprintf(err, sizeof err, "%s", joinery_last_error(client));
        goto done;
    }
    in = agresso_inbound_new(&s.in, client, err, sizeof err);
    if (in == NULL)
        goto done;
    adapter_log(ADAPTER_LOG_INFO,
                "ready: watching %s (done %s, failed %s), writing to %s; hub %s as %s", s.in.dir,
                s.in.done_dir, s.in.failed_dir, s.out.dir, s.hub->endpoint, s.hub->adapter);
    rc = run(loop, client, in, out) == 0 ? 0 : 1;
    log_counters(in, out);
done:
    if (rc != 0 && err[0])
        adapter_log(ADAPTER_LOG_ERROR, "%s", err);
    /* The client first: closing reports unconfirmed rows to the inbound's callbacks. */
    joinery_close(&client);
    agresso_inbound_destroy(&in);
    agresso_outbound_destroy(&out);
    adapter_loop_destroy(&loop);
    adapter_config_destroy(&cfg);
    return rc;
}
