/* ingest.c - what happens on PUBLISH: each envelope is checked, de-duplicated
 * and added to the pending group commit; CONFIRMs go out when the store
 * returns the batch. Refusals are kept (rejected_event) and confirmed after
 * they commit too, so a sender told REJECTED can rely on its bytes being kept.
 *
 * The envelope is parsed in place (pbwire) and journaled as received, with
 * the hub's received_at (and source, if the publisher left it empty)
 * appended: protobuf's last-value-wins rule makes the appended fields count. */
#include "ingest.h"

#include "base/log.h"
#include "base/route.h"
#include "base/text.h"
#include "ingest_master.h"

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/crm.pb-c.h>
#include <joinery/v1/finance.pb-c.h>
#include <joinery/v1/health.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <joinery/v1/protocol.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_MAX_EVENTS 100000 /* beyond this, publishers are asked to retry */
#define PENDING_MAX_BYTES (256u << 20)
#define PENDING_MAX_REJECTS 10000
#define MAX_EVENT_ID 128
#define MAX_RECORD_ID 256
#define MAX_FUTURE_US (24LL * 3600 * 1000000) /* clocks drift; a day ahead is an error */
#define DAY_US (24LL * 3600 * 1000000)
#define DROP_LOG_US (60LL * 1000000) /* refusals not kept are logged this often at most */
#define REASON_MAX 512

static const ProtobufCMessageDescriptor *const payload_types[] = {
    &joinery__v1__person__descriptor,
    &joinery__v1__person_changed__descriptor,
    &joinery__v1__person_correction__descriptor,
    &joinery__v1__person_merged__descriptor,
    &joinery__v1__address__descriptor,
    &joinery__v1__address_changed__descriptor,
    &joinery__v1__case_changed__descriptor,
    &joinery__v1__field_correction__descriptor,
    &joinery__v1__field_proposal__descriptor,
    &joinery__v1__referral__descriptor,
    &joinery__v1__case__descriptor,
    &joinery__v1__assessment__descriptor,
    &joinery__v1__care_package__descriptor,
    &joinery__v1__erp_customer__descriptor,
    &joinery__v1__erp_supplier__descriptor,
    &joinery__v1__care_charge_invoice__descriptor,
    &joinery__v1__crm_contact__descriptor,
    &joinery__v1__service_request__descriptor,
    &joinery__v1__complaint__descriptor,
    &joinery__v1__admission__descriptor,
    &joinery__v1__discharge__descriptor,
    &joinery__v1__discharge_planned__descriptor,
    &joinery__v1__encounter__descriptor,
};

static const ProtobufCMessageDescriptor *payload_descriptor(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof payload_types / sizeof payload_types[0]; i++)
        if (strlen(payload_types[i]->name) == len && memcmp(payload_types[i]->name, name, len) == 0)
            return payload_types[i];
    return NULL;
}

/* Entity events feed the master-data engine, so their payload must be a
 * known message that decodes; other events are carried as opaque bytes. */
static bool is_entity_type(const char *t, size_t len)
{
    static const char *const entities[] = {"person.", "address.", "case."};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(entities[i]);
        if (len > n && memcmp(t, entities[i], n) == 0)
            return true;
    }
    return false;
}

static bool printable_id(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* Valid UTF-8 without control characters: these become PostgreSQL text (the
 * journal's entity_key), where one invalid byte fails the whole batch. */
static bool clean_utf8(const char *s, size_t len)
{
    return text_valid(s, len);
}

/* A namespace of the master-data engine: the message that is its record, and the types the
 * engine takes it in (a name here the engine does not handle is never suggested). */
typedef struct {
    const char *prefix;
    const ProtobufCMessageDescriptor *record;
    const char *types[2];
} md_namespace_t;

static const md_namespace_t md_namespaces[] = {
    {"person.", &joinery__v1__person__descriptor, {"person.updated", "person.created"}},
    {"address.", &joinery__v1__address__descriptor, {"address.updated", "address.created"}},
    {"case.", &joinery__v1__case__descriptor, {"case.updated", "case.created"}},
};

/* Levenshtein distance between two short strings; over 64 bytes counts as far apart. */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static bool engine_handles(const char *t, size_t len)
{
    return master_handles(t, len) || entity_handles(t, len);
}

/* The engine decides by type: a namespace's record (a Person in person.*, and so on) under a
 * type it does not take would be journaled and routed but never reach the golden record, which
 * is almost always a typing slip. Other payloads in the namespace (a Referral in
 * case.referral.created, a Discharge in case.discharge_notified) are ordinary events. */
static int check_engine_type(const pb_envelope_t *v, const ProtobufCMessageDescriptor *d, char *why,
                             size_t why_len)
{
    const md_namespace_t *ns = NULL;
    for (size_t i = 0; i < sizeof md_namespaces / sizeof md_namespaces[0]; i++)
        if (md_namespaces[i].record == d && v->type_len > strlen(md_namespaces[i].prefix) &&
            memcmp(v->type, md_namespaces[i].prefix, strlen(md_namespaces[i].prefix)) == 0)
            ns = &md_namespaces[i];
    if (ns == NULL || engine_handles(v->type, v->type_len))
        return 0;
    const char *near = NULL;
    size_t near_d = SIZE_MAX;
    for (size_t i = 0; i < 2; i++) {
        size_t dist = edit_distance(v->type, v->type_len, ns->types[i]);
        if (engine_handles(ns->types[i], strlen(ns->types[i])) && dist < near_d) {
            near = ns->types[i];
            near_d = dist;
        }
    }
    int plen = (int)strlen(ns->prefix) - 1;
    snprintf(why, why_len,
             "unknown event type '%.*s' in the %.*s namespace: did you mean %s? (the master-data "
             "engine takes a %s only as %s or %s)",
             (int)(v->type_len > 80 ? 80 : v->type_len), v->type, plen, ns->prefix,
             near ? near : ns->types[0], d->name, ns->types[0], ns->types[1]);
    return -1;
}

static int check_payload(pbarena_t *arena, const pb_envelope_t *v, char *why, size_t why_len)
{
    if (!is_entity_type(v->type, v->type_len))
        return 0;
    const ProtobufCMessageDescriptor *d = payload_descriptor(v->payload_type, v->payload_type_len);
    if (!d) {
        snprintf(why, why_len,
                 "entity event '%.*s' needs payload_type naming a Joinery message such as "
                 "joinery.v1.Person; got '%.*s'",
                 (int)v->type_len, v->type,
                 (int)(v->payload_type_len > 80 ? 80 : v->payload_type_len),
                 v->payload_type ? v->payload_type : "");
        return -1;
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, pbarena_allocator(arena), v->payload_len, v->payload);
    pbarena_reset(arena); /* only whether it decodes matters here */
    if (!m) {
        snprintf(why, why_len, "payload does not decode as %s", d->name);
        return -1;
    }
    return check_engine_type(v, d, why, why_len);
}

/* Everything about an envelope that can be wrong, with a reason a person can act on. */
static int check_envelope(core_t *c, const session_t *s, const pb_envelope_t *v, char *why,
                          size_t why_len)
{
    const config_adapter_t *a = s->adapter;
    if (!printable_id(v->event_id, v->event_id_len, MAX_EVENT_ID))
        return snprintf(why, why_len,
                        "event_id must be 1-%d printable ASCII characters (the SDK makes ULIDs)",
                        MAX_EVENT_ID),
               -1;
    if (!route_type_valid(v->type, v->type_len))
        return snprintf(why, why_len,
                        "type '%.*s' is invalid: use dot-separated segments of a-z 0-9 _ - such "
                        "as person.updated",
                        (int)(v->type_len > 80 ? 80 : v->type_len), v->type ? v->type : ""),
               -1;
    if (v->source_len &&
        (v->source_len != strlen(a->name) || memcmp(v->source, a->name, v->source_len) != 0))
        return snprintf(why, why_len, "source '%.*s' does not match the connected adapter '%s'",
                        (int)(v->source_len > 64 ? 64 : v->source_len), v->source, a->name),
               -1;
    if (v->source_record_id_len > MAX_RECORD_ID ||
        !clean_utf8(v->source_record_id, v->source_record_id_len))
        return snprintf(why, why_len, "source_record_id must be UTF-8 text of at most %d bytes",
                        MAX_RECORD_ID),
               -1;
    if (v->master_id_len > MAX_EVENT_ID || !clean_utf8(v->master_id, v->master_id_len))
        return snprintf(why, why_len, "master_id must be UTF-8 text of at most %d bytes",
                        MAX_EVENT_ID),
               -1;
    if (v->occurred_at <= 0 || v->occurred_at > c->now_us + MAX_FUTURE_US)
        return snprintf(why, why_len,
                        "occurred_at must be set to UTC microseconds since 1970 and not be more "
                        "than a day ahead; got %lld",
                        (long long)v->occurred_at),
               -1;
    if (!route_match_any(a->publish.items, a->publish.count, v->type, v->type_len))
        return snprintf(why, why_len,
                        "adapter '%s' may not publish '%.*s'; add a matching pattern to its "
                        "'publish' list in the hub configuration",
                        a->name, (int)v->type_len, v->type),
               -1;
    return check_payload(c->arena, v, why, why_len);
}

/* ---- refused input: what is kept of it (config refusals:) ---- */

static void refusals_roll(core_t *c)
{
    int64_t day = c->now_us / DAY_US;
    if (day == c->refusals_day)
        return;
    c->refusals_day = day;
    c->refused_bytes_day = c->refused_rows_day = 0;
    for (size_t i = 0; i <= c->cfg->nadapters; i++)
        c->adapter_stats[i].refused_bytes = c->adapter_stats[i].refused_rows = 0;
}

static uint64_t room(uint64_t cap, uint64_t used)
{
    return used < cap ? cap - used : 0;
}

static void refusal_dropped(core_t *c, size_t slot)
{
    adapter_stats_t *a = &c->adapter_stats[slot];
    a->refusals_dropped++;
    a->refusals_unsaved++;
    a->refusals_unlogged++;
}

/* Whether a refusal of LEN bytes from adapter SLOT (nadapters: '') gets a
 * row, and how many of its bytes: the first keep_bytes_per_event, while the
 * day's byte quotas last; then a row with no bytes (its size and hash say
 * what it was) while the row quotas last; then nothing but a count. */
static bool refusal_quota(core_t *c, size_t slot, size_t len, size_t *keep)
{
    const config_refusals_t *q = &c->cfg->refusals;
    adapter_stats_t *a = &c->adapter_stats[slot];
    refusals_roll(c);
    if (a->refused_rows >= q->keep_rows_per_adapter_per_day ||
        c->refused_rows_day >= q->keep_rows_per_day) {
        refusal_dropped(c, slot);
        return false;
    }
    uint64_t k = len < q->keep_bytes_per_event ? len : q->keep_bytes_per_event;
    uint64_t r = room(q->keep_bytes_per_adapter_per_day, a->refused_bytes);
    k = k < r ? k : r;
    r = room(q->keep_bytes_per_day, c->refused_bytes_day);
    k = k < r ? k : r;
    a->refused_rows++;
    c->refused_rows_day++;
    a->refused_bytes += k;
    c->refused_bytes_day += k;
    *keep = (size_t)k;
    return true;
}

void ingest_keep_refused(core_t *c, const char *adapter, const char *reason, const void *bytes,
                         size_t len)
{
    c->malformed++;
    /* Only a configured name is an adapter's: the router may pass one that a
     * peer claimed, which is kept (as text) in the reason, not as its name. */
    const config_adapter_t *a = adapter && *adapter ? config_adapter(c->cfg, adapter) : NULL;
    size_t slot = a ? (size_t)(a - c->cfg->adapters) : c->cfg->nadapters;
    size_t keep;
    if (c->pending->nrejects >= PENDING_MAX_REJECTS) {
        refusal_dropped(c, slot); /* a flood of garbage must not exhaust memory */
        return;
    }
    if (!refusal_quota(c, slot, len, &keep))
        return;
    char why[REASON_MAX], claimed[65 * 4];
    if (!a && adapter && *adapter) {
        text_clean(claimed, sizeof claimed, adapter, strlen(adapter));
        snprintf(why, sizeof why, "claimed adapter '%s': %s", claimed, reason ? reason : "");
        reason = why;
    }
    jbatch_add_reject(c->pending, a ? a->name : "", "", "", reason, bytes, len, keep, c->now_us);
}

static void log_dropped(core_t *c)
{
    if (c->now_us < c->refusals_next_log_us)
        return;
    bool any = false;
    for (size_t i = 0; i <= c->cfg->nadapters; i++) {
        adapter_stats_t *a = &c->adapter_stats[i];
        if (!a->refusals_unlogged)
            continue;
        log_warn("ingest",
                 "refused input from adapter '%s' not kept: %llu more (%llu since the hub "
                 "started); its quota (refusals: in the configuration) is used up for today",
                 i < c->cfg->nadapters ? c->cfg->adapters[i].name : "",
                 (unsigned long long)a->refusals_unlogged, (unsigned long long)a->refusals_dropped);
        a->refusals_unlogged = 0;
        any = true;
    }
    if (any)
        c->refusals_next_log_us = c->now_us + DROP_LOG_US;
}

/* The store job that expires old refusals, saves the counts of those not
 * kept and reads back the day's quota use (so a restart does not renew it).
 * One allocation: the job, then per adapter its name, dropped, bytes, rows. */
typedef struct {
    store_job_t job; /* first: the store hands back this pointer */
    store_refusals_t r;
    int64_t day;
} refusals_job_t;

static int refusals_run(store_job_t *job, PGconn *conn, char *err, size_t errlen)
{
    return store_refusals_maintain(conn, &((refusals_job_t *)job)->r, err, errlen);
}

static void refusals_drop(store_job_t *job)
{
    free(job);
}

static refusals_job_t *refusals_job_new(core_t *c)
{
    size_t n = c->cfg->nadapters + 1;
    refusals_job_t *j = calloc(1, sizeof *j + n * (sizeof(char *) + 3 * sizeof(uint64_t)));
    if (!j)
        return NULL;
    const char **names = (const char **)(j + 1);
    uint64_t *dropped = (uint64_t *)(names + n);
    for (size_t i = 0; i < n; i++) {
        names[i] = i < c->cfg->nadapters ? c->cfg->adapters[i].name : "";
        dropped[i] = c->adapter_stats[i].refusals_unsaved;
    }
    int64_t keep_us = (int64_t)c->cfg->refusals.keep_days * DAY_US;
    j->day = c->now_us / DAY_US;
    j->job = (store_job_t){.run = refusals_run, .drop = refusals_drop};
    j->r = (store_refusals_t){.expire_before_us = c->now_us - keep_us,
                              .day_start_us = j->day * DAY_US,
                              .n = n,
                              .names = names,
                              .dropped = dropped,
                              .bytes = dropped + n,
                              .rows = dropped + 2 * n};
    return j;
}

void ingest_tick(core_t *c)
{
    log_dropped(c);
    if (c->refusals_job_away || c->stopping || !c->db_up || c->now_us < c->refusals_next_job_us)
        return;
    refusals_job_t *j = refusals_job_new(c);
    if (!j)
        return;
    if (store_submit_job(c->store, &j->job) < 0) {
        refusals_drop(&j->job); /* the pipe is full: next turn */
        return;
    }
    /* The job owns these counts now; they come back if it fails. */
    for (size_t i = 0; i <= c->cfg->nadapters; i++)
        c->adapter_stats[i].refusals_unsaved = 0;
    c->refusals_job_away = true;
    c->refusals_next_job_us = c->now_us + (int64_t)c->cfg->refusals.expire_every_s * 1000000;
}

bool ingest_job_done(core_t *c, store_job_t *job)
{
    if (job->run != refusals_run)
        return false;
    refusals_job_t *j = (refusals_job_t *)job;
    c->refusals_job_away = false;
    if (!j->r.dropped_saved)
        for (size_t i = 0; i < j->r.n; i++)
            c->adapter_stats[i].refusals_unsaved += j->r.dropped[i];
    if (job->rc < 0) {
        log_warn("ingest", "expiring refused input failed (trying again later): %s", job->error);
    } else {
        if (j->r.deleted)
            log_info("ingest", "expired %lld refused message(s) older than %u days", j->r.deleted,
                     c->cfg->refusals.keep_days);
        /* What the table holds of today counts too: after a restart, the
         * quota goes on from there. Rows still on their way are in the
         * core's counts, not the table's, so the larger is right. */
        refusals_roll(c);
        for (size_t i = 0; j->day == c->refusals_day && i < j->r.n; i++) {
            adapter_stats_t *a = &c->adapter_stats[i];
            if (j->r.bytes[i] > a->refused_bytes) {
                c->refused_bytes_day += j->r.bytes[i] - a->refused_bytes;
                a->refused_bytes = j->r.bytes[i];
            }
            if (j->r.rows[i] > a->refused_rows) {
                c->refused_rows_day += j->r.rows[i] - a->refused_rows;
                a->refused_rows = j->r.rows[i];
            }
        }
    }
    refusals_drop(job);
    return true;
}

/* A CONFIRM for when the commit that holds what it answers comes back. */
static int owe(owed_list_t *l, int32_t session, const char *event_id, size_t len, int status,
               uint64_t seq, const char *reason, const char *master_id)
{
    if (len >= sizeof l->v[0].event_id)
        return -1;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        owed_t *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = ncap;
    }
    owed_t *o = &l->v[l->n++];
    o->session = session;
    o->status = (uint8_t)status;
    o->seq = seq;
    memcpy(o->event_id, event_id, len);
    o->event_id[len] = '\0';
    text_clean(o->reason, sizeof o->reason, reason, reason ? strlen(reason) : 0);
    size_t mlen = master_id ? strlen(master_id) : 0;
    if (mlen >= sizeof o->master_id)
        mlen = 0;
    memcpy(o->master_id, master_id ? master_id : "", mlen);
    o->master_id[mlen] = '\0';
    return 0;
}

/* Answers REJECTED once the refusal's row has committed. Everything the
 * sender said is written as text (base/text.h) before it goes into the row or
 * back to the sender: an invalid byte would fail the batch's insert, or the
 * sender's parse of the CONFIRM, with every other entry in it. */
static void refuse(core_t *c, session_t *s, const pb_envelope_t *v, const char *why,
                   const uint8_t *env, size_t len)
{
    char event_id[MAX_EVENT_ID + 1], type[129], reason[REASON_MAX];
    /* The answer names the event as its sender did (so it can find it), cut
     * to the longest valid id, unless that would not parse; the row's copy
     * is escaped by jbatch_add_reject. */
    size_t idl = v->event_id_len > MAX_EVENT_ID ? MAX_EVENT_ID : v->event_id_len;
    if (text_utf8(v->event_id, idl)) {
        memcpy(event_id, v->event_id ? v->event_id : "", idl);
        event_id[idl] = '\0';
    } else {
        idl = text_clean(event_id, sizeof event_id, v->event_id, idl);
    }
    text_clean(type, sizeof type, v->type, v->type_len > 128 ? 128 : v->type_len);
    text_clean(reason, sizeof reason, why, strlen(why));
    if (!c->db_up || c->pending->nrejects >= PENDING_MAX_REJECTS) {
        core_confirm(c, s, event_id, idl, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0,
                     "the hub cannot keep refused events right now; resend later");
        return;
    }
    c->adapter_stats[s->adapter_index].rejected++;
    c->rejected++;
    /* A type that is not one is counted as such, not as what the sender wrote. */
    if (route_type_valid(type, strlen(type)))
        core_count_type(c, s->adapter_index, type, strlen(type), false);
    else
        core_count_type(c, s->adapter_index, "(invalid)", 9, false);
    size_t keep;
    if (!refusal_quota(c, s->adapter_index, len, &keep)) {
        /* Nothing to wait for: the refusal is final, and nothing is kept. */
        char full[REASON_MAX + 96];
        snprintf(full, sizeof full,
                 "%s (not kept: the hub's quota of refused input is used up "
                 "for today)",
                 reason);
        core_confirm(c, s, event_id, idl, JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED, 0, full);
        return;
    }
    if (jbatch_add_reject(c->pending, s->adapter->name, event_id, type, reason, env, len, keep,
                          c->now_us) < 0) {
        core_confirm(c, s, event_id, idl, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0,
                     "hub out of memory");
        return;
    }
    owe(&c->pending_owed, s->id, event_id, idl, JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED, 0,
        reason, NULL);
}

/* The key that orders delivery: events with the same key are delivered in
 * journal order. */
static size_t entity_key(const session_t *s, const pb_envelope_t *v, const char *master_id,
                         char *out, size_t cap)
{
    int n;
    if (master_id && *master_id)
        n = snprintf(out, cap, "m:%s", master_id);
    else if (v->master_id_len)
        n = snprintf(out, cap, "m:%.*s", (int)v->master_id_len, v->master_id);
    else if (v->source_record_id_len)
        n = snprintf(out, cap, "r:%s/%.*s", s->adapter->name, (int)v->source_record_id_len,
                     v->source_record_id);
    else
        n = snprintf(out, cap, "e:%s/%.*s", s->adapter->name, (int)v->event_id_len, v->event_id);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* The fields the hub adds to the journaled envelope. */
static size_t hub_fields(const core_t *c, const session_t *s, const pb_envelope_t *v,
                         const char *master_id, uint8_t *buf, size_t cap)
{
    pb_buf_t b = {buf, 0, cap};
    pb_put_varint_field(&b, 7, (uint64_t)c->now_us);
    if (!v->source_len)
        pb_put_bytes_field(&b, 3, s->adapter->name, strlen(s->adapter->name));
    if (master_id && *master_id)
        pb_put_bytes_field(&b, 5, master_id, strlen(master_id));
    return b.len;
}

/* Runs the master-data engine for an entity event. 1: go on and journal it
 * (*master_id set); 0: answered already (refused, or retry). */
static int apply_master(core_t *c, session_t *s, const pb_envelope_t *v, const uint8_t *env,
                        size_t len, master_result_t *res, char *note, size_t note_len)
{
    if (c->master_stale) {
        core_confirm(c, s, v->event_id, v->event_id_len, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY,
                     0, "master data is being reloaded after a failed commit; resend shortly");
        return 0;
    }
    char event_id[MAX_EVENT_ID + 1], type[129], local[MAX_RECORD_ID + 1], ptype[129], why[512];
    char named[MAX_EVENT_ID + 1];
    snprintf(named, sizeof named, "%.*s", (int)v->master_id_len, v->master_id ? v->master_id : "");
    snprintf(event_id, sizeof event_id, "%.*s", (int)v->event_id_len, v->event_id);
    snprintf(type, sizeof type, "%.*s", (int)v->type_len, v->type);
    snprintf(local, sizeof local, "%.*s", (int)v->source_record_id_len,
             v->source_record_id ? v->source_record_id : "");
    snprintf(ptype, sizeof ptype, "%.*s",
             (int)(v->payload_type_len > 128 ? 128 : v->payload_type_len),
             v->payload_type ? v->payload_type : "");
    ingest_master_in_t in = {.source = s->adapter->name,
                             .event_id = event_id,
                             .type = type,
                             .local_id = local,
                             .payload_type = ptype,
                             .master_id = named,
                             .base_version = v->base_version,
                             .occurred_at_us = v->occurred_at,
                             .payload = v->payload,
                             .payload_len = v->payload_len};
    if (ingest_master_apply(c, &in, res, why, sizeof why) < 0) {
        log_warn("ingest", "master-data engine could not apply %s: %s", event_id, why);
        core_confirm(c, s, v->event_id, v->event_id_len, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY,
                     0, "the master-data engine could not apply this event now; resend");
        return 0;
    }
    if (res->outcome == MASTER_REFUSED) {
        refuse(c, s, v, why, env, len);
        return 0;
    }
    /* A Person kept without some of its fields: its CONFIRM says which (docs/master-data.md). */
    if (strncmp(why, "kept; ", 6) == 0 && note_len > 0) {
        size_t n = strnlen(why, note_len - 1); /* the owed CONFIRM keeps 255 bytes of it */
        memcpy(note, why, n);
        note[n] = '\0';
    }
    return 1;
}

static bool has_prefix(const pb_envelope_t *v, const char *prefix)
{
    size_t n = strlen(prefix);
    return v->type_len >= n && memcmp(v->type, prefix, n) == 0;
}

/* The golden record a re-sent person, address or case event's local id resolves to now, so
 * that an adapter resending after an outage learns it from the DUPLICATE as it would have from
 * the OK. */
static const char *duplicate_master(const core_t *c, const session_t *s, const pb_envelope_t *v,
                                    char master_id[MASTER_ID_MAX])
{
    char local[256];
    if (c->master == NULL || v->source_record_id_len == 0 ||
        v->source_record_id_len >= sizeof local)
        return NULL;
    memcpy(local, v->source_record_id, v->source_record_id_len);
    local[v->source_record_id_len] = '\0';
    const char *found = NULL;
    if (has_prefix(v, "person."))
        found = master_lookup(c->master, s->adapter->name, local, master_id);
    else if (has_prefix(v, "address.") || has_prefix(v, "case."))
        found = entity_lookup(c->entity, has_prefix(v, "case.") ? ENTITY_CASE : ENTITY_ADDRESS,
                              s->adapter->name, local, master_id);
    return found ? master_id : NULL;
}

/* A health.* event names its patient by the trust's own id (source_record_id), which the
 * trust's person.* events linked to a golden person: that person goes on the event as its
 * master_id (docs/protocol.md section 5), so a subscriber such as social care knows whom a
 * discharge is about without holding the trust's ids. The cross-reference is in memory: no
 * query on this path. An event whose sender set a master_id keeps it. */
static void patient_master(const core_t *c, const session_t *s, const pb_envelope_t *v,
                           char master_id[MASTER_ID_MAX])
{
    char local[256];
    if (c->master == NULL || v->master_id_len != 0 || !has_prefix(v, "health.") ||
        v->source_record_id_len == 0 || v->source_record_id_len >= sizeof local)
        return;
    memcpy(local, v->source_record_id, v->source_record_id_len);
    local[v->source_record_id_len] = '\0';
    if (master_lookup(c->master, s->adapter->name, local, master_id) == NULL)
        master_id[0] = '\0';
}

static void confirm_duplicate(core_t *c, session_t *s, const pb_envelope_t *v, uint64_t seq)
{
    char mid[MASTER_ID_MAX];
    const char *master = duplicate_master(c, s, v, mid);
    if (!(seq & DEDUP_PENDING)) {
        if (master)
            core_confirm_master(c, s, v->event_id, v->event_id_len,
                                JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE, seq, master,
                                strlen(master));
        else
            core_confirm(c, s, v->event_id, v->event_id_len,
                         JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE, seq, NULL);
        return;
    }
    /* The original is still on its way to the journal: answer when it lands.
     * It is in the pending batch unless a commit is in flight and holds it;
     * then the answer waits in the core's bookkeeping of that commit, not in
     * the batch, which is the store's while it is away. */
    seq &= ~DEDUP_PENDING;
    owed_list_t *owed = &c->pending_owed;
    if ((c->pending->n == 0 || seq < c->pending->e[0].seq) && c->inflight.away)
        owed = &c->inflight.owed;
    owe(owed, s->id, v->event_id, v->event_id_len, JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE,
        seq, NULL, master);
}

static bool pending_full(const core_t *c)
{
    return c->pending->n >= PENDING_MAX_EVENTS || c->pending->data.len >= PENDING_MAX_BYTES;
}

/* Notes a transient event for deliver_transients: ENV stays in the message. */
static int note_transient(core_t *c, const session_t *s, const pb_envelope_t *v, const uint8_t *env,
                          size_t len)
{
    if (c->ntransient == c->captransient) {
        size_t ncap = c->captransient ? c->captransient * 2 : 256;
        transient_t *nt = realloc(c->transient, ncap * sizeof *nt);
        if (!nt)
            return -1;
        c->transient = nt;
        c->captransient = ncap;
    }
    transient_t *t = &c->transient[c->ntransient++];
    t->type = v->type;
    t->type_len = (uint32_t)v->type_len;
    t->env = env;
    t->env_len = (uint32_t)len;
    t->extra_len = (uint16_t)hub_fields(c, s, v, NULL, t->extra, sizeof t->extra);
    return 0;
}

static void ingest_one(core_t *c, session_t *s, const uint8_t *env, size_t len)
{
    pb_envelope_t v;
    char why[512];
    if (pb_envelope_parse(env, len, &v, why, sizeof why) < 0) {
        ingest_keep_refused(c, s->adapter->name, why, env, len);
        core_send_error(c, s->rid, s->rid_len, JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME, "PUBLISH",
                        "%s; it was kept but cannot be confirmed by event_id", why);
        return;
    }
    if (check_envelope(c, s, &v, why, sizeof why) < 0) {
        refuse(c, s, &v, why, env, len);
        return;
    }
    const char *retry = c->stopping       ? "the hub is shutting down; resend to the next hub"
                        : !c->db_up       ? "the journal database is unavailable; resend later"
                        : pending_full(c) ? "the hub is busy; resend shortly"
                                          : NULL;
    dedup_key_t key =
        dedup_key(s->adapter->name, strlen(s->adapter->name), v.event_id, v.event_id_len);
    uint64_t seen;
    if (dedup_get(c->dedup, key, &seen)) {
        confirm_duplicate(c, s, &v, seen);
        return;
    }
    if (route_match_any(c->cfg->transient.items, c->cfg->transient.count, v.type, v.type_len)) {
        /* Transient: never journaled, confirmed at once, and routed as soon
         * as the router has dispatched this message (c->transient). */
        if (note_transient(c, s, &v, env, len) < 0) {
            core_confirm(c, s, v.event_id, v.event_id_len,
                         JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0, "hub out of memory");
            return;
        }
        core_confirm(c, s, v.event_id, v.event_id_len, 0, 0, NULL);
        return;
    }
    if (retry) {
        core_confirm(c, s, v.event_id, v.event_id_len, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY,
                     0, retry);
        return;
    }
    master_result_t res = {0};
    char note[256] = "";
    bool mastered = (c->master && master_handles(v.type, v.type_len)) ||
                    (c->entity && entity_handles(v.type, v.type_len));
    if (mastered && !apply_master(c, s, &v, env, len, &res, note, sizeof note))
        return;
    if (!mastered)
        patient_master(c, s, &v, res.master_id);
    uint8_t extra[320];
    size_t nextra = hub_fields(c, s, &v, res.master_id, extra, sizeof extra);
    char ek[600];
    size_t eklen = entity_key(s, &v, res.master_id, ek, sizeof ek);
    uint64_t seq = c->next_seq;
    jentry_t *e =
        jbatch_add(c->pending, seq, v.type, v.type_len, s->adapter->name, strlen(s->adapter->name),
                   v.event_id, v.event_id_len, ek, eklen, env, len, c->now_us);
    if (!e || jbatch_extend_last(c->pending, extra, nextra) < 0) {
        core_confirm(c, s, v.event_id, v.event_id_len, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY,
                     0, "hub out of memory");
        return;
    }
    e->session = s->id;
    /* With a note, the CONFIRM is owed instead (it carries the reason); the entry's own is not
     * sent. The owed list is answered with the same commit, RETRY if it fails. */
    if (note[0] != '\0' &&
        owe(&c->pending_owed, s->id, v.event_id, v.event_id_len,
            JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK, seq, note, res.master_id) == 0)
        e->session = -1;
    /* What the systems hear of an entity event is the engine's answer, in
     * their own ids; the raw input is for operators' eyes. */
    if (mastered)
        jbatch_set_target(c->pending, JENTRY_TARGET_OPERATORS, JENTRY_OPERATORS_NAME,
                          strlen(JENTRY_OPERATORS_NAME));
    c->next_seq++;
    dedup_put(c->dedup, key, seq | DEDUP_PENDING);
    if (mastered && ingest_master_commit_derived(c, v.event_id, v.event_id_len) < 0) {
        /* The engine has moved on; its effects cannot be journaled. */
        log_error("ingest", "could not journal the master-data events caused by seq %llu",
                  (unsigned long long)seq);
        ingest_master_stale(c);
    }
}

void ingest_publish(core_t *c, session_t *s, const uint8_t *body, size_t len)
{
    pb_reader_t r = {body, body + len};
    pb_field_t f;
    size_t count = 0;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1)
        count += f.field == 1 && f.wire == PB_LEN;
    if (rc < 0 || count > c->cfg->max_batch) {
        char why[160];
        if (rc < 0)
            snprintf(why, sizeof why, "PUBLISH body is not a valid Publish message");
        else
            snprintf(why, sizeof why, "PUBLISH carries %zu envelopes; the limit is %u", count,
                     c->cfg->max_batch);
        ingest_keep_refused(c, s->adapter->name, why, body, len);
        core_send_error(c, s->rid, s->rid_len, JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME, "PUBLISH",
                        "%s; nothing in it was accepted", why);
        return;
    }
    if (count == 0) {
        /* Well-formed but wrong: there is nothing to confirm, so without an
         * ERROR the sender would hear nothing at all. */
        core_send_error(c, s->rid, s->rid_len, JOINERY__V1__ERROR_CODE__ERROR_BAD_REQUEST,
                        "PUBLISH", "PUBLISH carries no envelopes; send 1 to %u in 'events'",
                        c->cfg->max_batch);
        return;
    }
    r.p = body;
    while (pb_next(&r, &f) == 1)
        if (f.field == 1 && f.wire == PB_LEN)
            ingest_one(c, s, f.ptr, f.len);
}

static void confirm_entry(core_t *c, const jbatch_t *b, const jentry_t *e, int status, uint64_t seq,
                          const char *reason)
{
    session_t *s = core_session(c, e->session);
    if (s)
        core_confirm(c, s, jentry_event_id(b, e), e->event_id_len, status, seq, reason);
}

/* Sends the CONFIRMs OWED for a commit that came back, and empties it. */
static void confirm_owed(core_t *c, owed_list_t *owed, bool failed)
{
    for (size_t i = 0; i < owed->n; i++) {
        const owed_t *k = &owed->v[i];
        session_t *s = core_session(c, k->session);
        if (!s)
            continue;
        if (failed)
            core_confirm(c, s, k->event_id, strlen(k->event_id),
                         JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0,
                         "not kept: the journal commit failed; resend");
        else if (k->master_id[0] != '\0') {
            core_confirm_master_note(c, s, k->event_id, strlen(k->event_id), k->status, k->seq,
                                     k->master_id, strlen(k->master_id), k->reason);
            if (k->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK)
                c->adapter_stats[s->adapter_index].published++; /* a kept event with a note */
        } else
            core_confirm(c, s, k->event_id, strlen(k->event_id), k->status, k->seq, k->reason);
    }
    owed->n = 0;
}

void ingest_committed(core_t *c, jbatch_t *b, owed_list_t *owed)
{
    bool any = false;
    for (size_t i = 0; i < b->n; i++) {
        jentry_t *e = &b->e[i];
        dedup_key_t key =
            dedup_key(jentry_source(b, e), e->source_len, jentry_event_id(b, e), e->event_id_len);
        if (e->state == JE_DUPLICATE) {
            dedup_put(c->dedup, key, e->dup_seq);
            confirm_entry(c, b, e, JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE, e->dup_seq,
                          NULL);
            continue;
        }
        any = true;
        dedup_put(c->dedup, key, e->seq);
        session_t *s = core_session(c, e->session);
        if (s) {
            /* An entity event's ordering key is its golden record: "m:<master id>". */
            const char *ek = jentry_entity_key(b, e);
            if (e->entity_key_len > 2 && ek[0] == 'm' && ek[1] == ':')
                core_confirm_master(c, s, jentry_event_id(b, e), e->event_id_len, 0, e->seq, ek + 2,
                                    e->entity_key_len - 2u);
            else
                core_confirm(c, s, jentry_event_id(b, e), e->event_id_len, 0, e->seq, NULL);
            c->adapter_stats[s->adapter_index].published++;
            core_count_type(c, s->adapter_index, jentry_type(b, e), e->type_len, true);
        }
        if (e->seq > c->head_seq)
            c->head_seq = e->seq;
    }
    confirm_owed(c, owed, false);
    /* The engine's rows are in the database now; the window keeps a batch
     * for its events only, and a quarter of a million events' worth of rows
     * would be memory held for nothing (and fresh memory for every batch). */
    jbatch_truncate_sql(b, 0);
    if (any)
        window_push(c->window, b);
}

void ingest_failed(core_t *c, jbatch_t *b, owed_list_t *owed)
{
    char reason[320];
    snprintf(reason, sizeof reason, "not journaled (%s); resend", b->error);
    for (size_t i = 0; i < b->n; i++) {
        jentry_t *e = &b->e[i];
        dedup_del(c->dedup, dedup_key(jentry_source(b, e), e->source_len, jentry_event_id(b, e),
                                      e->event_id_len));
        confirm_entry(c, b, e, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0, reason);
    }
    confirm_owed(c, owed, true);
    /* Dead letters were settled in memory already: they must reach the table. */
    jbatch_take_dead(c->pending, b);
    if (b->nsql && c->master) {
        /* The engine's memory is ahead of the database, and the pending batch
         * was decided on top of it: refuse that too (RETRY) and reload. */
        ingest_master_stale(c);
        jbatch_t *pending = c->pending;
        c->pending = jbatch_new(JB_COMMIT);
        if (!c->pending) {
            c->pending = pending; /* out of memory: keep going with what we have */
            return;
        }
        jbatch_take_dead(c->pending, pending);
        for (size_t i = 0; i < pending->ncursors; i++)
            jbatch_add_cursor(c->pending, pending->cursors[i].adapter,
                              pending->cursors[i].subscription, pending->cursors[i].acked_seq,
                              pending->cursors[i].patterns, pending->cursors[i].npatterns);
        snprintf(pending->error, sizeof pending->error, "an earlier commit failed");
        jbatch_truncate_sql(pending, 0); /* its rows came from the stale engine: drop them */
        ingest_failed(c, pending, &c->pending_owed);
        jbatch_release(&pending);
    }
}
