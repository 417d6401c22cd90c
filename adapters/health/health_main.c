/* health_main.c - joinery-health: an NHS trust's HL7 v2 feed (ADT over MLLP) as Joinery events.
 *
 *   joinery-health --config FILE [--check-config]
 *
 * The configuration (docs/adapters.md section 6, "Running joinery-health"):
 *
 *   hub: {endpoint: tcp://127.0.0.1:7600, adapter: health, keys_dir: /etc/joinery/keys}
 *   log: {level: info}
 *   mllp: {listen: "127.0.0.1:2575", max_frame_bytes: 1048576, max_connections: 256, window: 64}
 *   trust: {ods_code: RR8}
 *   unmapped: accept            # or reject: what ORU, SIU and other unmapped types get
 *   refused_dir: /var/lib/joinery-health/refused   # optional: refused messages kept whole
 *   fhir: {listen: "127.0.0.1:8080", data_dir: /var/lib/joinery-health/fhir}  # optional
 *   outbound: {endpoint: "10.1.2.3:2576"}   # optional: person.changed/merged to the trust
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when it cannot start, 2 for usage. */
#include "health_inbound.h"
#include "health_fhir.h"
#include "health_outbound.h"
#include "hl7_map.h"
#include "common/adapter_config.h"
#include "common/adapter_log.h"
#include "common/adapter_loop.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNTERS_EVERY_S 60
#define DRAIN_MS 5000 /* at a stop, how long unconfirmed events may still be answered */

typedef struct {
    health_inbound_opts_t in;
    health_fhir_opts_t fhir;
    const adapter_hub_t *hub;
    health_outbound_opts_t out;
    int outbound; /* an outbound section was given */
} settings_t;

static int read_settings(const adapter_config_t *cfg, settings_t *s, char *err, size_t errlen)
{
    static const char *const mllp_keys[] = {"listen", "max_frame_bytes", "max_connections",
                                            "window", NULL};
    static const char *const trust_keys[] = {"ods_code", NULL};
    static const char *const unmapped[] = {"accept", "reject", NULL};
    unsigned long frame, conns, window;
    int um;
    if (adapter_config_keys(cfg, "mllp", mllp_keys, err, errlen) != 0 ||
        adapter_config_keys(cfg, "trust", trust_keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "mllp.listen", "127.0.0.1:2575", &s->in.listen, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "mllp.max_frame_bytes", 1024, 64UL << 20, 1UL << 20, &frame, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "mllp.max_connections", 1, 4096, 256, &conns, err, errlen) != 0 ||
        adapter_config_uint(cfg, "mllp.window", 1, 256, 64, &window, err, errlen) != 0 ||
        adapter_config_string(cfg, "trust.ods_code", NULL, &s->in.trust_ods, err, errlen) != 0 ||
        adapter_config_choice(cfg, "unmapped", unmapped, 0, &um, err, errlen) != 0 ||
        adapter_config_string(cfg, "refused_dir", NULL, &s->in.refused_dir, err, errlen) != 0 ||
        health_fhir_settings(cfg, &s->fhir, err, errlen) != 0)
        return -1;
    if (s->in.trust_ods == NULL) {
        (void)snprintf(err, errlen,
                       "'trust.ods_code' is required: the trust's ODS code (e.g. RR8), which "
                       "names its patients' ids and its events");
        return -1;
    }
    for (const char *p = s->in.trust_ods; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) || p - s->in.trust_ods >= 10) {
            (void)snprintf(err, errlen,
                           "'trust.ods_code' is '%s'; an ODS code is 3 to 10 capital letters and "
                           "digits",
                           s->in.trust_ods);
            return -1;
        }
    }
    s->in.max_frame = frame;
    s->in.max_connections = conns;
    s->in.window = window;
    s->in.unmapped = um == 0 ? HL7_UNMAPPED_ACCEPT : HL7_UNMAPPED_REJECT;
    s->hub = adapter_config_hub(cfg);
    return health_outbound_config(cfg, s->in.trust_ods, &s->out, &s->outbound, err, errlen);
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s --config FILE [--check-config]\n", prog);
    return 2;
}

/* The loop: wait, let the SDK answer, read and publish, send the ACKs that are due. */
static int run(adapter_loop_t *loop, joinery_client_t *client, health_inbound_t *in,
               health_fhir_t *fhir, health_outbound_t *out, size_t maxfds)
{
    struct pollfd *fds = calloc(maxfds, sizeof *fds);
    if (fds == NULL) {
        adapter_log(ADAPTER_LOG_ERROR, "out of memory");
        return -1;
    }
    char err[256];
    time_t last = time(NULL);
    int rc = 0;
    while (!adapter_loop_stopping(loop)) {
        /* the listener and its connections, the FHIR endpoint (-1 when off: ignored), the
         * outbound connection */
        size_t n = health_inbound_fds(in, fds, maxfds - 2), nin = n;
        fds[n++] = (struct pollfd){.fd = health_fhir_fd(fhir), .events = POLLIN};
        size_t nout = n;
        int wait = out ? health_outbound_timeout_ms(out) : -1;
        wait = wait < 0 || wait > 1000 ? 1000 : wait;
        int fw = health_fhir_timeout_ms(fhir); /* a FHIR request or answer due now */
        wait = fw >= 0 && fw < wait ? fw : wait;
        n += out ? health_outbound_fds(out, fds + n, 1) : 0;
        if (adapter_loop_run_once(loop, client, fds, n, wait, err, sizeof err) < 0) {
            adapter_log(ADAPTER_LOG_ERROR, "%s", err);
            rc = -1;
            break;
        }
        health_inbound_handle(in, fds, nin);
        health_fhir_handle(fhir);
        if (out)
            health_outbound_handle(out, fds + nout, n - nout);
        adapter_loop_drive(client); /* what was just published goes out now */
        health_inbound_flush(in);
        health_fhir_flush(fhir);
        if (time(NULL) - last >= COUNTERS_EVERY_S) {
            last = time(NULL);
            health_inbound_log_counters(in, 0);
        }
    }
    /* A clean stop: no new messages; what the hub confirms in the next moments is still
     * answered, the rest gets no ACK and the trust sends it again. */
    health_inbound_quiesce(in);
    int64_t deadline = (int64_t)time(NULL) * 1000 + DRAIN_MS;
    while (health_inbound_unanswered(in) > 0 && joinery_unconfirmed(client) > 0 &&
           (int64_t)time(NULL) * 1000 < deadline) {
        size_t n = health_inbound_fds(in, fds, maxfds);
        if (adapter_loop_run_once(loop, client, fds, n, 100, err, sizeof err) < 0)
            break;
        health_inbound_flush(in);
    }
    health_inbound_flush(in);
    free(fds);
    return rc;
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
    static const char *const sections[] = {"mllp", "trust",    "unmapped", "refused_dir",
                                           "fhir", "outbound", NULL};
    char err[512];
    adapter_config_t *cfg = adapter_config_load(config, sections, err, sizeof err);
    settings_t s = {0};
    if (cfg == NULL || read_settings(cfg, &s, err, sizeof err) != 0) {
        fprintf(stderr, "joinery-health: %s\n", err);
        adapter_config_destroy(&cfg);
        return 1;
    }
    adapter_log_setup("joinery-health", adapter_config_log_level(cfg));
    if (check) {
        printf("joinery-health: %s is valid\n", config);
        adapter_config_destroy(&cfg);
        return 0;
    }
    int rc = 1;
    err[0] = '\0';
    joinery_client_t *client = NULL;
    health_inbound_t *in = NULL;
    health_fhir_t *fhir = NULL;
    health_outbound_t *outb = NULL;
    adapter_loop_t *loop = adapter_loop_new(err, sizeof err); /* before the SDK's threads */
    if (loop == NULL)
        goto out;
    joinery_options_t jo = {
        .endpoint = s.hub->endpoint,
        .adapter = s.hub->adapter,
        .keys_dir = s.hub->keys_dir,
        .heartbeat_ms = s.hub->heartbeat_ms,
        .max_unconfirmed =
            (unsigned)(health_inbound_max_events(&s.in) + health_fhir_max_events(&s.fhir)),
        .connect_timeout_ms = -1, /* trusts' messages wait for the hub; starting need not */
    };
    client = joinery_connect(&jo, err, sizeof err);
    if (client == NULL)
        goto out;
    in = health_inbound_new(&s.in, client, err, sizeof err);
    if (in == NULL)
        goto out;
    if (s.fhir.listen != NULL && (fhir = health_fhir_new(&s.fhir, client, err, sizeof err)) == NULL)
        goto out;
    if (s.outbound && (outb = health_outbound_new(&s.out, client, err, sizeof err)) == NULL)
        goto out;
    adapter_log(ADAPTER_LOG_INFO,
                "ready: listening for MLLP on port %d (trust %s, unmapped types %s), hub %s as %s",
                health_inbound_port(in), s.in.trust_ods,
                s.in.unmapped == HL7_UNMAPPED_ACCEPT ? "accepted" : "refused", s.hub->endpoint,
                s.hub->adapter);
    if (outb)
        adapter_log(ADAPTER_LOG_INFO, "outbound: person.changed and person.merged to %s",
                    s.out.endpoint);
    rc = run(loop, client, in, fhir, outb, s.in.max_connections + 3) == 0 ? 0 : 1;
    health_inbound_log_counters(in, 1);
out:
    if (rc != 0 && err[0])
        adapter_log(ADAPTER_LOG_ERROR, "%s", err);
    /* The client first: closing reports unconfirmed events to the listener's callbacks. */
    joinery_close(&client);
    health_inbound_destroy(&in);
    health_fhir_destroy(&fhir);
    health_outbound_destroy(&outb); /* what it held unsettled the hub delivers again */
    adapter_loop_destroy(&loop);
    adapter_config_destroy(&cfg);
    return rc;
}
