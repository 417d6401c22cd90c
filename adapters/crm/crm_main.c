/* crm_main.c - joinery-crm: Microsoft Dynamics 365 / Dataverse webhooks as Joinery events, and
 * (with a dataverse section) golden-record changes and case progress written back to Dataverse.
 *
 *   joinery-crm --config FILE [--check-config]
 *
 * The configuration (docs/adapters.md section 8, "Connecting the CRM"):
 *
 *   hub: {endpoint: tcp://127.0.0.1:7600, adapter: crm, keys_dir: /etc/joinery/keys}
 *   log: {level: info}
 *   webhook:
 *     listen: "127.0.0.1:8081"    # behind the council's TLS proxy
 *     path: /webhook              # the path prefix webhooks are POSTed to
 *     key_header: x-joinery-key   # the header Dataverse sends the shared key in
 *     key_file: /etc/joinery/crm-webhook.key   # or key: "..." (one of the two)
 *     max_body_bytes: 262144
 *     answer_timeout_ms: 30000    # no CONFIRM by then: 503 with Retry-After
 *     max_waiting: 256
 *   nhs_number_attribute: jn_nhsnumber   # optional: the contact's NHS number column
 *   dataverse:                    # optional: the write-back; without it, inbound only
 *     base_url: https://leedscc.crm11.dynamics.com   # the org URL; + /api/data/v9.2/...
 *     token_file: /etc/joinery/dataverse.token       # or token: "..." (sent as Bearer)
 *     timeout_ms: 30000           # one attempt
 *     max_attempts: 5             # then the hub gets NACK retry and delivers it again later
 *     retry_min_ms: 500
 *     retry_max_ms: 60000
 *     subscription: crm-writeback
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when it cannot start, 2 for usage. */
#include "crm_inbound.h"
#include "crm_outbound.h"
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

/* One loop over both halves: the webhook server's descriptor and the Dataverse client's (the
 * write-back, when configured), waiting no longer than the server's or the client's next
 * timer. */
static int run_once(adapter_loop_t *loop, joinery_client_t *client, crm_inbound_t *in,
                    crm_outbound_t *out, int timeout_ms)
{
    char err[256];
    struct pollfd fds[2] = {{.fd = crm_inbound_fd(in), .events = POLLIN}};
    size_t n = 1, nout = 0;
    int t = crm_inbound_timeout_ms(in); /* MHD may have a request or an answer due now */
    if (t >= 0 && t < timeout_ms)
        timeout_ms = t;
    if (out != NULL) {
        nout = crm_outbound_fds(out, fds + 1, 1);
        n += nout;
        t = crm_outbound_timeout_ms(out);
        if (t >= 0 && t < timeout_ms)
            timeout_ms = t;
    }
    if (adapter_loop_run_once(loop, client, fds, n, timeout_ms, err, sizeof err) < 0) {
        adapter_log(ADAPTER_LOG_ERROR, "%s", err);
        return -1;
    }
    crm_inbound_handle(in);
    if (out != NULL)
        crm_outbound_handle(out, fds + 1, nout); /* settles what Dataverse answered */
    adapter_loop_drive(client); /* what was just published or settled goes out now */
    crm_inbound_flush(in);
    return 0;
}

static int run(adapter_loop_t *loop, joinery_client_t *client, crm_inbound_t *in,
               crm_outbound_t *out)
{
    while (!adapter_loop_stopping(loop)) {
        if (run_once(loop, client, in, out, 1000) != 0)
            return -1;
    }
    /* A clean stop: what the hub confirms in the next moments is still answered 200; the rest
     * gets 503 and Dataverse sends it again. Write-backs Dataverse answers meanwhile are settled;
     * the rest the hub delivers again to the next session. */
    int64_t deadline = (int64_t)time(NULL) * 1000 + DRAIN_MS;
    while (((crm_inbound_waiting(in) > 0 && joinery_unconfirmed(client) > 0) ||
            (out != NULL && crm_outbound_held(out) > 0)) &&
           (int64_t)time(NULL) * 1000 < deadline) {
        if (run_once(loop, client, in, out, 100) != 0)
            break;
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
    static const char *const sections[] = {"webhook", "nhs_number_attribute", "dataverse", NULL};
    char err[512];
    adapter_config_t *cfg = adapter_config_load(config, sections, err, sizeof err);
    crm_inbound_opts_t o;
    static crm_outbound_opts_t wo; /* configuration, read once; static for its 4 KiB token */
    int writeback = 0;
    if (cfg == NULL || crm_inbound_settings(cfg, &o, err, sizeof err) != 0 ||
        crm_outbound_settings(cfg, &wo, &writeback, err, sizeof err) != 0) {
        fprintf(stderr, "joinery-crm: %s\n", err);
        adapter_config_destroy(&cfg);
        return 1;
    }
    adapter_log_setup("joinery-crm", adapter_config_log_level(cfg));
    if (check) {
        printf("joinery-crm: %s is valid\n", config);
        adapter_config_destroy(&cfg);
        return 0;
    }
    const adapter_hub_t *hub = adapter_config_hub(cfg);
    int rc = 1;
    err[0] = '\0';
    joinery_client_t *client = NULL;
    crm_inbound_t *in = NULL;
    crm_outbound_t *out = NULL;
    adapter_loop_t *loop = adapter_loop_new(err, sizeof err); /* before the SDK's threads */
    if (loop == NULL)
        goto out;
    joinery_options_t jo = {
        .endpoint = hub->endpoint,
        .adapter = hub->adapter,
        .keys_dir = hub->keys_dir,
        .heartbeat_ms = hub->heartbeat_ms,
        .max_unconfirmed = (unsigned)o.max_waiting,
        .connect_timeout_ms = -1, /* webhooks wait for the hub (503 meanwhile); starting need not */
    };
    client = joinery_connect(&jo, err, sizeof err);
    if (client == NULL)
        goto out;
    in = crm_inbound_new(&o, client, err, sizeof err);
    if (in == NULL)
        goto out;
    if (writeback) {
        out = crm_outbound_new(&wo, client, err, sizeof err);
        if (out == NULL)
            goto out;
        adapter_log(ADAPTER_LOG_INFO, "writing back to Dataverse at %s (subscription %s)",
                    wo.base_url, wo.subscription ? wo.subscription : "crm-writeback");
    }
    adapter_log(ADAPTER_LOG_INFO,
                "ready: listening for webhooks on port %d at %s (key in %s), "
                "hub %s as %s",
                crm_inbound_port(in), o.path, o.key_header, hub->endpoint, hub->adapter);
    rc = run(loop, client, in, out) == 0 ? 0 : 1;
out:
    if (rc != 0 && err[0])
        adapter_log(ADAPTER_LOG_ERROR, "%s", err);
    /* The client first: closing reports unconfirmed events to the endpoint's callbacks. */
    joinery_close(&client);
    crm_outbound_destroy(&out); /* after the client: it settles nothing once stopping */
    crm_inbound_destroy(&in);
    adapter_loop_destroy(&loop);
    adapter_config_destroy(&cfg);
    return rc;
}
