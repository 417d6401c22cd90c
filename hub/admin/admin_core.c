/* admin_core.c - see admin_core.h. Everything here runs on the core thread,
 * on an admin request or once a second, never per event: the counters it
 * reads are the ones the hot path keeps anyway (plain integers in core_t and
 * sub_t). */
#include "admin/admin_core.h"

#include "admin/admin_metrics.h"
#include "admin/admin_proto.h"
#include "base/log.h"
#include "deliver.h"
#include "ingest.h"
#include "ingest_master.h"
#include "reload.h"

#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/protocol.pb-c.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ---- answering ---- */

static void reply(core_t *c, uint64_t id, int status, const char *body, size_t len)
{
    char code[4];
    snprintf(code, sizeof code, "%03d", status);
    if (zmq_send(c->admin, &id, sizeof id, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return; /* the admin thread is gone */
    zmq_send(c->admin, code, 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(c->admin, body, len, ZMQ_DONTWAIT);
}

/* Answers with J (taken: freed here). */
static void reply_json(core_t *c, uint64_t id, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        reply(c, id, status, text, strlen(text));
    else
        reply(c, id, 500, "{\"error\":\"out of memory\"}", 25);
    free(text);
    json_decref(j);
}

static void reply_error(core_t *c, uint64_t id, int status, const char *why)
{
    reply_json(c, id, status, json_pack("{ss}", "error", why));
}

/* ---- state ---- */

static bool adapter_connected(const core_t *c, size_t i)
{
    for (size_t k = 0; k < CORE_MAX_SESSIONS; k++)
        if (c->sessions[k].active && c->sessions[k].adapter_index == i)
            return true;
    return false;
}

/* Per second over the samples kept (up to CORE_RATE_SECONDS): [0] published, [1] delivered. */
static double adapter_rate(const core_t *c, size_t i, int which)
{
    const unsigned n = CORE_RATE_SECONDS + 1;
    const uint64_t(*r)[2] = c->rate_samples + i * n;
    unsigned newest = (c->rate_pos + n - 1) % n, oldest = c->rate_pos % n;
    if (r[oldest][which] > r[newest][which])
        return 0;
    return (double)(r[newest][which] - r[oldest][which]) / CORE_RATE_SECONDS;
}

static json_t *adapters_json(const core_t *c)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->cfg->nadapters; i++) {
        const adapter_stats_t *st = &c->adapter_stats[i];
        if (c->cfg->adapters[i].removed) /* a slot a reload emptied (config_keep_slots) */
            continue;
        json_array_append_new(
            a, json_pack("{ss sb sI sI sI sI sf sf}", "name", c->cfg->adapters[i].name, "connected",
                         adapter_connected(c, i), "last_seen_us", (json_int_t)st->last_seen_us,
                         "published", (json_int_t)st->published, "delivered",
                         (json_int_t)st->delivered, "rejected", (json_int_t)st->rejected,
                         "published_per_s", adapter_rate(c, i, 0), "delivered_per_s",
                         adapter_rate(c, i, 1)));
    }
    return a;
}

static json_t *subscription_json(core_t *c, sub_t *s)
{
    bool exact = true;
    uint64_t waiting = deliver_waiting(c, s, &exact);
    json_t *p = json_array();
    for (size_t k = 0; p && k < s->npatterns; k++)
        json_array_append_new(p, json_string(s->patterns[k]));
    json_t *last_retry =
        s->last_retry_seq == 0
            ? json_null()
            : json_pack("{sI sI ss}", "seq", (json_int_t)s->last_retry_seq, "at_us",
                        (json_int_t)s->last_retry_us, "reason", s->last_retry_reason);
    return json_pack(
        "{ss ss so sb sI sI sb sI sI sI sI sI sI sI so}", "adapter", s->adapter, "name", s->name,
        "patterns", p ? p : json_null(), "connected", core_session(c, s->session) != NULL,
        "acked_seq", (json_int_t)deliver_floor(s), "events_waiting", (json_int_t)waiting,
        "events_waiting_exact", exact, "in_flight", (json_int_t)hmap_count(s->inflight), "retrying",
        (json_int_t)deliver_retrying(s), "replays_waiting", (json_int_t)s->nreplays, "delivered",
        (json_int_t)s->delivered, "acked", (json_int_t)s->acked, "retries", (json_int_t)s->retries,
        "dead_lettered", (json_int_t)s->dead, "last_retry", last_retry ? last_retry : json_null());
}

static json_t *subscriptions_json(core_t *c)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->nsubs; i++)
        json_array_append_new(a, subscription_json(c, c->subs[i]));
    return a;
}

static json_t *status_json(core_t *c)
{
    char state[320];
    dbstate_describe(&c->db, c->now_us, state, sizeof state);
    return json_pack("{sb ss sI sI sI}", "database_up", c->db_up && c->db.health == DB_UP,
                     "database_state", state, "head_seq", (json_int_t)c->head_seq, "dead_letters",
                     (json_int_t)c->dead_letters, "rejected",
                     (json_int_t)(c->rejected + c->malformed));
}

/* ---- metrics ---- */

static const double latency_bounds[CORE_HIST_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
static const double size_bounds[CORE_HIST_BUCKETS - 1] = {1,   2,   5,   10,   25,  50,
                                                          100, 250, 500, 1000, 5000};

static void hist_observe(core_hist_t *h, const double *bounds, double v)
{
    size_t i = 0;
    while (i < CORE_HIST_BUCKETS - 1 && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void admin_core_commit_observed(core_t *c, int64_t latency_us, size_t events)
{
    hist_observe(&c->commit_latency, latency_bounds, (double)latency_us / 1e6);
    hist_observe(&c->batch_size, size_bounds, (double)events);
}

static void adapter_metrics(metrics_t *m, core_t *c)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"joinery_events_confirmed_total", "Events journaled and confirmed, by publishing adapter",
         offsetof(adapter_stats_t, published)},
        {"joinery_events_rejected_total", "Events refused with REJECTED since the hub started",
         offsetof(adapter_stats_t, rejected)},
        {"joinery_events_delivered_total", "Deliveries made to the adapter (retries included)",
         offsetof(adapter_stats_t, delivered)},
    };
    for (size_t f = 0; f < sizeof fams / sizeof *fams; f++) {
        metrics_family(m, fams[f].name, "counter", fams[f].help);
        for (size_t i = 0; i < c->cfg->nadapters; i++) {
            const char *l[] = {"adapter", c->cfg->adapters[i].name};
            uint64_t v = *(const uint64_t *)((const char *)&c->adapter_stats[i] + fams[f].off);
            metrics_sample(m, fams[f].name, l, 1, (double)v);
        }
    }
    metrics_family(m, "joinery_events_by_type_total", "counter",
                   "Events confirmed or rejected, by publishing adapter and event type");
    for (size_t i = 0; i < CORE_TYPE_SLOTS; i++) {
        const type_count_t *t = &c->types[i];
        if (!t->type || t->adapter >= c->cfg->nadapters)
            continue;
        const char *l[] = {
            "adapter", c->cfg->adapters[t->adapter].name, "type", t->type, "outcome", "confirmed"};
        if (t->confirmed)
            metrics_sample(m, "joinery_events_by_type_total", l, 3, (double)t->confirmed);
        l[5] = "rejected";
        if (t->rejected)
            metrics_sample(m, "joinery_events_by_type_total", l, 3, (double)t->rejected);
    }
    metrics_family(m, "joinery_events_by_type_untracked_total", "counter",
                   "Events not counted by type: more (adapter, type) pairs than the table holds");
    metrics_sample(m, "joinery_events_by_type_untracked_total", NULL, 0,
                   (double)c->types_untracked);
    metrics_family(m, "joinery_adapter_connected", "gauge", "1 if the adapter has a session");
    for (size_t i = 0; i < c->cfg->nadapters; i++) {
        const char *l[] = {"adapter", c->cfg->adapters[i].name};
        metrics_sample(m, "joinery_adapter_connected", l, 1, adapter_connected(c, i));
    }
}

static void subscription_metrics(metrics_t *m, core_t *c)
{
    static const char *const names[] = {
        "joinery_subscription_events_waiting",   "joinery_subscription_in_flight",
        "joinery_subscription_deliveries_total", "joinery_subscription_acks_total",
        "joinery_subscription_retries_total",    "joinery_subscription_dead_lettered_total"};
    static const char *const help[] = {
        "Events matching the subscription after its acked floor, not yet settled",
        "Deliveries awaiting ACK or NACK",
        "Deliveries made since the hub started",
        "Deliveries acknowledged since the hub started",
        "NACKs answered with a retry since the hub started",
        "Events dead-lettered since the hub started"};
    for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
        metrics_family(m, names[f], f < 2 ? "gauge" : "counter", help[f]);
        for (size_t i = 0; i < c->nsubs; i++) {
            sub_t *s = c->subs[i];
            const char *l[] = {"adapter", s->adapter, "subscription", s->name};
            bool exact;
            double v = f == 0   ? (double)deliver_waiting(c, s, &exact)
                       : f == 1 ? (double)hmap_count(s->inflight)
                       : f == 2 ? (double)s->delivered
                       : f == 3 ? (double)s->acked
                       : f == 4 ? (double)s->retries
                                : (double)s->dead;
            metrics_sample(m, names[f], l, 2, v);
        }
    }
}

static void gauge(metrics_t *m, const char *name, const char *type, const char *help, double v)
{
    metrics_family(m, name, type, help);
    metrics_sample(m, name, NULL, 0, v);
}

static void hub_metrics(metrics_t *m, core_t *c)
{
    gauge(m, "joinery_journal_head_seq", "gauge", "Highest committed journal sequence number",
          (double)c->head_seq);
    gauge(m, "joinery_dead_letters", "gauge",
          "Dead letters stored (read from the database at start)", (double)c->dead_letters);
    gauge(m, "joinery_dead_letters_replayed_total", "counter",
          "Dead letters replayed through the admin API since the hub started", (double)c->replayed);
    gauge(m, "joinery_dead_letters_discarded_total", "counter",
          "Dead letters discarded through the admin API since the hub started",
          (double)c->discarded);
    gauge(m, "joinery_events_refused", "gauge",
          "Refused input kept or counted (read from the database at start)",
          (double)(c->rejected + c->malformed));
    gauge(m, "joinery_database_up", "gauge", "1 if the database takes commits",
          c->db_up && c->db.health == DB_UP);
    gauge(m, "joinery_database_failed_commits_total", "counter",
          "Group commits the database refused since the hub started", (double)c->db.failures_total);
    gauge(m, "joinery_steward_queue", "gauge", "Pairs of person records awaiting a steward",
          c->master ? (double)master_steward_count(c->master) : 0);
    gauge(m, "joinery_golden_records", "gauge", "Golden person records",
          c->master ? (double)master_golden_count(c->master) : 0);
    metrics_family(m, "joinery_commit_latency_seconds", "histogram",
                   "Group commit latency, from hand-over to the store to its answer");
    metrics_histogram(m, "joinery_commit_latency_seconds", NULL, 0, latency_bounds,
                      CORE_HIST_BUCKETS - 1, c->commit_latency.counts, c->commit_latency.sum);
    metrics_family(m, "joinery_commit_batch_events", "histogram", "Events per group commit");
    metrics_histogram(m, "joinery_commit_batch_events", NULL, 0, size_bounds, CORE_HIST_BUCKETS - 1,
                      c->batch_size.counts, c->batch_size.sum);
}

static void reply_metrics(core_t *c, uint64_t id)
{
    metrics_t m = {0};
    adapter_metrics(&m, c);
    subscription_metrics(&m, c);
    hub_metrics(&m, c);
    ingest_master_metrics(c, &m);
    if (m.failed || !m.data)
        reply_error(c, id, 500, "out of memory");
    else
        reply(c, id, 200, m.data, m.len);
    metrics_free(&m);
}

/* ---- jobs: replay, discard, delete a subscription, replays settled ---- */

typedef enum { JOB_REPLAY, JOB_DISCARD, JOB_DELETE_SUB, JOB_SETTLED } job_kind_t;

typedef struct {
    store_job_t base; /* first: the store hands back this pointer */
    job_kind_t kind;
    uint64_t request;
    int64_t now_us;
    char who[65], adapter[65], name[65];
    char *ids;    /* replay: "{1,2}" */
    char *reason; /* discard */
    long long id, rows;
    store_replay_t *done; /* replay: what moved; settled: what to record */
    size_t ndone;
} admin_job_t;

static int job_run(store_job_t *j, PGconn *conn, char *err, size_t errlen)
{
    admin_job_t *a = (admin_job_t *)j;
    switch (a->kind) {
    case JOB_REPLAY:
        return store_replay_dead_letters(conn, a->ids, a->who, a->now_us, &a->done, &a->ndone, err,
                                         errlen);
    case JOB_DISCARD:
        return store_discard_dead_letter(conn, a->id, a->who, a->reason, a->now_us, &a->rows, err,
                                         errlen);
    case JOB_DELETE_SUB:
        return store_delete_subscription(conn, a->adapter, a->name, err, errlen);
    case JOB_SETTLED:
        for (size_t i = 0; i < a->ndone; i++)
            if (store_replay_settled(conn, a->done[i].adapter, a->done[i].subscription,
                                     a->done[i].seq, a->now_us, err, errlen) < 0)
                return -1;
        return 0;
    }
    return -1;
}

static void job_free(store_job_t *j)
{
    admin_job_t *a = (admin_job_t *)j;
    free(a->ids);
    free(a->reason);
    free(a->done);
    free(a);
}

static admin_job_t *job_new(core_t *c, job_kind_t kind, uint64_t request)
{
    admin_job_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->base.run = job_run;
    a->base.drop = job_free;
    a->kind = kind;
    a->request = request;
    a->now_us = c->now_us;
    return a;
}

/* Hands A to the store; on failure answers the request and frees A. */
static void job_submit(core_t *c, admin_job_t *a)
{
    if (!c->db_up || store_submit_job(c->store, &a->base) < 0) {
        if (a->request)
            reply_error(c, a->request, 503, "the database is unavailable; try again");
        job_free(&a->base);
        return;
    }
    if (a->request)
        c->admin_waiting = a->request;
}

static const char *json_text(json_t *args, const char *key)
{
    const char *s = json_string_value(json_object_get(args, key));
    return s ? s : "";
}

static void on_replay(core_t *c, uint64_t id, json_t *args)
{
    json_t *ids = json_object_get(args, "ids");
    size_t n = json_array_size(ids);
    admin_job_t *a = n && n <= ADMIN_MAX_REPLAY ? job_new(c, JOB_REPLAY, id) : NULL;
    char *lit = a ? malloc(n * 21 + 3) : NULL;
    if (!lit) {
        free(a);
        reply_error(c, id, n ? 500 : 400, n ? "out of memory" : "no ids");
        return;
    }
    size_t len = 0;
    lit[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(lit + len, 22, "%s%lld", i ? "," : "",
                                (long long)json_integer_value(json_array_get(ids, i)));
    lit[len++] = '}';
    lit[len] = '\0';
    a->ids = lit;
    snprintf(a->who, sizeof a->who, "%s", json_text(args, "who"));
    job_submit(c, a);
}

static void on_discard(core_t *c, uint64_t id, json_t *args)
{
    admin_job_t *a = job_new(c, JOB_DISCARD, id);
    if (!a || !(a->reason = strdup(json_text(args, "reason")))) {
        free(a);
        reply_error(c, id, 500, "out of memory");
        return;
    }
    a->id = (long long)json_integer_value(json_object_get(args, "id"));
    snprintf(a->who, sizeof a->who, "%s", json_text(args, "who"));
    job_submit(c, a);
}

static void on_delete_sub(core_t *c, uint64_t id, json_t *args)
{
    sub_t *s = deliver_sub_find(c, json_text(args, "adapter"), json_text(args, "name"));
    if (!s) {
        reply_error(c, id, 404, "no such subscription");
        return;
    }
    /* A live subscriber would go on ACKing a subscription that is gone. */
    if (core_session(c, s->session)) {
        reply_error(c, id, 409, "the subscription's adapter is connected to it; stop it first");
        return;
    }
    if (!s->patterns_saved) {
        reply_error(c, id, 409, "the subscription is being saved; try again in a second");
        return;
    }
    /* Forgotten in memory before its row is deleted: only when the delete
     * can be handed to the store (a failed delete brings it back at the
     * next start, and says so). */
    if (!c->db_up) {
        reply_error(c, id, 503, "the database is unavailable; try again");
        return;
    }
    admin_job_t *a = job_new(c, JOB_DELETE_SUB, id);
    if (!a) {
        reply_error(c, id, 500, "out of memory");
        return;
    }
    snprintf(a->adapter, sizeof a->adapter, "%s", s->adapter);
    snprintf(a->name, sizeof a->name, "%s", s->name);
    log_info("admin", "subscription %s/%s deleted by %s", s->adapter, s->name,
             json_text(args, "who"));
    deliver_sub_delete(c, s);
    job_submit(c, a);
}

/* ---- steward decisions ---- */

/* The decision as a PUBLISH of one steward.* envelope, from SOURCE; the caller frees it. */
static uint8_t *steward_publish(core_t *c, json_t *args, const char *source, const char *event_id,
                                size_t *len)
{
    char type[64];
    snprintf(type, sizeof type, "steward.%s", json_text(args, "action"));
    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.action = (char *)json_text(args, "action");
    d.master_id_a = (char *)json_text(args, "master_id_a");
    d.master_id_b = (char *)json_text(args, "master_id_b");
    d.reason = (char *)json_text(args, "reason");
    d.decided_by = (char *)json_text(args, "who");
    d.queue_id = (uint64_t)json_integer_value(json_object_get(args, "queue_id"));
    size_t dlen = joinery__v1__steward_decision__get_packed_size(&d);
    uint8_t *payload = malloc(dlen ? dlen : 1);
    if (!payload)
        return NULL;
    joinery__v1__steward_decision__pack(&d, payload);
    Joinery__V1__Envelope e = JOINERY__V1__ENVELOPE__INIT;
    e.event_id = (char *)event_id;
    e.type = type;
    e.source = (char *)source;
    e.occurred_at = c->now_us;
    e.payload_type = "joinery.v1.StewardDecision";
    e.payload.data = payload;
    e.payload.len = dlen;
    Joinery__V1__Envelope *events[1] = {&e};
    Joinery__V1__Publish p = JOINERY__V1__PUBLISH__INIT;
    p.n_events = 1;
    p.events = events;
    *len = joinery__v1__publish__get_packed_size(&p);
    uint8_t *buf = malloc(*len);
    if (buf)
        joinery__v1__publish__pack(&p, buf);
    free(payload);
    return buf;
}

/* What the core answered at once (a CONFIRM in the session's buffer): RETRY or REJECTED with
 * its reason; nothing there means the event waits for the next group commit. */
static void steward_answer(core_t *c, uint64_t id, const pb_buf_t *confirm, const char *source,
                           const char *event_id)
{
    Joinery__V1__Confirm *m =
        confirm->len ? joinery__v1__confirm__unpack(NULL, confirm->len, confirm->data) : NULL;
    const Joinery__V1__ConfirmEntry *e = m && m->n_entries ? m->entries[0] : NULL;
    if (!e)
        reply_json(c, id, 202, json_pack("{ss ss}", "event_id", event_id, "source", source));
    else if (e->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED)
        reply_error(c, id, 409, e->reason ? e->reason : "refused");
    else
        reply_error(c, id, 503, e->reason && *e->reason ? e->reason : "try again");
    if (m)
        joinery__v1__confirm__free_unpacked(m, NULL);
}

/* A steward's decision through the API goes the way a steward tool's does: a steward.* event
 * through ingest, applied by the master-data engine, journaled and audited. Its source is
 * "admin:<token name>", an internal publisher that may publish steward.* and nothing else;
 * it has no session, so its CONFIRM stays in a buffer of its own (read here for an immediate
 * refusal) and the outcome is read back from the database by the admin thread. */
static void on_steward(core_t *c, uint64_t id, json_t *args)
{
    if (!c->master) {
        reply_error(c, id, 409, "master data is not enabled on this hub (master_data:)");
        return;
    }
    char source[80], event_id[64];
    snprintf(source, sizeof source, "admin:%.64s", json_text(args, "who"));
    snprintf(event_id, sizeof event_id, "admin-%lld-%llu", (long long)c->now_us,
             (unsigned long long)id);
    char pattern[] = "steward.*";
    char *patterns[] = {pattern};
    config_adapter_t a = {.name = source, .publish = {patterns, 1}};
    /* The slot after the configured adapters is the one for publishers that are none of them. */
    session_t s = {.id = -1, .adapter = &a, .adapter_index = c->cfg->nadapters};
    size_t len = 0;
    uint8_t *body = steward_publish(c, args, source, event_id, &len);
    if (!body) {
        reply_error(c, id, 500, "out of memory");
        return;
    }
    ingest_publish(c, &s, body, len);
    free(body);
    log_info("admin", "steward.%s %s by %s", json_text(args, "action"), event_id,
             json_text(args, "who"));
    steward_answer(c, id, &s.confirm, source, event_id);
    pb_buf_free(&s.confirm);
}

static void replay_done(core_t *c, admin_job_t *a)
{
    json_t *moved = json_array();
    for (size_t i = 0; i < a->ndone; i++) {
        sub_t *s = deliver_sub_find(c, a->done[i].adapter, a->done[i].subscription);
        if (s && deliver_replay(c, s, a->done[i].seq) < 0)
            log_error("admin", "out of memory: replay of seq %llu for %s/%s waits for a restart",
                      (unsigned long long)a->done[i].seq, s->adapter, s->name);
        json_array_append_new(moved, json_integer(a->done[i].id));
        log_info("admin", "dead letter %lld (seq %llu for %s/%s) replayed by %s", a->done[i].id,
                 (unsigned long long)a->done[i].seq, a->done[i].adapter, a->done[i].subscription,
                 a->who);
    }
    c->replayed += a->ndone;
    c->dead_letters = c->dead_letters > a->ndone ? c->dead_letters - a->ndone : 0;
    reply_json(c, a->request, 200, json_pack("{so}", "replayed", moved));
}

/* A settled replay whose recording failed goes back to be recorded again
 * (not delivered again: it is settled). */
static void keep_done(core_t *c, sub_t *s, uint64_t seq)
{
    if (s->ndone == s->capdone) {
        size_t ncap = s->capdone ? s->capdone * 2 : 8;
        uint64_t *n = realloc(s->replays_done, ncap * sizeof *n);
        if (!n)
            return; /* at worst it is delivered again after a restart */
        s->replays_done = n;
        s->capdone = ncap;
    }
    s->replays_done[s->ndone++] = seq;
    c->replays_done = true;
}

static void job_done(core_t *c, admin_job_t *a)
{
    int rc = a->base.rc;
    if (a->kind == JOB_SETTLED) {
        c->admin_job_away = false;
        /* Not recorded: the rows stay unsettled and the event would be
         * delivered again after a restart; try again. */
        for (size_t i = 0; rc < 0 && i < a->ndone; i++) {
            sub_t *s = deliver_sub_find(c, a->done[i].adapter, a->done[i].subscription);
            if (s)
                keep_done(c, s, a->done[i].seq);
        }
        if (rc < 0) {
            log_warn("admin", "could not record settled replays (%s); trying again in 5 s",
                     a->base.error);
            c->admin_retry_us = c->now_us + 5000000;
        }
        return;
    }
    if (c->admin_waiting == a->request)
        c->admin_waiting = 0;
    if (rc < 0) {
        log_warn("admin", "admin request failed: %s", a->base.error);
        reply_error(c, a->request, 503, "the database did not complete the request; try again");
    } else if (a->kind == JOB_REPLAY) {
        replay_done(c, a);
    } else if (a->kind == JOB_DISCARD) {
        if (a->rows > 0) {
            c->discarded++;
            c->dead_letters = c->dead_letters ? c->dead_letters - 1 : 0;
            log_info("admin", "dead letter %lld discarded by %s: %s", a->id, a->who, a->reason);
            reply_json(c, a->request, 200, json_pack("{sI}", "discarded", (json_int_t)a->id));
        } else {
            reply_error(c, a->request, 404, "no such dead letter");
        }
    } else {
        reply_json(c, a->request, 200,
                   json_pack("{ss ss}", "deleted", a->adapter, "name", a->name));
    }
}

bool admin_core_job_done(core_t *c, store_job_t *job)
{
    if (job->run != job_run)
        return false;
    job_done(c, (admin_job_t *)job);
    job_free(job);
    return true;
}

/* Settled replays of every subscription into one job. */
static void record_settled(core_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nsubs; i++)
        n += c->subs[i]->ndone;
    admin_job_t *a = job_new(c, JOB_SETTLED, 0);
    if (a && !(a->done = calloc(n ? n : 1, sizeof *a->done))) {
        free(a);
        a = NULL;
    }
    if (!a)
        return; /* the next turn tries again */
    for (size_t i = 0; i < c->nsubs; i++) {
        sub_t *s = c->subs[i];
        for (size_t k = 0; k < s->ndone; k++) {
            store_replay_t *r = &a->done[a->ndone++];
            snprintf(r->adapter, sizeof r->adapter, "%s", s->adapter);
            snprintf(r->subscription, sizeof r->subscription, "%s", s->name);
            r->seq = s->replays_done[k];
        }
    }
    if (!c->db_up || store_submit_job(c->store, &a->base) < 0) {
        job_free(&a->base);
        return;
    }
    for (size_t i = 0; i < c->nsubs; i++)
        c->subs[i]->ndone = 0;
    c->replays_done = false;
    c->admin_job_away = true;
}

/* ---- the socket ---- */

int admin_core_open(core_t *c, char *err, size_t errlen)
{
    const size_t n = (size_t)(CORE_RATE_SECONDS + 1) * (c->cfg->nadapters + 1);
    c->rate_samples = calloc(n, sizeof *c->rate_samples);
    c->admin = zmq_socket(c->ctx, ZMQ_PAIR);
    int linger = 0;
    if (!c->rate_samples || !c->admin) {
        snprintf(err, errlen, "cannot create the admin API's socket");
        return -1;
    }
    zmq_setsockopt(c->admin, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(c->admin, ADMIN_INPROC) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", ADMIN_INPROC, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void admin_core_close(core_t *c)
{
    if (c->admin)
        zmq_close(c->admin);
    c->admin = NULL;
    free(c->rate_samples);
    c->rate_samples = NULL;
}

/* ADMIN_VERB_RELOAD: the admin thread loaded the file (or says why it could not); the
 * configuration it hands over is the core's from here. */
static void on_reload(core_t *c, uint64_t id, json_t *args)
{
    const char *who = json_string_value(json_object_get(args, "who"));
    const char *ptr = json_string_value(json_object_get(args, "config"));
    const char *why = json_string_value(json_object_get(args, "error"));
    char by[96];
    snprintf(by, sizeof by, "admin API, token %s", who ? who : "?");
    json_t *answer = NULL;
    int status;
    if (ptr) {
        uintptr_t p = (uintptr_t)strtoull(ptr, NULL, 16);
        status = reload_apply(c, (config_t *)p, by, core_now_us(), &answer);
    } else {
        status = reload_refused(c, by, why ? why : "the admin API sent no configuration", &answer);
    }
    reply_json(c, id, status, answer);
}

static void dispatch(core_t *c, uint64_t id, const char *verb, json_t *args)
{
    if (strcmp(verb, ADMIN_VERB_RELOAD) == 0) {
        on_reload(c, id, args); /* first: it carries a configuration to take, and waits on no job */
    } else if (c->admin_waiting) {
        reply_error(c, id, 503, "another operation is still in progress; try again");
    } else if (strcmp(verb, ADMIN_VERB_STATUS) == 0) {
        reply_json(c, id, 200, status_json(c));
    } else if (strcmp(verb, ADMIN_VERB_ADAPTERS) == 0) {
        reply_json(c, id, 200, json_pack("{so}", "adapters", adapters_json(c)));
    } else if (strcmp(verb, ADMIN_VERB_SUBSCRIPTIONS) == 0) {
        reply_json(c, id, 200, subscriptions_json(c));
    } else if (strcmp(verb, ADMIN_VERB_METRICS) == 0) {
        reply_metrics(c, id);
    } else if (strcmp(verb, ADMIN_VERB_REPLAY) == 0) {
        on_replay(c, id, args);
    } else if (strcmp(verb, ADMIN_VERB_DISCARD) == 0) {
        on_discard(c, id, args);
    } else if (strcmp(verb, ADMIN_VERB_DELETE_SUB) == 0) {
        on_delete_sub(c, id, args);
    } else if (strcmp(verb, ADMIN_VERB_STEWARD) == 0) {
        on_steward(c, id, args);
    } else {
        reply_error(c, id, 400, "unknown request");
    }
}

void admin_core_request(core_t *c)
{
    zmq_msg_t f[3];
    int n = 0, more = 1;
    for (int i = 0; i < 3; i++)
        zmq_msg_init(&f[i]);
    while (more && n < 3) {
        if (zmq_msg_recv(&f[n], c->admin, ZMQ_DONTWAIT) < 0)
            break;
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) { /* the admin thread never sends more; drain if it did */
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, c->admin, ZMQ_DONTWAIT) < 0)
            more = 0;
        else
            more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    if (n == 3 && zmq_msg_size(&f[0]) == sizeof(uint64_t)) {
        uint64_t id;
        memcpy(&id, zmq_msg_data(&f[0]), sizeof id);
        char verb[32];
        size_t vlen = zmq_msg_size(&f[1]) < sizeof verb - 1 ? zmq_msg_size(&f[1]) : sizeof verb - 1;
        memcpy(verb, zmq_msg_data(&f[1]), vlen);
        verb[vlen] = '\0';
        json_t *args = zmq_msg_size(&f[2])
                           ? json_loadb(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), 0, NULL)
                           : NULL;
        dispatch(c, id, verb, args);
        json_decref(args);
    }
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&f[i]);
}

static void sample_rates(core_t *c)
{
    const unsigned n = CORE_RATE_SECONDS + 1;
    for (size_t i = 0; i < c->cfg->nadapters; i++) {
        uint64_t *r = c->rate_samples[i * n + c->rate_pos % n];
        r[0] = c->adapter_stats[i].published;
        r[1] = c->adapter_stats[i].delivered;
    }
    c->rate_pos = (c->rate_pos + 1) % n;
}

void admin_core_tick(core_t *c)
{
    if (!c->admin)
        return;
    if (c->replays_done && !c->admin_job_away && c->now_us >= c->admin_retry_us)
        record_settled(c);
    if (c->now_us >= c->rate_next_us) {
        sample_rates(c);
        c->rate_next_us = c->now_us + 1000000;
    }
}
