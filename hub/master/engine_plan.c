/* engine_plan.c - the keyed update, the master-data engine's one way of applying a sender's
 * record to a golden record, for every kind of entity (contract in engine.h).
 *
 * Every event is handled in three steps. Plan: work out everything from the current state
 * without touching it, allocating what the new state needs. Write: hand the SQL and the
 * derived events to the sink. Commit: only when the sink took all of it, swap the planned
 * state in; this step cannot fail except by running out of memory in a hash table, which
 * marks the engine broken until it is reloaded. So a sink failure leaves the engine exactly
 * as it was, as the hub's RETRY needs.
 *
 * Which record an event is about is the kind's identify hook (persons match, addresses key on
 * the UPRN, cases on the sender's id); which of the sender's values the record takes is the
 * same for every kind: an owner's value stands against anyone else's (the sender is corrected,
 * or the owner is sent a proposal), a stale base_version is corrected, and otherwise the
 * better-ranked source, then the more recent value, wins. */
#include "master/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plan -------------------------------------------------------------------------------------- */

int md_plan_new(md_ctx_t *c, md_plan_t *p, const char *key)
{
    if ((p->newg = calloc(1, sizeof *p->newg)) == NULL)
        return md_say(c, "out of memory");
    if (md_new_id(c, p->newg->id) != 0)
        return -1;
    p->newg->kind = (uint8_t)(c->k - c->e->kinds);
    p->newg->created_us = p->newg->updated_us = c->now;
    p->newg->state = MS_ACTIVE;
    if (key != NULL && (p->newg->key = strdup(key)) == NULL)
        return md_say(c, "out of memory");
    p->g = p->newg;
    return 0;
}

/* Which record the event is about, and the sender's link to it. */
static int plan_record(md_ctx_t *c, md_plan_t *p)
{
    const char *local = c->ev->local_id ? c->ev->local_id : "";
    int kind = (int)(c->k - c->e->kinds);
    p->x = local[0] ? md_xref(c->e, kind, c->src, local) : NULL;
    if (c->d->id.identify(c, p) != 0)
        return -1;
    if (local[0] == '\0' || p->x != NULL)
        return 0;
    p->newx = md_xref_new(local);
    if (p->newx == NULL)
        return md_say(c, "out of memory");
    p->newx->system = (uint16_t)c->src;
    p->newx->kind = (uint8_t)kind;
    p->newx->linked_us = c->now;
    p->newx->state = p->link_state;
    p->newx->how = p->how;
    p->newx->score = p->score;
    return 0;
}

static void refuse_field(const md_ctx_t *c, md_plan_t *p, const incoming_t *in, const mval_t *cur,
                         const mvals_t *vals, int kind, bool propose)
{
    mref_t *r = &p->ref[p->nref++];
    *r = (mref_t){.field = in->field,
                  .kind = (uint8_t)kind,
                  .propose = propose,
                  .refused = in->value,
                  .current = md_val_text(vals, cur),
                  .current_version = cur->version};
    int parent = c->d->parent ? c->d->parent(in->field) : -1;
    for (size_t i = 0; parent >= 0 && i + 1 < p->nref; i++)
        if (p->ref[i].field == parent)
            r->quiet = true;
}

static bool same_value(const md_ctx_t *c, const incoming_t *in, const mvals_t *vals,
                       const mval_t *cur)
{
    const char *stored = md_val_text(vals, cur);
    return strcmp(stored, in->value) == 0 ||
           (c->d->id.same != NULL && c->d->id.same(c, in->field, stored, in->value));
}

/* Does the value standing (CUR) beat the sender's? A better-ranked or more recent source. */
static bool stands(const md_ctx_t *c, const mrule_t *r, const mval_t *cur)
{
    uint32_t rs = md_rank_of(c->k, r, c->src), rc = md_rank_of(c->k, r, cur->source);
    return rs > rc || (rs == rc && c->occurred < cur->at_us);
}

static void take(const md_ctx_t *c, md_plan_t *p, const incoming_t *in, const char *old,
                 uint64_t version)
{
    p->old[p->nch] = old;
    p->ch[p->nch++] = (mchange_t){in->field, (uint16_t)c->src, in->value, version, c->occurred};
    if (c->d->reindexes && c->d->reindexes(in->field))
        p->reindex = true;
    if (c->d->rematches && c->d->rematches(in->field))
        p->rematch = true;
}

/* Which of the sender's values the record takes. */
static void plan_fields(md_ctx_t *c, md_plan_t *p)
{
    const mvals_t *vals = p->g == p->newg ? NULL : p->g->vals;
    uint64_t version = (p->g == p->newg ? 0 : p->g->version) + 1;
    /* A base_version names a version of the record the sender had; a sender linked just now
     * has seen none of it. */
    bool check_base = c->ev->base_version != 0 && p->newx == NULL;
    for (size_t i = 0; i < c->e->nin; i++) {
        const incoming_t *in = &c->e->in[i];
        const mval_t *cur = md_val(vals, in->field);
        if (cur != NULL && same_value(c, in, vals, cur))
            continue;
        const mrule_t *r = md_rule_of(c->k, in->field);
        int owner = r ? r->owner : -1;
        if (owner >= 0 && c->src != owner && cur != NULL && cur->source == owner) {
            refuse_field(c, p, in, cur, vals, REF_OWNER, r->propose);
            continue;
        }
        if (check_base && cur != NULL && cur->version > c->ev->base_version) {
            refuse_field(c, p, in, cur, vals, REF_STALE, false);
            continue;
        }
        if (cur != NULL && c->src != owner && stands(c, r, cur))
            continue;
        take(c, p, in, cur ? md_val_text(vals, cur) : NULL, version);
    }
    p->version = p->nch || p->newg ? version : p->g->version;
}

/* Refusals ------------------------------------------------------------------------------------ */

/* An owner that does not listen for proposals cannot act on one; the sender is corrected
 * instead, so the difference does not go unnoticed. */
static bool proposes(const md_ctx_t *c, const mref_t *r, const mrule_t *rule)
{
    return r->propose &&
           master_subscribes(c->k->sub_proposed, c->k->nsub_proposed, rule ? rule->owner : -1);
}

static const char *owner_of(const md_ctx_t *c, const mrule_t *rule)
{
    return rule && rule->owner >= 0 ? c->e->systems[rule->owner] : "";
}

static void refusal_reason(const md_ctx_t *c, const mref_t *r, const char *field, const char *owner,
                           char *out, size_t len)
{
    char subject[160];
    if (c->d->flags & MD_NAMED)
        (void)snprintf(subject, sizeof subject, "%s of this %s", field, c->d->name);
    else
        (void)snprintf(subject, sizeof subject, "%s", field);
    if (r->kind == REF_OWNER)
        (void)snprintf(out, len,
                       "%s is owned by %s, whose value stands; put this value right in your "
                       "record, or ask %s to change it",
                       subject, owner, owner);
    else
        (void)snprintf(out, len,
                       "%s changed at version %llu, after your base_version %llu; this is the "
                       "current value",
                       field, (unsigned long long)r->current_version,
                       (unsigned long long)c->ev->base_version);
}

/* A refused field's message: the owner's value to the sender, or the proposal to the owner. */
static int refusal_message(md_ctx_t *c, const md_plan_t *p, const mref_t *r)
{
    if (r->quiet)
        return 0;
    const mrule_t *rule = md_rule_of(c->k, r->field);
    const char *field = md_field_name(c->k, r->field);
    const char *owner = owner_of(c, rule);
    const char *local = c->ev->local_id ? c->ev->local_id : "";
    bool propose = proposes(c, r, rule);
    char reason[256];
    refusal_reason(c, r, field, owner, reason, sizeof reason);
    md_refmsg_t m = {.g = p->g,
                     .master_id = p->g->id,
                     .version = p->version,
                     .local_id = propose ? md_primary_local(p->g, rule->owner) : local,
                     .field_id = r->field,
                     .field = field,
                     .owner = owner,
                     .refused = r->refused,
                     .current = r->current,
                     .reason = reason,
                     .by = c->ev->source,
                     .by_local = local,
                     .event_id = c->ev->event_id ? c->ev->event_id : ""};
    return c->d->msg.refusal(c, &m, propose);
}

/* Audit rows name fields and systems, never values. */
static int audit_start(md_ctx_t *c)
{
    mbuf_t *j = &c->e->json;
    j->len = 0;
    if (!(c->d->flags & MD_NAMED))
        return master_buf_str(j, "{");
    return master_buf_str(j, "{\"entity\": \"") | master_buf_str(j, c->d->name) |
           master_buf_str(j, "\", ");
}

static int audit_refusal(md_ctx_t *c, const md_plan_t *p, const mref_t *r)
{
    const mrule_t *rule = md_rule_of(c->k, r->field);
    mbuf_t *j = &c->e->json;
    char v[MD_NUM_LEN];
    int rc = audit_start(c);
    rc |= master_buf_str(j, "\"field\": ");
    rc |= master_buf_json_str(j, md_field_name(c->k, r->field));
    rc |= master_buf_str(j, ", \"owner\": ");
    rc |= master_buf_json_str(j, owner_of(c, rule));
    rc |= master_buf_str(j, r->kind == REF_OWNER ? ", \"reason\": \"owner\""
                                                 : ", \"reason\": \"stale\"");
    rc |= master_buf_str(j, ", \"field_version\": ");
    rc |= master_buf_str(j, master_num_u(v, r->current_version));
    if ((rc | master_buf_str(j, "}")) != 0)
        return md_say(c, "out of memory");
    return md_sql_audit(c, p->g, proposes(c, r, rule) ? "propose" : "refuse");
}

/* Write ---------------------------------------------------------------------------------------- */

/* The sender's link the event makes or moves, if any. */
static const xref_t *link_of(const md_plan_t *p)
{
    return p->newx ? p->newx : p->move ? p->x : NULL;
}

static int audit_link(md_ctx_t *c, const md_plan_t *p, const xref_t *x)
{
    mbuf_t *j = &c->e->json;
    int rc = master_buf_str(j, ", \"link\": {\"system\": ");
    rc |= master_buf_json_str(j, c->e->systems[x->system]);
    rc |= master_buf_str(j, ", \"local_id\": ");
    rc |= master_buf_json_str(j, x->local_id);
    if (c->d->flags & MD_SCORED_LINKS) {
        char score[MD_NUM_LEN];
        rc |= master_buf_str(j, ", \"link_state\": \"");
        rc |= master_buf_str(j, md_link_state_name(x->state));
        rc |= master_buf_str(j, "\", \"how\": \"");
        rc |= master_buf_str(j, md_how_name(x->how));
        rc |= master_buf_str(j, "\", \"score\": ");
        rc |= master_buf_str(j, md_num_d_again(c->e, score, x->score) ? score : "null");
    }
    if (p->move) {
        rc |= master_buf_str(j, ", \"moved_from\": ");
        rc |= master_buf_json_str(j, p->x->master->id);
    }
    return rc | master_buf_str(j, "}");
}

/* One audit row for what the event did: "create" (a new record, with the sender's link),
 * "link" (the sender's local id joined an existing record, or moved to it) or "update". */
static int audit_event(md_ctx_t *c, const md_plan_t *p)
{
    mbuf_t *j = &c->e->json;
    const xref_t *x = link_of(p);
    char v[MD_NUM_LEN];
    int rc = audit_start(c);
    rc |= master_buf_str(j, "\"version\": ");
    rc |= master_buf_str(j, master_num_u(v, p->version));
    rc |= master_buf_str(j, ", \"fields\": [");
    for (size_t i = 0; i < p->nch; i++) {
        rc |= master_buf_str(j, i ? ", " : "");
        rc |= master_buf_json_str(j, md_field_name(c->k, p->ch[i].field));
    }
    rc |= master_buf_str(j, "]");
    if (x != NULL)
        rc |= audit_link(c, p, x);
    if ((rc | master_buf_str(j, "}")) != 0)
        return md_say(c, "out of memory");
    return md_sql_audit(c, p->g, p->newg ? "create" : x ? "link" : "update");
}

static int write_link(md_ctx_t *c, const md_plan_t *p)
{
    const xref_t *x = link_of(p);
    if (x == NULL)
        return 0;
    return md_sql_xref(c, x->system, x->local_id, p->g, x->state, x->how, x->score,
                       p->newx ? x->linked_us : c->now, p->newx != NULL);
}

/* Messages go to the sink before statements: a sink that refuses a message then leaves no
 * statement of this event behind it. */
static int write_plan(md_ctx_t *c, md_plan_t *p)
{
    golden_t *g = p->g;
    for (size_t i = 0; i < p->nref; i++)
        if (refusal_message(c, p, &p->ref[i]) != 0)
            return -1;
    uint16_t fields[MD_MAX_INCOMING];
    for (size_t i = 0; i < p->nch; i++)
        fields[i] = p->ch[i].field;
    if (md_emit_changed(c, g, p->version, p->vals, fields, p->nch, NULL, 0) != 0)
        return -1;
    bool changed = p->nch > 0 || p->newg != NULL;
    if (changed &&
        (md_sql_golden(c, g, p->version, MS_ACTIVE, NULL, p->vals, p->newg != NULL) != 0 ||
         md_sql_history(c, g, p->version, p->ch, p->old, p->nch) != 0))
        return -1;
    if (write_link(c, p) != 0)
        return -1;
    if ((changed || link_of(p) != NULL) && audit_event(c, p) != 0)
        return -1;
    if (c->d->write_more && c->d->write_more(c, p) != 0)
        return -1;
    for (size_t i = 0; i < p->nref; i++)
        if (audit_refusal(c, p, &p->ref[i]) != 0)
            return -1;
    return 0;
}

/* Commit --------------------------------------------------------------------------------------- */

static int commit_links(md_ctx_t *c, md_plan_t *p)
{
    if (p->move) {
        md_xref_detach(p->x);
        md_xref_attach(p->g, p->x);
        p->x->linked_us = c->now;
    }
    if (p->newx != NULL) {
        xref_t *x = p->newx;
        p->newx = NULL;
        md_xref_attach(p->g, x);
        if (md_xref_add(c->e, x) != 0)
            return md_broken(c);
    }
    return 0;
}

/* Swaps the plan in; the plan gives up what it owned. */
static int commit_plan(md_ctx_t *c, md_plan_t *p)
{
    const md_desc_t *d = c->d;
    golden_t *g = p->g;
    bool fresh = p->newg != NULL;
    if (fresh) {
        p->newg = NULL;
        if (md_golden_add(c->e, g) != 0)
            return md_broken(c);
    } else if (p->reindex && d->unindex) {
        d->unindex(c->e, g);
    }
    if (p->nch > 0 || fresh) {
        free(g->vals);
        g->vals = p->vals;
        p->vals = NULL;
        g->version = p->version;
        g->updated_us = c->now;
    }
    if ((p->reindex || fresh) && d->index && d->index(c->e, g) != 0)
        return md_broken(c);
    if (commit_links(c, p) != 0)
        return -1;
    return d->commit_more ? d->commit_more(c, p) : 0;
}

/* Apply ---------------------------------------------------------------------------------------- */

static int plan_vals(md_ctx_t *c, md_plan_t *p)
{
    if (p->nch == 0 && p->newg == NULL)
        return 0;
    p->vals = md_vals_build(p->newg ? NULL : p->g->vals, p->ch, p->nch);
    return p->vals == NULL && p->nch > 0 ? md_say(c, "out of memory") : 0;
}

static int keyed(md_ctx_t *c, md_plan_t *p)
{
    if (c->d->id.decode(c) != 0 || plan_record(c, p) != 0)
        return c->res->outcome == MASTER_REFUSED ? 0 : -1;
    plan_fields(c, p);
    if (plan_vals(c, p) != 0 || (c->d->after_fields && c->d->after_fields(c, p) != 0) ||
        write_plan(c, p) != 0 || commit_plan(c, p) != 0)
        return -1;
    (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", p->g->id);
    c->res->version = p->g->version;
    c->res->changed = (unsigned)p->nch;
    c->res->refused = (unsigned)p->nref;
    return 0;
}

static void plan_free(const md_desc_t *d, md_plan_t *p)
{
    md_xref_free(p->newx);
    md_golden_free(p->newg);
    free(p->vals);
    if (d->plan_free)
        d->plan_free(p);
}

int md_apply_keyed(md_ctx_t *c)
{
    const master_event_t *ev = c->ev;
    if (c->d->needs_local && (ev->local_id == NULL || ev->local_id[0] == '\0'))
        return md_refused(c, c->d->needs_local, ev->type, ev->source);
    md_plan_t *p = c->k->plan;
    memset(p, 0, c->d->size.plan);
    p->score = NAN;
    c->e->nin = 0;
    int rc = keyed(c, p);
    plan_free(c->d, p); /* what the commit did not take */
    return rc;
}
