/* reload.c - see reload.h.
 *
 * Who holds the configuration, and why a swap is safe (grep for cfg):
 *   - core_t.cfg: the core thread's, read by router, session, ingest, ingest_master, deliver,
 *     admin_core and partner_core on every use (never cached across turns), so replacing the
 *     pointer between turns is enough for them.
 *   - session_t.adapter: a pointer into cfg->adapters. Re-pointed at the swap, by slot
 *     (session_t.adapter_index, which config_keep_slots keeps stable).
 *   - per-adapter arrays indexed by slot (adapter_stats, hello_refusals, rate_samples, the type
 *     counts' adapter, addressed events' targets in the window, sub_t.adapter_target): slots
 *     never move, so they stay right; the arrays are grown here when adapters are added.
 *   - the master-data engine (engine_t.cfg): the configuration it was built with; it computes
 *     who receives its derived events from the adapters' subscribe permissions at build time,
 *     so a reload that changes those sets has the engine rebuilt from the database with the new
 *     configuration (ingest_master_stale: the same path as after a failed commit).
 *   - partner links (partner_t): the configuration they started with; partners cannot change
 *     at run time, so what they read of it stays true.
 *   - the admin thread (admin_server_t.cfg): told of the new one (admin_server_set_config, an
 *     atomic pointer: tokens and adapters for its checks).
 * None of these frees or outlives a configuration: the core keeps every one a reload installed
 * and every one it replaced until core_destroy, after those threads have stopped. */
#include "reload.h"

#include "admin/admin_server.h"
#include "base/log.h"
#include "base/route.h"
#include "deliver.h"
#include "ingest_master.h"
#include "master/master.h"
#include "session.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The derived events the master-data engine addresses to the adapters subscribed to them
 * (engine.c init_kind): a reload that changes who that is rebuilds the engine. */
static const char *const DERIVED[] = {"person.changed",  "person.merged",  "person.proposed",
                                      "address.changed", "address.merged", "address.proposed",
                                      "case.changed",    "case.merged",    "case.proposed"};

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ---- refusing ---- */

static void add_error(void *ctx, const char *msg)
{
    json_array_append_new((json_t *)ctx, json_string(msg));
}

/* Logs the one line of a refused reload and answers with ERRORS (taken). */
static int refuse(core_t *c, const char *who, json_t *errors, json_t **answer)
{
    char line[2048] = "";
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        int w = snprintf(line + n, sizeof line - n, "%s%s", i ? "; " : "", json_string_value(e));
        if (w < 0 || (size_t)w >= sizeof line - n)
            break;
        n += (size_t)w;
    }
    log_warn("reload", "configuration reload (%s) refused, nothing applied: %s", who, line);
    (void)c;
    *answer = json_pack("{sb so ss}", "applied", 0, "errors", errors, "error", line);
    return 422;
}

int reload_refused(core_t *c, const char *who, const char *err, json_t **answer)
{
    json_t *errors = json_array();
    add_error(errors, err);
    return refuse(c, who, errors, answer);
}

/* ---- growing the per-adapter arrays ---- */

/* Room for N adapters (N >= the running count: slots are never given back). The entry after
 * the last adapter (input refused before HELLO, or connections with unknown keys) moves to the
 * new end. All or nothing: -1 out of memory with nothing changed. */
static int grow(core_t *c, size_t n)
{
    const size_t old = c->cfg->nadapters, per = CORE_RATE_SECONDS + 1;
    if (n == old)
        return 0;
    adapter_stats_t *st = calloc(n + 1, sizeof *st);
    log_limit_t *lim = calloc(n + 1, sizeof *lim);
    uint64_t(*rs)[2] = c->rate_samples ? calloc((n + 1) * per, sizeof *rs) : NULL;
    if (!st || !lim || (c->rate_samples && !rs)) {
        free(st);
        free(lim);
        free(rs);
        return -1;
    }
    memcpy(st, c->adapter_stats, old * sizeof *st);
    st[n] = c->adapter_stats[old];
    memcpy(lim, c->hello_refusals, old * sizeof *lim);
    lim[n] = c->hello_refusals[old];
    if (rs) /* an adapter's samples are rows [slot * per, slot * per + per) */
        memcpy(rs, c->rate_samples, old * per * sizeof *rs);
    free(c->adapter_stats);
    free(c->hello_refusals);
    c->adapter_stats = st;
    c->hello_refusals = lim;
    if (rs) {
        free(c->rate_samples);
        c->rate_samples = rs;
    }
    return 0;
}

/* ---- what changed ---- */

typedef struct {
    json_t *added, *removed, *changed; /* names; {name: [what]} */
    bool transient, delivery, refusals, tokens, engine;
    size_t closed;
} diff_t;

static bool tokens_equal(const config_t *a, const config_t *b)
{
    if (a->nadmin_tokens != b->nadmin_tokens)
        return false;
    for (size_t i = 0; i < a->nadmin_tokens; i++)
        if (!str_eq(a->admin_tokens[i].name, b->admin_tokens[i].name) ||
            !str_eq(a->admin_tokens[i].token, b->admin_tokens[i].token) ||
            a->admin_tokens[i].role != b->admin_tokens[i].role)
            return false;
    return true;
}

static bool receives(const config_adapter_t *a, const char *type)
{
    return a && !a->removed &&
           route_match_any(a->subscribe.items, a->subscribe.count, type, strlen(type));
}

/* PREV's and NEXT's adapters compared slot by slot (NEXT already in PREV's slots). */
static void compare(const config_t *prev, const config_t *next, diff_t *d)
{
    for (size_t i = 0; i < next->nadapters; i++) {
        const config_adapter_t *b = &next->adapters[i];
        const config_adapter_t *a = i < prev->nadapters ? &prev->adapters[i] : NULL;
        bool was = a && !a->removed, is = !b->removed;
        if (!was && is) {
            json_array_append_new(d->added, json_string(b->name));
        } else if (was && !is) {
            json_array_append_new(d->removed, json_string(b->name));
        } else if (was && is) {
            json_t *what = json_array();
            if (!str_eq(a->public_key, b->public_key))
                json_array_append_new(what, json_string("public_key"));
            if (!config_strings_equal(&a->publish, &b->publish))
                json_array_append_new(what, json_string("publish"));
            if (!config_strings_equal(&a->subscribe, &b->subscribe))
                json_array_append_new(what, json_string("subscribe"));
            if (a->is_operator != b->is_operator)
                json_array_append_new(what, json_string("operator"));
            if (json_array_size(what))
                json_object_set_new(d->changed, b->name, what);
            else
                json_decref(what);
        }
        for (size_t k = 0; k < sizeof DERIVED / sizeof *DERIVED; k++)
            if (receives(a, DERIVED[k]) != receives(b, DERIVED[k]))
                d->engine = true;
    }
    d->transient = !config_strings_equal(&prev->transient, &next->transient);
    d->delivery =
        prev->max_attempts != next->max_attempts || prev->retry_base_ms != next->retry_base_ms ||
        prev->retry_max_ms != next->retry_max_ms || prev->default_credit != next->default_credit;
    d->refusals = memcmp(&prev->refusals, &next->refusals, sizeof prev->refusals) != 0;
    d->tokens = !tokens_equal(prev, next);
}

/* ---- sessions ---- */

/* Why session S (of the running configuration) cannot go on under NEXT, or NULL if it can. */
static const char *must_close(const session_t *s, const config_t *next, char *why, size_t len)
{
    const config_adapter_t *a = s->adapter, *b = &next->adapters[s->adapter_index];
    if (b->removed) {
        snprintf(why, len, "adapter '%s' was removed from the hub's configuration", a->name);
        return why;
    }
    if (!str_eq(a->public_key, b->public_key)) {
        snprintf(why, len,
                 "the Curve key of adapter '%s' was changed in the hub's configuration; connect "
                 "again with the new key",
                 a->name);
        return why;
    }
    for (size_t i = 0; i < s->nsubs; i++) {
        const sub_t *sub = s->subs[i];
        for (size_t k = 0; k < sub->npatterns; k++)
            if (!route_covered(b->subscribe.items, b->subscribe.count, sub->patterns[k])) {
                snprintf(why, len,
                         "adapter '%s' may no longer subscribe to '%s' (subscription '%s'): the "
                         "hub's configuration was changed",
                         a->name, sub->patterns[k], sub->name);
                return why;
            }
    }
    return NULL;
}

/* Closes, with a GOODBYE saying why, the sessions NEXT no longer allows. */
static size_t close_sessions(core_t *c, const config_t *next)
{
    size_t closed = 0;
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        session_t *s = &c->sessions[i];
        char why[320];
        if (!s->active || !must_close(s, next, why, sizeof why))
            continue;
        Joinery__V1__Goodbye g = JOINERY__V1__GOODBYE__INIT;
        g.reason = why;
        uint8_t buf[400];
        size_t n = joinery__v1__goodbye__pack(&g, buf);
        core_send(c, s, "GOODBYE", buf, n);
        /* As the router closes a session: its subscriptions let go of their in-flight
         * deliveries first (they are delivered again to whoever subscribes next). */
        deliver_session_closed(c, s);
        session_close(c, s, why);
        closed++;
    }
    return closed;
}

/* ---- the one log line ---- */

static void names(char *out, size_t len, const json_t *list)
{
    size_t n = 0, i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(list, i, v)
    {
        int w = snprintf(out + n, len - n, "%s%s", i ? ", " : " (", json_string_value(v));
        if (w < 0 || (size_t)w >= len - n)
            return;
        n += (size_t)w;
    }
    if (n && n + 2 <= len)
        memcpy(out + n, ")", 2);
}

static void changed_names(char *out, size_t len, json_t *changed)
{
    size_t n = 0;
    const char *name;
    json_t *what;
    out[0] = '\0';
    json_object_foreach(changed, name, what)
    {
        char *w = json_dumps(what, JSON_COMPACT);
        int k = snprintf(out + n, len - n, "%s%s: %s", n ? ", " : " (", name, w ? w : "?");
        free(w);
        if (k < 0 || (size_t)k >= len - n)
            return;
        n += (size_t)k;
    }
    if (n && n + 2 <= len)
        memcpy(out + n, ")", 2);
}

static void log_applied(const core_t *c, const char *who, const diff_t *d, int64_t took_us)
{
    char added[512], removed[512], changed[768];
    names(added, sizeof added, d->added);
    names(removed, sizeof removed, d->removed);
    changed_names(changed, sizeof changed, d->changed);
    log_info("reload",
             "configuration reloaded from %s (%s): adapters %zu added%s, %zu removed%s, %zu "
             "changed%s; transient routes %s, delivery settings %s, refusals %s, admin tokens "
             "%s; %zu session(s) closed%s (%lld us on the core thread)",
             c->cfg->path, who, json_array_size(d->added), added, json_array_size(d->removed),
             removed, json_object_size(d->changed), changed, d->transient ? "changed" : "unchanged",
             d->delivery ? "changed" : "unchanged", d->refusals ? "changed" : "unchanged",
             d->tokens ? "changed" : "unchanged", d->closed,
             d->engine ? "; the master-data engine is rebuilt for its new subscribers" : "",
             (long long)took_us);
}

/* ---- applying ---- */

int reload_apply(core_t *c, config_t *next, const char *who, int64_t started_us, json_t **answer)
{
    char err[1024];
    json_t *errors = json_array();
    /* The same checks as start-up (main.c: config_load, then master_check_config). */
    if (master_check_config(next, err, sizeof err) != 0)
        add_error(errors, err);
    config_restart_needed(c->cfg, next, add_error, errors);
    /* Room to keep NEXT, and its adapters in their slots, before anything changes. */
    config_t **owned = NULL;
    if (json_array_size(errors) == 0) {
        owned = realloc(c->cfg_owned, (c->ncfg_owned + 1) * sizeof *owned);
        if (owned)
            c->cfg_owned = owned;
        if (!owned || config_keep_slots(next, c->cfg) != 0 || grow(c, next->nadapters) != 0)
            add_error(errors, "out of memory");
    }
    if (json_array_size(errors) > 0) {
        config_destroy(&next);
        return refuse(c, who, errors, answer);
    }
    json_decref(errors);

    diff_t d = {.added = json_array(), .removed = json_array(), .changed = json_object()};
    compare(c->cfg, next, &d);
    d.closed = close_sessions(c, next);
    /* The swap. From here on every module reads NEXT. */
    c->cfg_owned[c->ncfg_owned++] = next;
    c->cfg = next;
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (c->sessions[i].active)
            c->sessions[i].adapter = &next->adapters[c->sessions[i].adapter_index];
    /* A durable subscription restored at start for an adapter the configuration did not have
     * then has no target slot; an adapter a reload adds may own it now (addressed events). */
    for (size_t i = 0; i < c->nsubs; i++) {
        const config_adapter_t *a =
            c->subs[i]->adapter_target < 0 ? config_adapter(next, c->subs[i]->adapter) : NULL;
        if (a)
            c->subs[i]->adapter_target = (int16_t)(a - next->adapters + 1);
    }
    if (c->admin_server)
        admin_server_set_config(c->admin_server, next);
    if (d.engine)
        ingest_master_stale(c);
    log_applied(c, who, &d, core_now_us() - started_us);
    *answer = json_pack("{sb s{so so so sb sb sb sb sI sb}}", "applied", 1, "changes",
                        "adapters_added", d.added, "adapters_removed", d.removed,
                        "adapters_changed", d.changed, "transient", d.transient, "delivery",
                        d.delivery, "refusals", d.refusals, "admin_tokens", d.tokens,
                        "sessions_closed", (json_int_t)d.closed, "master_data_rebuilt", d.engine);
    return 200;
}

void reload_from_file(core_t *c, const char *who)
{
    char err[1024];
    json_t *answer = NULL;
    int64_t started_us = core_now_us(); /* the file is read here: counted in what it took */
    config_t *next = config_load(c->cfg->path, err, sizeof err);
    if (next)
        reload_apply(c, next, who, started_us, &answer);
    else
        reload_refused(c, who, err, &answer);
    json_decref(answer);
}
