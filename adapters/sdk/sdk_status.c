/* sdk_status.c - StatusReply -> JSON with jansson. */
#include "sdk_status.h"

#include <jansson.h>

/* JSON numbers are doubles for most consumers; counters stay well below 2^53 in practice and
 * jansson keeps them exact as integers anyway. */
static json_t *u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *adapter_json(const Joinery__V1__AdapterStatus *a)
{
    return json_pack("{s:s, s:b, s:o, s:o, s:I, s:o, s:o}", "name", a->name, "connected",
                     a->connected, "published", u64(a->published), "delivered", u64(a->delivered),
                     "last_seen_us", (json_int_t)a->last_seen_us, "rejected", u64(a->rejected),
                     "refusals_dropped", u64(a->refusals_dropped));
}

static json_t *subscription_json(const Joinery__V1__SubscriptionStatus *s)
{
    json_t *patterns = json_array();
    for (size_t i = 0; patterns != NULL && i < s->n_patterns; i++) {
        json_array_append_new(patterns, json_string(s->patterns[i]));
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:b}", "adapter", s->adapter, "subscription",
                     s->subscription, "patterns", patterns, "acked_seq", u64(s->acked_seq), "lag",
                     u64(s->lag), "in_flight", (int)s->in_flight, "connected", s->connected);
}

char *sdk_status_json(const Joinery__V1__StatusReply *r)
{
    json_t *adapters = json_array();
    json_t *subs = json_array();
    for (size_t i = 0; adapters != NULL && i < r->n_adapters; i++) {
        json_array_append_new(adapters, adapter_json(r->adapters[i]));
    }
    for (size_t i = 0; subs != NULL && i < r->n_subscriptions; i++) {
        json_array_append_new(subs, subscription_json(r->subscriptions[i]));
    }
    json_t *root = json_pack("{s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "hub_version",
                             r->hub_version, "database_up", r->database_up, "database_state",
                             r->database_state, "failed_commits", u64(r->failed_commits),
                             "refusals_dropped", u64(r->refusals_dropped), "head_seq",
                             u64(r->head_seq), "dead_letters", u64(r->dead_letters), "rejected",
                             u64(r->rejected), "adapters", adapters, "subscriptions", subs);
    if (root == NULL) {
        return NULL;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
