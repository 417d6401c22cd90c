/* engine_ctx.c - one event in the master-data engine (contract in engine.h): its context,
 * refusals, new master ids, and everything it hands to the sink — the golden, history,
 * cross-reference and audit rows, and the derived messages, each addressed to a system in its
 * own ids. The same for every kind of entity; the descriptor says the tables and packs the
 * messages. */
#include "master/engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context ------------------------------------------------------------------------------ */

static void vsay(md_ctx_t *c, const char *fmt, va_list ap)
{
    if (c->why != NULL && c->why_len > 0)
        (void)vsnprintf(c->why, c->why_len, fmt, ap);
}

int md_say(md_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(c, fmt, ap);
    va_end(ap);
    return -1;
}

int md_refused(md_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(c, fmt, ap);
    va_end(ap);
    c->res->outcome = MASTER_REFUSED;
    return 0;
}

int md_broken(md_ctx_t *c)
{
    c->e->broken = true;
    return md_say(c, "%s", c->e->words->oom);
}

void md_use_kind(md_ctx_t *c, int kind)
{
    c->k = &c->e->kinds[kind];
    c->d = c->k->d;
}

int md_begin(md_ctx_t *c, engine_t *e, const md_words_t *words, const master_event_t *ev,
             master_sink_t *sink, master_result_t *res, char *why, size_t why_len,
             int (*accept)(md_ctx_t *c))
{
    *c = (md_ctx_t){.e = e, .ev = ev, .sink = sink, .res = res, .why = why, .why_len = why_len};
    if (res == NULL)
        c->res = res = &c->spare;
    memset(res, 0, sizeof *res);
    res->outcome = MASTER_APPLIED;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (e == NULL || ev == NULL || sink == NULL || sink->sql == NULL || sink->emit == NULL ||
        ev->type == NULL)
        return md_say(c, "%s", words->apply);
    if (e->broken)
        return md_say(c, "%s", words->lost);
    if (accept != NULL && accept(c) != 1)
        return 0;
    if (ev->source == NULL || ev->source[0] == '\0')
        return md_refused(c, "the event has no source system");
    c->src = md_system_id(e, ev->source, true);
    if (c->src < 0)
        return md_say(c, "too many distinct source systems");
    c->now = ev->received_at_us > 0 ? ev->received_at_us : ev->occurred_at_us;
    c->occurred = ev->occurred_at_us > 0 ? ev->occurred_at_us : c->now;
    return 1;
}

/* Ids ------------------------------------------------------------------------------------ */

int md_new_id(md_ctx_t *c, char out[MASTER_ID_MAX])
{
    engine_t *e = c->e;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (e->id_fn != NULL) {
            if (e->id_fn(e->id_ctx, c->now, out, MASTER_ID_MAX) != 0 || out[0] == '\0' ||
                memchr(out, '\0', MASTER_ID_MAX) == NULL)
                return md_say(c, "the master id generator failed");
        } else {
            master_ulid_next(&e->ulid, c->d->prefix, c->now, out);
        }
        if (md_golden(e, out) == NULL)
            return 0;
    }
    return md_say(c, "the master id generator repeats ids");
}

/* Numbers ------------------------------------------------------------------------------------ */

/* NULL (SQL NULL, JSON null) for "no score". Seventeen digits, so a score read back by a load
 * is the score that was written. */
const char *md_num_d(char *buf, double v)
{
    _Static_assert(MD_NUM_LEN >= MATCH_G17_LEN, "a score's text fits");
    return match_g17(v, buf);
}

/* md_num_d, remembering the last value: a score may be written twice per event (its audit row,
 * and its xref row as text for a sink that takes statements only). */
const char *md_num_d_again(engine_t *e, char *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (e->num_text[0] != '\0' && bits == e->num_bits) {
        memcpy(buf, e->num_text, sizeof e->num_text);
        return buf;
    }
    if (md_num_d(buf, v) == NULL)
        return NULL;
    memcpy(e->num_text, buf, MD_NUM_LEN);
    e->num_bits = bits;
    return buf;
}

/* The sink ------------------------------------------------------------------------------------- */

int md_run(md_ctx_t *c, const char *stmt, int n, const char *const *params)
{
    if (c->sink->sql(c->sink->ctx, stmt, n, params) != 0)
        return md_say(c, "the store refused a master-data statement");
    return 0;
}

/* ROW's values as text parameters into P, for a sink that takes statements only: numbers in
 * decimal, a double in seventeen digits (every bit of it), a boolean as t or f. NUM holds the
 * numbers' text. */
static void row_params(engine_t *e, const row_desc_t *row, const row_val_t *v,
                       char (*num)[MD_NUM_LEN], const char **p)
{
    for (int i = 0; i < row->ncols; i++) {
        if (v[i].null) {
            p[i] = NULL;
            continue;
        }
        switch (row->cols[i].type) {
        case ROW_INT8:
        case ROW_INT4:
            p[i] = master_num_i(num[i], v[i].i);
            break;
        case ROW_FLOAT8:
            p[i] = md_num_d_again(e, num[i], v[i].d);
            break;
        case ROW_BOOL:
            p[i] = v[i].b ? "t" : "f";
            break;
        default:
            p[i] = v[i].s;
            break;
        }
    }
}

/* STMT, whose parameters are ROW's columns, with V as text. */
static int run_values(md_ctx_t *c, const row_desc_t *row, const char *stmt, const row_val_t *v)
{
    char num[ROW_MAX_COLS][MD_NUM_LEN];
    const char *p[ROW_MAX_COLS];
    row_params(c->e, row, v, num, p);
    return md_run(c, stmt, row->ncols, p);
}

int md_run_append(md_ctx_t *c, const row_desc_t *row, const char *stmt, const row_val_t *v)
{
    if (!c->sink->append)
        return run_values(c, row, stmt, v);
    if (c->sink->append(c->sink->ctx, row, v) != 0)
        return md_say(c, "the store refused a master-data row");
    return 0;
}

/* A golden-record or cross-reference row: a new one appended (FRESH), else upserted -- gathered
 * per batch when the sink can, else one statement. */
static int run_row(md_ctx_t *c, const md_table_t *t, const row_val_t *v, bool fresh)
{
    if (fresh)
        return md_run_append(c, t->row, t->sql, v);
    if (!c->sink->upsert)
        return run_values(c, t->row, t->sql, v);
    if (c->sink->upsert(c->sink->ctx, t->upsert, v) != 0)
        return md_say(c, "the store refused a master-data row");
    return 0;
}

/* A score, or NULL for none (not a number). */
static row_val_t score_val(double score)
{
    return isfinite(score) ? row_float8(score) : row_null();
}

int md_emit(md_ctx_t *c, const char *type, const char *target, const golden_t *g,
            const char *local_id, const ProtobufCMessage *msg)
{
    engine_t *e = c->e;
    size_t len = protobuf_c_message_get_packed_size(msg);
    e->out.len = 0;
    if (master_buf_reserve(&e->out, len + 1) != 0)
        return md_say(c, "out of memory");
    (void)protobuf_c_message_pack(msg, (uint8_t *)e->out.p);
    if (c->sink->emit(c->sink->ctx, type, target, g->id, local_id ? local_id : "",
                      msg->descriptor->name, (const uint8_t *)e->out.p, len) != 0)
        return md_say(c, "the journal refused a derived %s event", type);
    return 0;
}

int md_send_refusal(md_ctx_t *c, const md_refmsg_t *r, bool propose, const ProtobufCMessage *msg)
{
    if (propose)
        return md_emit(c, c->k->proposed, r->owner, r->g, r->local_id, msg);
    return md_emit(c, c->k->correction, c->ev->source, r->g, r->local_id, msg);
}

/* Rows ----------------------------------------------------------------------------------------- */

static const char *key_field_value(const md_ctx_t *c, const mvals_t *vals)
{
    const mval_t *v = c->d->key_field >= 0 ? md_val(vals, c->d->key_field) : NULL;
    return v ? md_val_text(vals, v) : NULL;
}

int md_sql_golden(md_ctx_t *c, const golden_t *g, uint64_t version, int state,
                  const golden_t *redirect, const mvals_t *vals, bool fresh)
{
    const md_table_t *t = &c->d->golden;
    c->e->json.len = 0;
    if (md_vals_json(c->e, c->k, vals, &c->e->json) != 0)
        return md_say(c, "out of memory");
    row_val_t v[MD_MAX_COLS];
    for (int i = 0; i < t->row->ncols; i++) {
        switch (t->cols[i]) {
        case GC_ID:
            v[i] = row_text(g->id);
            break;
        case GC_VERSION:
            v[i] = row_int((int64_t)version);
            break;
        case GC_STATE:
            v[i] = row_text(state == MS_ACTIVE ? "ACTIVE" : "REDIRECTED");
            break;
        case GC_REDIRECT:
            v[i] = row_text(redirect ? redirect->id : NULL);
            break;
        case GC_FIELDS:
            v[i] = row_text(c->e->json.p);
            break;
        case GC_CREATED:
            v[i] = row_int(g->created_us ? g->created_us : c->now);
            break;
        case GC_UPDATED:
            v[i] = row_int(c->now);
            break;
        case GC_KEY:
            v[i] = row_text(g->key);
            break;
        default:
            v[i] = row_text(key_field_value(c, vals));
            break;
        }
    }
    return run_row(c, t, v, fresh);
}

/* One history row for all of one version's changes. CH[i].source is the system each new
 * value came from; OLD[i] the value it replaced, NULL if none. */
static int history_json(md_ctx_t *c, const mchange_t *ch, const char *const *old, size_t n)
{
    mbuf_t *h = &c->e->hist;
    h->len = 0;
    int rc = master_buf_str(h, "{");
    for (size_t i = 0; i < n; i++) {
        /* Compact, and without what the row already says: "o" only when there was an old
         * value, "s" only when the value came from another system than the row's source (a
         * merge). Readers take a missing "o" as none and a missing "s" as the row's source
         * (the golden_person_field_history view does). */
        rc |= master_buf_str(h, i ? "," : "");
        rc |= master_buf_json_str(h, md_field_name(c->k, ch[i].field));
        rc |= master_buf_str(h, ":{");
        if (old[i]) {
            rc |= master_buf_str(h, "\"o\":");
            rc |= master_buf_json_str(h, old[i]);
            rc |= master_buf_str(h, ",");
        }
        rc |= master_buf_str(h, "\"n\":");
        rc |= ch[i].value ? master_buf_json_str(h, ch[i].value) : master_buf_str(h, "null");
        const char *from = c->e->systems[ch[i].source];
        if (c->ev->source == NULL || strcmp(from, c->ev->source) != 0) {
            rc |= master_buf_str(h, ",\"s\":");
            rc |= master_buf_json_str(h, from);
        }
        rc |= master_buf_str(h, "}");
    }
    return rc | master_buf_str(h, "}");
}

int md_sql_history(md_ctx_t *c, const golden_t *g, uint64_t version, const mchange_t *ch,
                   const char *const *old, size_t n)
{
    if (n == 0)
        return 0;
    if (history_json(c, ch, old, n) != 0)
        return md_say(c, "out of memory");
    const row_val_t v[] = {
        row_text(g->id),         row_int((int64_t)version),
        row_text(c->ev->source), row_text(c->ev->event_id ? c->ev->event_id : ""),
        row_int(c->now),         row_text(c->e->hist.p)};
    return md_run_append(c, c->d->history, c->d->sql_history, v);
}

int md_sql_xref(md_ctx_t *c, int system, const char *local_id, const golden_t *g, int state,
                int how, double score, int64_t linked_us, bool fresh)
{
    const md_table_t *t = &c->d->xref;
    row_val_t v[MD_MAX_COLS];
    for (int i = 0; i < t->row->ncols; i++) {
        switch (t->cols[i]) {
        case XC_SYSTEM:
            v[i] = row_text(c->e->systems[system]);
            break;
        case XC_LOCAL:
            v[i] = row_text(local_id);
            break;
        case XC_MASTER:
            v[i] = row_text(g->id);
            break;
        case XC_STATE:
            v[i] = row_text(md_link_state_name(state));
            break;
        case XC_HOW:
            v[i] = row_text(md_how_name(how));
            break;
        case XC_SCORE:
            v[i] = score_val(score);
            break;
        default:
            v[i] = row_int(linked_us);
            break;
        }
    }
    return run_row(c, t, v, fresh);
}

int md_sql_audit(md_ctx_t *c, const golden_t *g, const char *action)
{
    const row_val_t v[] = {
        row_int(c->now),         row_text(c->ev->event_id ? c->ev->event_id : ""),
        row_text(c->ev->source), row_text(g->id),
        row_text(action),        row_text(c->e->json.len ? c->e->json.p : "{}")};
    return md_run_append(c, &MASTER_ROW_AUDIT, MASTER_SQL_AUDIT, v);
}

/* Addressing ------------------------------------------------------------------------------------
 */

/* The same preference as md_primary_xref: a live link before one that only followed a merge,
 * then the oldest, then the smallest id. */
static int better(const xview_t *a, const xview_t *b)
{
    int ar = a->state == XL_REDIRECTED, br = b->state == XL_REDIRECTED;
    if (ar != br)
        return !ar;
    if (a->x->linked_us != b->x->linked_us)
        return a->x->linked_us < b->x->linked_us;
    return strcmp(a->x->local_id, b->x->local_id) < 0;
}

const char *md_local_id_in(const xview_t *v, size_t n, int system)
{
    const xview_t *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].x->system == system && (best == NULL || better(&v[i], best)))
            best = &v[i];
    return best ? best->x->local_id : "";
}

size_t md_view_add(xview_t *v, size_t n, const golden_t *g, int state_override)
{
    for (const xref_t *x = g->xrefs; x && n < MD_MAX_XREF_VIEW; x = x->mnext) {
        v[n].x = x;
        v[n].state = (uint8_t)(state_override >= 0 ? state_override : x->state);
        n++;
    }
    return n;
}

const char *md_primary_local(const golden_t *g, int system)
{
    const xref_t *x = md_primary_xref(g, system);
    return x ? x->local_id : "";
}

int md_emit_changed(md_ctx_t *c, const golden_t *g, uint64_t version, const mvals_t *vals,
                    const uint16_t *fields, size_t n, const xview_t *view, size_t nview)
{
    const md_kind_t *k = c->k;
    if (n == 0 || k->nsub_changed == 0)
        return 0;
    char *names[MD_MAX_FIELDS];
    for (size_t i = 0; i < n; i++)
        names[i] = (char *)md_field_name(k, fields[i]);
    const ProtobufCMessage *msg =
        c->d->msg.changed(c, k->scratch, g, version, vals, fields, names, n);
    if (msg == NULL)
        return md_say(c, "out of memory");
    for (size_t i = 0; i < k->nsub_changed; i++) {
        int s = k->sub_changed[i];
        if (c->exclude_src && s == c->src)
            continue;
        const char *local = view ? md_local_id_in(view, nview, s) : md_primary_local(g, s);
        *(const char **)((char *)k->scratch + c->d->size.changed_local) = local;
        if (c->d->msg.changed_to != NULL)
            c->d->msg.changed_to(c, k->scratch, s, local);
        if (md_emit(c, c->k->changed, c->e->systems[s], g, local, msg) != 0)
            return -1;
    }
    return 0;
}
