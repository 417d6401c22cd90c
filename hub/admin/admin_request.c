/* admin_request.c - see admin_request.h. The checks are in the order the API has always made
 * them, so the same request gets the same refusal: the path's shape, /healthz and /readyz (no
 * token), the token and its role, then the endpoint's own arguments. */
#include "admin/admin_request.h"

#include "admin/admin_auth.h"
#include "admin/admin_proto.h"

#include <string.h>

#define MAX_SEGMENTS 6

static const char NAMES_WHY[] = "adapter and subscription must be names of 1-64 of a-z 0-9 _ - .";

static int refuse(admin_request_t *out, int status, const char *why)
{
    out->status = status;
    out->why = why;
    return status;
}

/* ---- the path ---- */

typedef struct {
    const char *seg[MAX_SEGMENTS];
    size_t len[MAX_SEGMENTS];
    size_t n;
} path_t;

/* PATH cut at its slashes (empty segments dropped); false for more than MAX_SEGMENTS. */
static bool path_split(const char *path, path_t *p)
{
    p->n = 0;
    const char *q = path;
    while (*q == '/')
        q++;
    while (*q) {
        if (p->n == MAX_SEGMENTS)
            return false;
        const char *slash = strchr(q, '/');
        size_t len = slash ? (size_t)(slash - q) : strlen(q);
        p->seg[p->n] = q;
        p->len[p->n++] = len;
        q += len;
        if (*q == '/')
            q++;
    }
    return true;
}

static bool seg_is(const path_t *p, size_t i, const char *s)
{
    return i < p->n && p->len[i] == strlen(s) && memcmp(p->seg[i], s, p->len[i]) == 0;
}

/* ---- values ---- */

static bool name_ok(const char *p, size_t len)
{
    if (len == 0 || len > ADMIN_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
              p[i] == '-' || p[i] == '.'))
            return false;
    return true;
}

/* A dead letter's (or queue item's) id: 1 to 18 digits, not zero. */
static bool id_parse(const char *p, size_t len, long long *out)
{
    if (len == 0 || len > 18)
        return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return v > 0;
}

/* An id the caller names (event, correlation, master): 1 to TRACE_ID_MAX bytes, none of them a
 * control character. */
static bool id_ok(const char *p, size_t len)
{
    if (len == 0 || len > TRACE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

static bool date_ok(const char *d)
{
    static const char shape[] = "0000-00-00";
    if (strlen(d) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? d[i] != '-' : (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

/* ---- the query ---- */

/* Whether every query argument is one of ALLOWED (NULL-terminated). */
static bool params_known(const admin_request_in_t *in, const char *const *allowed)
{
    for (size_t a = 0; a < in->nargs; a++) {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(in->args[a].key, allowed[i]) == 0;
        if (!known)
            return false;
    }
    return true;
}

/* KEY's first value, "" if absent or given without a value. */
static const char *query(const admin_request_in_t *in, const char *key)
{
    for (size_t a = 0; a < in->nargs; a++)
        if (strcmp(in->args[a].key, key) == 0)
            return in->args[a].value ? in->args[a].value : "";
    return "";
}

/* LIMIT's value, DEF if absent; false if it is not 1 to MAX. */
static bool limit_parse(const admin_request_in_t *in, int def, int max, int *out)
{
    const char *v = query(in, "limit");
    long long n = 0;
    *out = def;
    if (!*v)
        return true;
    if (!id_parse(v, strlen(v), &n) || n > max)
        return false;
    *out = (int)n;
    return true;
}

/* AFTER's value (0 if absent); false if it is not a whole number. */
static bool after_parse(const admin_request_in_t *in, long long *out)
{
    const char *after = query(in, "after");
    *out = 0;
    return !*after || strcmp(after, "0") == 0 || id_parse(after, strlen(after), out);
}

static const char *dl_check(const admin_request_in_t *in, admin_dl_filter_t *f)
{
    static const char *const allowed[] = {"adapter", "subscription", "type",
                                          "limit",   "after",        NULL};
    if (!params_known(in, allowed))
        return "unknown query parameter; expected adapter, subscription, type, limit, after";
    f->adapter = query(in, "adapter");
    f->subscription = query(in, "subscription");
    f->type = query(in, "type");
    if ((*f->adapter && !name_ok(f->adapter, strlen(f->adapter))) ||
        (*f->subscription && !name_ok(f->subscription, strlen(f->subscription))))
        return NAMES_WHY;
    if (strlen(f->type) > ADMIN_TYPE_MAX)
        return "type is longer than 128 characters";
    if (!limit_parse(in, ADMIN_DL_LIMIT_DEFAULT, ADMIN_DL_LIMIT_MAX, &f->limit))
        return "limit must be a whole number from 1 to 1000";
    if (!after_parse(in, &f->after))
        return "after must be a dead letter id (a whole number)";
    return NULL;
}

static const char *trace_check(const admin_request_in_t *in, admin_trace_query_t *q)
{
    static const char *const allowed[] = {"event_id", "correlation_id", "master_id",
                                          "source",   "limit",          NULL};
    static const char *const keys[] = {"event_id", "correlation_id", "master_id"};
    if (!params_known(in, allowed))
        return "unknown query parameter; expected event_id, correlation_id or master_id, "
               "source, limit";
    int given = 0;
    for (int k = 0; k < 3; k++)
        if (*query(in, keys[k])) {
            q->key = (trace_key_t)k;
            q->value = query(in, keys[k]);
            given++;
        }
    if (given != 1)
        return "give exactly one of event_id, correlation_id, master_id";
    if (!id_ok(q->value, strlen(q->value)))
        return "the id must be 1 to 256 bytes without control characters";
    q->source = query(in, "source");
    /* An adapter's name, or an internal publisher's ("joinery", "admin:<token name>"). */
    if (*q->source && (q->key != TRACE_EVENT_ID || strlen(q->source) > 80 ||
                       !id_ok(q->source, strlen(q->source))))
        return "source goes with event_id and is the publisher's name (an adapter, joinery, "
               "admin:<token name>)";
    if (!limit_parse(in, TRACE_LIMIT_DEFAULT, TRACE_LIMIT_MAX, &q->limit))
        return "limit must be a whole number from 1 to 100";
    return NULL;
}

static const char *queue_check(const admin_request_in_t *in, admin_request_t *out)
{
    static const char *const allowed[] = {"state", "limit", "after", NULL};
    static const char *const states[] = {"OPEN", "LINKED", "KEPT_APART", "MERGED", "ALL"};
    if (!params_known(in, allowed))
        return "unknown query parameter; expected state, limit, after";
    const char *state = *query(in, "state") ? query(in, "state") : "OPEN";
    out->queue.state = NULL;
    for (size_t i = 0; i < sizeof states / sizeof *states; i++)
        if (strcmp(state, states[i]) == 0)
            out->queue.state = states[i];
    if (!out->queue.state)
        return "state must be one of OPEN, LINKED, KEPT_APART, MERGED, ALL";
    if (!limit_parse(in, STEWARD_LIMIT_DEFAULT, STEWARD_LIMIT_MAX, &out->queue.limit))
        return "limit must be a whole number from 1 to 1000";
    if (!after_parse(in, &out->queue.after))
        return "after must be a queue item id (a whole number)";
    return NULL;
}

static const char *golden_check(const admin_request_in_t *in, admin_golden_search_t *q)
{
    static const char *const allowed[] = {"name",       "birth_date", "postcode",
                                          "nhs_number", "limit",      NULL};
    if (!params_known(in, allowed))
        return "unknown query parameter; expected name, birth_date, postcode, nhs_number, limit";
    q->name = query(in, "name");
    q->birth_date = query(in, "birth_date");
    q->postcode = query(in, "postcode");
    q->nhs_number = query(in, "nhs_number");
    if (!*q->name && !*q->birth_date && !*q->postcode && !*q->nhs_number)
        return "give at least one of name, birth_date, postcode, nhs_number";
    const char *terms[] = {q->name, q->postcode, q->nhs_number};
    for (size_t i = 0; i < 3; i++)
        if (strlen(terms[i]) > GOLDEN_TERM_MAX || (*terms[i] && !id_ok(terms[i], strlen(terms[i]))))
            return "a search term is 1 to 128 characters without control characters";
    if (*q->birth_date && !date_ok(q->birth_date))
        return "birth_date is YYYY-MM-DD";
    if (!limit_parse(in, GOLDEN_LIMIT_DEFAULT, GOLDEN_LIMIT_MAX, &q->limit))
        return "limit must be a whole number from 1 to 100";
    return NULL;
}

/* ---- the body ---- */

/* The body as a JSON object, or NULL with a reason in *WHY. */
static json_t *body_object(const admin_request_in_t *in, const char **why)
{
    if (in->body_too_big) {
        *why = "the request body is larger than 64 KiB";
        return NULL;
    }
    json_t *j = in->body_len ? json_loadb(in->body, in->body_len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        *why = "the request body must be a JSON object";
        return NULL;
    }
    return j;
}

/* {"ids": [1, 2, ...]}: 1 to ADMIN_MAX_REPLAY positive ids. */
static json_t *replay_ids(const admin_request_in_t *in, const char **why)
{
    json_t *j = body_object(in, why);
    if (!j)
        return NULL;
    json_t *ids = json_object_get(j, "ids");
    size_t n = json_array_size(ids);
    bool ok = json_is_array(ids) && n >= 1 && n <= ADMIN_MAX_REPLAY && json_object_size(j) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *v = json_array_get(ids, i);
        ok = json_is_integer(v) && json_integer_value(v) > 0;
    }
    if (!ok) {
        *why = "the body must be {\"ids\": [...]}, 1 to 1000 dead letter ids (positive integers)";
        json_decref(j);
        return NULL;
    }
    json_incref(ids);
    json_decref(j);
    return ids;
}

/* {"reason": "..."} for a discard: OUT->body and OUT->reason, or a reason why not. */
static const char *discard_check(const admin_request_in_t *in, admin_request_t *out)
{
    const char *why = NULL;
    out->body = body_object(in, &why);
    if (!out->body)
        return why;
    out->reason = json_string_value(json_object_get(out->body, "reason"));
    if (!out->reason || !*out->reason || strlen(out->reason) > ADMIN_MAX_REASON)
        return "the body must be {\"reason\": \"...\"}, a reason of 1 to 1000 characters";
    return NULL;
}

/* The API's verb as StewardDecision.action; NULL if there is no such decision. */
static const char *steward_action(const char *p, size_t len)
{
    static const char *const verbs[][2] = {
        {"link", "link"}, {"keep-apart", "keep_apart"}, {"merge", "merge"}, {"unmerge", "unmerge"}};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        if (strlen(verbs[i][0]) == len && memcmp(p, verbs[i][0], len) == 0)
            return verbs[i][1];
    return NULL;
}

/* The decision's arguments for the core (new), or NULL with a reason in *WHY: link and
 * keep-apart name a queue item or two records, merge and unmerge two records (survivor
 * first); every decision has a reason, and the body holds nothing else. A queue item comes
 * without master ids: a stray one would be journaled in the decision unchecked (and quoted in
 * the engine's refusal) though the item's own records are the ones decided on. */
static json_t *decision_args(json_t *body, const char *action, const char *who, const char **why)
{
    json_t *q = json_object_get(body, "queue_id");
    json_t *ja = json_object_get(body, "master_id_a"), *jb = json_object_get(body, "master_id_b");
    const char *a = json_string_value(ja), *b = json_string_value(jb);
    const char *reason = json_string_value(json_object_get(body, "reason"));
    bool by_queue = strcmp(action, "link") == 0 || strcmp(action, "keep_apart") == 0;
    bool ids = a && b && id_ok(a, strlen(a)) && id_ok(b, strlen(b)) &&
               strlen(a) <= ADMIN_MASTER_ID_MAX && strlen(b) <= ADMIN_MASTER_ID_MAX;
    bool queue = json_is_integer(q) && json_integer_value(q) > 0;
    size_t known = (q != NULL) + (ja != NULL) + (jb != NULL) + (reason != NULL);
    if (!reason || !*reason || strlen(reason) > ADMIN_MAX_REASON) {
        *why = "a decision needs \"reason\": 1 to 1000 characters";
        return NULL;
    }
    bool by_item = by_queue && queue && !ja && !jb, by_ids = ids && !q;
    if (known != json_object_size(body) || !(by_item || by_ids)) {
        *why = by_queue ? "the body is {\"queue_id\": N} or {\"master_id_a\": ..., "
                          "\"master_id_b\": ...}, with \"reason\""
                        : "the body is {\"master_id_a\": survivor, \"master_id_b\": retired, "
                          "\"reason\": ...}";
        return NULL;
    }
    json_t *args =
        json_pack("{ss ss ss sI ss ss}", "action", action, "master_id_a", by_ids ? a : "",
                  "master_id_b", by_ids ? b : "", "queue_id",
                  (json_int_t)(by_item ? json_integer_value(q) : 0), "reason", reason, "who", who);
    if (!args)
        *why = "out of memory";
    return args;
}

static const char *decide_check(const admin_request_in_t *in, const char *action,
                                admin_request_t *out)
{
    const char *why = NULL;
    json_t *body = body_object(in, &why);
    out->decision = body ? decision_args(body, action, out->who, &why) : NULL;
    json_decref(body);
    return why;
}

/* ---- routing ---- */

/* The role an API path needs for METHOD; 0 (any token) for /metrics by another method. */
static admin_role_t role_needed(const char *method, const path_t *p)
{
    bool get = strcmp(method, "GET") == 0;
    if (seg_is(p, 0, "metrics") && p->n == 1)
        return get ? ADMIN_ROLE_READ : 0;
    if (seg_is(p, 2, "steward") && !get)
        return ADMIN_ROLE_STEWARD;
    return get ? ADMIN_ROLE_READ : ADMIN_ROLE_OPERATE;
}

/* EP taken if WHY is NULL, else refused with 400 and WHY ("out of memory" is a 500). */
static int checked(admin_request_t *out, admin_endpoint_t ep, const char *why)
{
    if (!why) {
        out->ep = ep;
        return 0;
    }
    return refuse(out, strcmp(why, "out of memory") == 0 ? 500 : 400, why);
}

/* The dead-letter endpoints: /api/v1/dead-letters[/replay | /{id}[/replay | /discard]]. */
static int route_dead_letters(const admin_request_in_t *in, const path_t *p, admin_request_t *out)
{
    bool get = strcmp(in->method, "GET") == 0, post = strcmp(in->method, "POST") == 0,
         del = strcmp(in->method, "DELETE") == 0;
    const char *why = NULL;
    if (p->n == 3 && get)
        return checked(out, ADMIN_EP_DEAD_LETTERS, dl_check(in, &out->dl));
    if (p->n == 4 && seg_is(p, 3, "replay") && post) {
        out->ids = replay_ids(in, &why);
        return checked(out, ADMIN_EP_REPLAY, why);
    }
    if (p->n >= 4 && !id_parse(p->seg[3], p->len[3], &out->id))
        return refuse(out, 400, "a dead letter id is a positive whole number");
    if (p->n == 4 && get)
        return checked(out, ADMIN_EP_DEAD_LETTER, NULL);
    if (p->n == 5 && seg_is(p, 4, "replay") && post) {
        out->ids = json_pack("[I]", (json_int_t)out->id);
        return checked(out, ADMIN_EP_REPLAY, out->ids ? NULL : "out of memory");
    }
    if (p->n == 5 && seg_is(p, 4, "discard") && post)
        return checked(out, ADMIN_EP_DISCARD, discard_check(in, out));
    return refuse(out, (get || post || del) ? 404 : 405, "no such endpoint");
}

static int route(const admin_request_in_t *in, const path_t *p, admin_request_t *out)
{
    bool get = strcmp(in->method, "GET") == 0, post = strcmp(in->method, "POST") == 0,
         del = strcmp(in->method, "DELETE") == 0;
    if (seg_is(p, 0, "metrics") && p->n == 1)
        return get ? checked(out, ADMIN_EP_METRICS, NULL) : refuse(out, 405, "use GET");
    if (!seg_is(p, 0, "api") || !seg_is(p, 1, "v1"))
        return refuse(out, 404, "no such endpoint");
    if (seg_is(p, 2, "adapters") && p->n == 3 && get)
        return checked(out, ADMIN_EP_ADAPTERS, NULL);
    if (seg_is(p, 2, "subscriptions") && p->n == 3 && get)
        return checked(out, ADMIN_EP_SUBSCRIPTIONS, NULL);
    if (seg_is(p, 2, "subscriptions") && p->n == 5 && del) {
        if (!name_ok(p->seg[3], p->len[3]) || !name_ok(p->seg[4], p->len[4]))
            return refuse(out, 400, NAMES_WHY);
        memcpy(out->adapter, p->seg[3], p->len[3]);
        memcpy(out->name, p->seg[4], p->len[4]);
        return checked(out, ADMIN_EP_DELETE_SUBSCRIPTION, NULL);
    }
    if (seg_is(p, 2, "trace") && p->n == 3 && get)
        return checked(out, ADMIN_EP_TRACE, trace_check(in, &out->trace));
    if (seg_is(p, 2, "steward") && seg_is(p, 3, "queue") && p->n == 4 && get)
        return checked(out, ADMIN_EP_STEWARD_QUEUE, queue_check(in, out));
    const char *action = p->n == 4 ? steward_action(p->seg[3], p->len[3]) : NULL;
    if (seg_is(p, 2, "steward") && p->n == 4 && post && action)
        return checked(out, ADMIN_EP_DECIDE, decide_check(in, action, out));
    if (seg_is(p, 2, "reload") && p->n == 3 && post)
        return checked(out, ADMIN_EP_RELOAD, NULL);
    if (seg_is(p, 2, "golden") && p->n == 3 && get)
        return checked(out, ADMIN_EP_GOLDEN_SEARCH, golden_check(in, &out->golden));
    if (seg_is(p, 2, "golden") && p->n == 4 && get) {
        if (!id_ok(p->seg[3], p->len[3]))
            return refuse(out, 400, "a master id is 1 to 256 bytes");
        memcpy(out->master_id, p->seg[3], p->len[3]);
        return checked(out, ADMIN_EP_GOLDEN, NULL);
    }
    if (!seg_is(p, 2, "dead-letters"))
        return refuse(out, 404, "no such endpoint");
    return route_dead_letters(in, p, out);
}

/* Everything but the body's JSON values, which stay for admin_request_clear. */
static int admitted(const config_t *cfg, const admin_request_in_t *in, admin_request_t *out)
{
    path_t p;
    if (!path_split(in->path, &p))
        return refuse(out, 404, "no such endpoint");
    bool get = strcmp(in->method, "GET") == 0;
    /* For load balancers and service managers: no token, and nothing in the answer but
     * whether. */
    if (p.n == 1 && (seg_is(&p, 0, "healthz") || seg_is(&p, 0, "readyz"))) {
        if (!get)
            return refuse(out, 405, "use GET");
        out->ep = seg_is(&p, 0, "healthz") ? ADMIN_EP_HEALTHZ : ADMIN_EP_READYZ;
        return 0;
    }
    const char *who = NULL;
    switch (admin_auth_check(cfg, in->authorization, role_needed(in->method, &p), &who)) {
    case AUTH_MISSING:
        return refuse(out, 401, "an Authorization: Bearer token is required");
    case AUTH_WRONG:
        return refuse(out, 401, "the token is not valid");
    case AUTH_FORBIDDEN:
        return refuse(out, 403, "the token's role does not allow this");
    case AUTH_OK:
        break;
    }
    out->who = who;
    return route(in, &p, out);
}

int admin_request_parse(const config_t *cfg, const admin_request_in_t *in, admin_request_t *out)
{
    memset(out, 0, sizeof *out);
    if (admitted(cfg, in, out) != 0) {
        /* A refusal holds nothing. */
        out->ep = ADMIN_EP_NONE;
        admin_request_clear(out);
    }
    return out->status;
}

void admin_request_clear(admin_request_t *out)
{
    json_decref(out->ids);
    json_decref(out->decision);
    json_decref(out->body);
    out->ids = out->decision = out->body = NULL;
    out->reason = NULL;
}
