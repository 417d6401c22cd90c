/* sc_main.c - joinery-socialcare: a social-care case system (Liquidlogic, Mosaic) through a small
 * REST/JSON contract (docs/socialcare-openapi.yaml), and hospital discharges of its people as
 * tasks for the social-care team.
 *
 *   joinery-socialcare --config FILE [--check-config]
 *
 * The configuration (docs/adapters.md section 9, "Connecting social care"):
 *
 *   hub: {endpoint: tcp://127.0.0.1:7600, adapter: socialcare, keys_dir: /etc/joinery/keys}
 *   log: {level: info}
 *   api:
 *     listen: "127.0.0.1:8082"    # behind the council's TLS proxy
 *     key_header: x-joinery-key   # the header the case system sends the shared key in
 *     key_file: /etc/joinery/socialcare-api.key   # or key: "..." (one of the two)
 *     max_body_bytes: 262144
 *     answer_timeout_ms: 30000    # no CONFIRM by then: 503 with Retry-After
 *     max_waiting: 256
 *   discharge:                    # optional: without it no discharge becomes a task
 *     data_dir: /var/lib/joinery-socialcare   # which persons have an open case
 *     max_people: 100000
 *     credit: 32
 *   outbound:                     # optional: without it nothing is sent to the case system
 *     base_url: https://casesystem.example.gov.uk/joinery
 *     key_header: x-joinery-key   # the header the adapter sends the case system's key in
 *     key_file: /etc/joinery/socialcare-out.key   # or key: "..." (one of the two)
 *     timeout_ms: 30000           # one attempt
 *     max_attempts: 5             # then the delivery is NACKed RETRY: the hub sends it again
 *     retry_min_ms: 500           # the pause between attempts, doubling up to retry_max_ms
 *     retry_max_ms: 60000
 *     subscription: socialcare-out
 *     credit: 32                  # deliveries waiting for the case system at once
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when it cannot start, 2 for usage. */
#include "sc_discharge.h"
#include "sc_inbound.h"
#include "sc_outbound.h"
#include "common/adapter_config.h"
#include "common/adapter_log.h"
#include "common/adapter_loop.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DRAIN_MS 5000 /* at a stop, how long unconfirmed events may still be answered */

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s --config FILE [--check-config]\n", prog);
    return 2;
}

static void settle(sc_inbound_t *in, sc_discharge_t *d)
{
    sc_inbound_flush(in);
    sc_discharge_flush(d);
}

/* The loop's wait: a second at most, less when the HTTP server (a request read whole, an answer
 * to write) or the HTTP client has a timer due. */
static int wait_ms(const sc_inbound_t *in, const sc_outbound_t *out)
{
    int t = sc_outbound_timeout_ms(out), s = sc_inbound_timeout_ms(in);
    int w = t >= 0 && t < 1000 ? t : 1000;
    return s >= 0 && s < w ? s : w;
}

static int run(adapter_loop_t *loop, joinery_client_t *client, sc_inbound_t *in, sc_discharge_t *d,
               sc_outbound_t *out)
{
    char err[256];
    while (!adapter_loop_stopping(loop)) {
        struct pollfd fds[2] = {{.fd = sc_inbound_fd(in), .events = POLLIN}};
        size_t n = 1 + sc_outbound_fds(out, fds + 1, 1);
        if (adapter_loop_run_once(loop, client, fds, n, wait_ms(in, out), err, sizeof err) < 0) {
            adapter_log(ADAPTER_LOG_ERROR, "%s", err);
            return -1;
        }
        sc_inbound_handle(in);
        /* Confirmed tasks are POSTed first, so the client starts them in this same turn. */
        sc_discharge_flush(d);
        sc_outbound_handle(out, fds + 1, n - 1);
        adapter_loop_drive(client); /* what was just published or settled goes out now */
        settle(in, d);
    }
    /* A clean stop: what the hub confirms in the next moments is still answered; the rest gets
     * 503 and the case system sends it again. */
    int64_t deadline = (int64_t)time(NULL) * 1000 + DRAIN_MS;
    while ((sc_inbound_waiting(in) > 0 || sc_discharge_waiting(d) > 0) &&
           joinery_unconfirmed(client) > 0 && (int64_t)time(NULL) * 1000 < deadline) {
        if (adapter_loop_run_once(loop, client, NULL, 0, 100, err, sizeof err) < 0)
            break;
        settle(in, d);
    }
    return 0;
}

static int settings(const adapter_config_t *cfg, sc_inbound_opts_t *io, sc_discharge_opts_t *dopt,
                    sc_outbound_opts_t *oo, char *err, size_t errlen)
{
    if (sc_inbound_settings(cfg, io, err, errlen) != 0 ||
        sc_discharge_settings(cfg, dopt, err, errlen) != 0 ||
        sc_outbound_settings(cfg, oo, err, errlen) != 0)
        return -1;
    oo->extra_requests = dopt->data_dir != NULL ? dopt->credit : 0; /* the discharge tasks */
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
    static const char *const sections[] = {"api", "discharge", "outbound", NULL};
    char err[512];
    adapter_config_t *cfg = adapter_config_load(config, sections, err, sizeof err);
    sc_inbound_opts_t o;
    sc_discharge_opts_t dopt;
    sc_outbound_opts_t oo;
    if (cfg == NULL || settings(cfg, &o, &dopt, &oo, err, sizeof err) != 0) {
        fprintf(stderr, "joinery-socialcare: %s\n", err);
        adapter_config_destroy(&cfg);
        return 1;
    }
    adapter_log_setup("joinery-socialcare", adapter_config_log_level(cfg));
    if (check) {
        printf("joinery-socialcare: %s is valid\n", config);
        adapter_config_destroy(&cfg);
        return 0;
    }
    const adapter_hub_t *hub = adapter_config_hub(cfg);
    int rc = 1;
    err[0] = '\0';
    joinery_client_t *client = NULL;
    sc_inbound_t *in = NULL;
    sc_discharge_t *d = NULL;
    sc_outbound_t *out = NULL;
    adapter_loop_t *loop = adapter_loop_new(err, sizeof err); /* before the SDK's threads */
    if (loop == NULL)
        goto out;
    joinery_options_t jo = {
        .endpoint = hub->endpoint,
        .adapter = hub->adapter,
        .keys_dir = hub->keys_dir,
        .heartbeat_ms = hub->heartbeat_ms,
        .max_unconfirmed = (unsigned)o.max_waiting + dopt.credit,
        .connect_timeout_ms = -1, /* requests wait for the hub (503 meanwhile); starting need not */
    };
    client = joinery_connect(&jo, err, sizeof err);
    if (client == NULL)
        goto out;
    if (oo.base_url != NULL && (out = sc_outbound_new(&oo, client, err, sizeof err)) == NULL)
        goto out;
    if (dopt.data_dir != NULL &&
        ((d = sc_discharge_new(&dopt, client, out, err, sizeof err)) == NULL ||
         sc_discharge_subscribe(d, err, sizeof err) != 0))
        goto out;
    in = sc_inbound_new(&o, client, d, err, sizeof err);
    if (in == NULL)
        goto out;
    adapter_log(ADAPTER_LOG_INFO,
                "ready: listening on port %d (key in %s), hub %s as %s; discharges %s (%zu open "
                "cases known); changes %s%s",
                sc_inbound_port(in), o.key_header, hub->endpoint, hub->adapter,
                d ? "become tasks" : "are not read", sc_discharge_open_cases(d),
                out ? "POSTed to " : "not sent to the case system", out ? oo.base_url : "");
    rc = run(loop, client, in, d, out) == 0 ? 0 : 1;
out:
    if (rc != 0 && err[0])
        adapter_log(ADAPTER_LOG_ERROR, "%s", err);
    /* The client first: closing reports unconfirmed events to the endpoint's callbacks. */
    joinery_close(&client);
    sc_inbound_destroy(&in);
    sc_outbound_destroy(&out); /* before the discharge side: its stopped callbacks reach it */
    sc_discharge_destroy(&d);
    adapter_loop_destroy(&loop);
    adapter_config_destroy(&cfg);
    return rc;
}
