/* partner_core.c - see partner_core.h. The rows of a report go into the
 * pending batch before its ACK moves the subscription's floor, and the floor
 * is queued into that same batch at once: a disclosure row is never
 * committed after the cursor that says the event is done. */
#include "partner/partner_core.h"

#include "base/log.h"
#include "deliver.h"
#include "partner/partner.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ACK_CHUNK 256

static const row_desc_t DISCLOSURE_ROW = {"partner_disclosure",
                                          10,
                                          {{"at", ROW_INT8},
                                           {"partner", ROW_TEXT},
                                           {"agreement", ROW_TEXT},
                                           {"purpose", ROW_TEXT},
                                           {"master_id", ROW_TEXT},
                                           {"event_id", ROW_TEXT},
                                           {"event_type", ROW_TEXT},
                                           {"seq", ROW_INT8},
                                           {"fields", ROW_TEXT},
                                           {"withheld", ROW_TEXT}}};

static const row_desc_t REFUSED_ROW = {"partner_refused",
                                       6,
                                       {{"at", ROW_INT8},
                                        {"partner", ROW_TEXT},
                                        {"topic", ROW_TEXT},
                                        {"kafka_partition", ROW_INT4},
                                        {"kafka_offset", ROW_INT8},
                                        {"reason", ROW_TEXT}}};

/* A report whose rows went into BATCH, kept until that batch commits. */
typedef struct kept {
    partner_report_t *r;
    const jbatch_t *batch;
    struct kept *next;
} kept_t;

typedef struct partner_core {
    partner_t *threads;
    kept_t *kept;
} partner_core_t;

int partner_core_start(core_t *c, char *err, size_t errlen)
{
    if (c->cfg->npartners == 0)
        return 0;
    /* Loopback only, port chosen by the kernel; Curve and ZAP apply as on
     * the adapters' endpoint, with the keys main made for the partners. */
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_bind(c->router, "tcp://127.0.0.1:*") < 0 ||
        zmq_getsockopt(c->router, ZMQ_LAST_ENDPOINT, endpoint, &len) < 0) {
        snprintf(err, errlen, "cannot bind the partners' endpoint: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if ((c->partner = calloc(1, sizeof *c->partner)) == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    c->partner->threads = partner_new(c->ctx, c->cfg, endpoint, err, errlen);
    if (!c->partner->threads)
        return -1;
    log_info("partner", "%zu partner(s) linked through %s", c->cfg->npartners, endpoint);
    return 0;
}

void *partner_core_socket(core_t *c)
{
    return c->partner && c->partner->threads ? partner_socket(c->partner->threads) : NULL;
}

static session_t *partner_session(core_t *c, const config_partner_t *p)
{
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (c->sessions[i].active && c->sessions[i].adapter &&
            strcmp(c->sessions[i].adapter->name, p->adapter) == 0)
            return &c->sessions[i];
    return NULL;
}

static void add_disclosure(core_t *c, const config_partner_t *p, const partner_disclosure_t *d)
{
    row_val_t v[10] = {row_int(d->at_us),
                       row_text(p->name),
                       row_text(p->agreement),
                       row_text(p->purpose),
                       row_text(d->master_id),
                       row_text(d->event_id),
                       row_text(d->type),
                       row_int((int64_t)d->seq),
                       d->shared ? row_text(d->fields) : row_null(),
                       d->shared ? row_null() : row_text(d->reason)};
    if (jbatch_add_row(c->pending, &DISCLOSURE_ROW, v) < 0)
        log_error("partner", "out of memory keeping a disclosure of event %s", d->event_id);
}

static void add_refusal(core_t *c, const config_partner_t *p, const partner_refusal_t *r)
{
    row_val_t v[6] = {row_int(r->at_us),     row_text(p->name),  row_text(r->topic),
                      row_int(r->partition), row_int(r->offset), row_text(r->reason)};
    if (jbatch_add_row(c->pending, &REFUSED_ROW, v) < 0)
        log_error("partner", "out of memory keeping a refused record of %s", r->topic);
}

/* ACKs the report's seqs as the partner's session, a chunk at a time. */
static void ack(core_t *c, session_t *s, const partner_report_t *r)
{
    uint64_t seqs[ACK_CHUNK];
    uint8_t buf[ACK_CHUNK * 11 + 64];
    size_t n = r->nd + r->nseqs;
    for (size_t i = 0; i < n;) {
        Joinery__V1__Ack a = JOINERY__V1__ACK__INIT;
        a.subscription = (char *)"kafka";
        a.seqs = seqs;
        for (; i < n && a.n_seqs < ACK_CHUNK; i++)
            seqs[a.n_seqs++] = i < r->nd ? r->d[i].seq : r->seqs[i - r->nd];
        deliver_ack(c, s, buf, joinery__v1__ack__pack(&a, buf));
    }
}

/* Consent as the golden record holds it now, for each master id of the
 * question (following merges); no record, or no consent for the purpose,
 * is no. Hash lookups in memory: no query, no allocation. */
static void answer(core_t *c, partner_report_t *r)
{
    char key[96], final[MASTER_ID_MAX];
    snprintf(key, sizeof key, "consent.%s", r->partner->purpose);
    for (size_t i = 0; i < r->nq; i++) {
        const char *v = NULL;
        if (c->master && r->ids[i][0] && master_final_id(c->master, r->ids[i], final) == 0)
            v = master_value(c->master, final, key, NULL);
        r->granted[i] = v && strcmp(v, "granted") == 0;
    }
}

static void add_rows(core_t *c, const partner_report_t *r)
{
    if (r->partner->mirror)
        return; /* the journal mirror discloses nothing to anyone: no rows */
    for (size_t i = 0; i < r->nd; i++)
        add_disclosure(c, r->partner, &r->d[i]);
    for (size_t i = 0; i < r->nr; i++)
        add_refusal(c, r->partner, &r->r[i]);
}

/* Keeps R (rows only) until the pending batch it went into commits. */
static void keep(core_t *c, partner_report_t **rp)
{
    kept_t *k = malloc(sizeof *k);
    if (!k) {
        partner_report_free(rp); /* its rows are in the batch; only a retry would lack them */
        return;
    }
    k->r = *rp;
    k->batch = c->pending;
    k->next = c->partner->kept;
    c->partner->kept = k;
    *rp = NULL;
}

void partner_core_receive(core_t *c)
{
    partner_report_t *r;
    bool any = false;
    partner_t *p = c->partner ? c->partner->threads : NULL;
    while (p && (r = partner_receive(p)) != NULL) {
        add_rows(c, r);
        /* A session gone meanwhile released these deliveries: they come
         * again (and are disclosed again) on the next session. */
        session_t *s = partner_session(c, r->partner);
        if (s && (r->nd || r->nseqs))
            ack(c, s, r);
        any = true;
        if (r->held) { /* a question carries no rows (partner.c's ask) */
            answer(c, r);
            partner_answer(p, &r);
        } else if ((r->nd || r->nr) && !r->partner->mirror) {
            keep(c, &r);
        } else {
            partner_report_free(&r);
        }
    }
    if (any)
        deliver_queue_cursors(c);
}

void partner_core_committed(core_t *c, const jbatch_t *b)
{
    if (!c->partner)
        return;
    for (kept_t **k = &c->partner->kept; *k;) {
        if ((*k)->batch != b) {
            k = &(*k)->next;
            continue;
        }
        kept_t *done = *k;
        *k = done->next;
        partner_report_free(&done->r);
        free(done);
    }
}

/* Every kept report not in the pending batch was in the failed one (or in a
 * pending batch ingest_failed threw away with it). */
void partner_core_failed(core_t *c)
{
    for (kept_t *k = c->partner ? c->partner->kept : NULL; k; k = k->next) {
        if (k->batch == c->pending)
            continue;
        add_rows(c, k->r);
        k->batch = c->pending;
    }
}

void partner_core_stop(core_t *c)
{
    if (!c->partner)
        return;
    partner_destroy(&c->partner->threads);
    while (c->partner->kept) {
        kept_t *k = c->partner->kept;
        c->partner->kept = k->next;
        partner_report_free(&k->r);
        free(k);
    }
    free(c->partner);
    c->partner = NULL;
}
