/* cli_event.c - JSON <-> joinery_event_t for the CLI, with jansson and libsodium's base64. */
#include "cli_event.h"
#include "cli_common.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_string(json_t *root, const char *key, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_int(json_t *root, const char *key, long long min, long long *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        snprintf(err, errlen, "\"%s\" must be a whole number >= %lld", key, min);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static const char *const known_keys[] = {"type",
                                         "source_record_id",
                                         "event_id",
                                         "payload_type",
                                         "payload",
                                         "payload_b64",
                                         "attributes",
                                         "correlation_id",
                                         "causation_id",
                                         "occurred_at",
                                         "base_version",
                                         "schema_version",
                                         NULL};

static void unknown_key(const char *key, char *err, size_t errlen)
{
    const char *near = cli_closest(key, known_keys);
    if (near != NULL) {
        snprintf(err, errlen, "unknown key \"%s\": did you mean \"%s\"?", key, near);
        return;
    }
    size_t used = (size_t)snprintf(err, errlen, "unknown key \"%s\"; the keys are", key);
    for (size_t i = 0; known_keys[i] != NULL && used < errlen; i++) {
        used += (size_t)snprintf(err + used, errlen - used, "%s %s", i ? "," : "", known_keys[i]);
    }
}

/* Microseconds since 1970 before this are 1973 or earlier: far likelier seconds or
 * milliseconds, which the hub would take as a moment in January 1970. */
#define OCCURRED_AT_MIN_US 100000000000000LL

static int get_occurred_at(json_t *root, long long *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "occurred_at");
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    long long us = json_is_integer(v) ? json_integer_value(v) : -1;
    if (us < 0 || (us > 0 && us < OCCURRED_AT_MIN_US)) {
        snprintf(err, errlen,
                 "\"occurred_at\" is a whole number of microseconds since 1970-01-01 UTC, such "
                 "as %lld for 2026-01-01; %s",
                 1767225600000000LL,
                 us > 0 ? "this one looks like seconds or milliseconds"
                        : "not text or a negative number; leave it out for the time of "
                          "publishing");
        return -1;
    }
    *out = us;
    return 0;
}

int cli_event_parse(const char *text, cli_event_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    out->root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL) {
        snprintf(err, errlen, "not JSON (line %d, column %d): %s", jerr.line, jerr.column,
                 jerr.text);
        return -1;
    }
    json_t *root = out->root;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the event must be a JSON object");
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        int known = 0;
        for (size_t i = 0; known_keys[i] != NULL; i++) {
            known |= strcmp(key, known_keys[i]) == 0;
        }
        if (!known) {
            unknown_key(key, err, errlen);
            goto fail;
        }
    }
    joinery_event_t *ev = &out->ev;
    long long occurred = 0, base = 0, schema = 0;
    if (get_string(root, "type", &ev->type, err, errlen) != 0 ||
        get_string(root, "source_record_id", &ev->source_record_id, err, errlen) != 0 ||
        get_string(root, "event_id", &ev->event_id, err, errlen) != 0 ||
        get_string(root, "payload_type", &ev->payload_type, err, errlen) != 0 ||
        get_string(root, "correlation_id", &ev->correlation_id, err, errlen) != 0 ||
        get_string(root, "causation_id", &ev->causation_id, err, errlen) != 0 ||
        get_occurred_at(root, &occurred, err, errlen) != 0 ||
        get_int(root, "base_version", 0, &base, err, errlen) != 0 ||
        get_int(root, "schema_version", 0, &schema, err, errlen) != 0) {
        goto fail;
    }
    if (ev->type == NULL || ev->type[0] == '\0') {
        snprintf(err, errlen, "\"type\" is required");
        goto fail;
    }
    if (schema > UINT32_MAX) {
        snprintf(err, errlen, "\"schema_version\" is too large");
        goto fail;
    }
    ev->occurred_at_us = occurred;
    ev->base_version = (uint64_t)base;
    ev->schema_version = (uint32_t)schema;

    json_t *payload = json_object_get(root, "payload");
    json_t *b64 = json_object_get(root, "payload_b64");
    if (payload != NULL && b64 != NULL) {
        snprintf(err, errlen, "give \"payload\" or \"payload_b64\", not both");
        goto fail;
    }
    if (b64 != NULL) {
        if (!json_is_string(b64)) {
            snprintf(err, errlen, "\"payload_b64\" must be a base64 string");
            goto fail;
        }
        size_t in = json_string_length(b64), n = 0;
        out->payload = malloc(in / 4 * 3 + 3);
        if (out->payload == NULL ||
            sodium_base642bin((unsigned char *)out->payload, in / 4 * 3 + 3, json_string_value(b64),
                              in, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
            snprintf(err, errlen, "\"payload_b64\" is not valid base64");
            goto fail;
        }
        ev->payload = out->payload;
        ev->payload_len = n;
    } else if (json_is_string(payload)) {
        ev->payload = json_string_value(payload);
        ev->payload_len = json_string_length(payload);
    } else if (payload != NULL && !json_is_null(payload)) {
        out->payload = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
        if (out->payload == NULL) {
            snprintf(err, errlen, "cannot serialise \"payload\"");
            goto fail;
        }
        ev->payload = out->payload;
        ev->payload_len = strlen(out->payload);
        if (ev->payload_type == NULL) {
            ev->payload_type = "application/json";
        }
    }

    json_t *attrs = json_object_get(root, "attributes");
    if (attrs != NULL && !json_is_null(attrs)) {
        if (!json_is_object(attrs)) {
            snprintf(err, errlen, "\"attributes\" must be an object of strings");
            goto fail;
        }
        size_t n = json_object_size(attrs), i = 0;
        out->attrs = calloc(n ? n : 1, sizeof *out->attrs);
        if (out->attrs == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        json_object_foreach(attrs, key, val)
        {
            if (!json_is_string(val)) {
                snprintf(err, errlen, "attribute \"%s\" must be a string", key);
                goto fail;
            }
            out->attrs[i].key = key;
            out->attrs[i].value = json_string_value(val);
            i++;
        }
        ev->attrs = out->attrs;
        ev->nattrs = n;
    }
    return 0;
fail:
    cli_event_free(out);
    return -1;
}

void cli_event_free(cli_event_t *e)
{
    json_decref(e->root);
    free(e->payload);
    free(e->attrs);
    memset(e, 0, sizeof *e);
}

/* Text is what a person can read in a terminal: valid UTF-8 (jansson checks) and no control
 * characters but tab and newlines. */
static json_t *payload_text(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') || b[i] == 0x7f) {
            return NULL;
        }
    }
    return json_stringn(len ? p : "", len);
}

json_t *cli_event_json(const joinery_event_t *ev, uint64_t seq, unsigned attempt)
{
    json_t *attrs = json_object();
    for (size_t i = 0; attrs != NULL && i < ev->nattrs; i++) {
        json_t *v = json_string(ev->attrs[i].value);
        json_object_set_new(attrs, ev->attrs[i].key, v ? v : json_string("(not UTF-8)"));
    }
    json_t *o = json_pack(
        "{s:I, s:i, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:s?, s:o, s:s?, s:s?}", "seq",
        (json_int_t)seq, "attempt", (int)attempt, "event_id", ev->event_id, "type", ev->type,
        "source", ev->source, "source_record_id", ev->source_record_id, "master_id", ev->master_id,
        "occurred_at", (json_int_t)ev->occurred_at_us, "received_at",
        (json_int_t)ev->received_at_us, "payload_type", ev->payload_type, "attributes", attrs,
        "correlation_id", ev->correlation_id, "causation_id", ev->causation_id);
    if (o == NULL) {
        return NULL;
    }
    json_t *text = payload_text(ev->payload, ev->payload_len);
    if (text != NULL) {
        json_object_set_new(o, "payload", text);
    } else {
        size_t cap = sodium_base64_ENCODED_LEN(ev->payload_len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        if (b64 != NULL) {
            sodium_bin2base64(b64, cap, ev->payload, ev->payload_len,
                              sodium_base64_VARIANT_ORIGINAL);
            json_object_set_new(o, "payload_b64", json_string(b64));
            free(b64);
        }
    }
    return o;
}

const char *cli_status_name(joinery_status_t s)
{
    switch (s) {
    case JOINERY_OK:
        return "OK";
    case JOINERY_DUPLICATE:
        return "DUPLICATE";
    case JOINERY_REJECTED:
        return "REJECTED";
    case JOINERY_UNCONFIRMED:
        return "UNCONFIRMED";
    }
    return "UNKNOWN";
}

json_t *cli_confirm_json(const joinery_confirm_t *cf)
{
    return json_pack("{s:s?, s:s, s:I, s:s?, s:s?}", "event_id", cf->event_id, "status",
                     cli_status_name(cf->status), "seq", (json_int_t)cf->seq, "master_id",
                     cf->master_id, "reason", cf->reason);
}

int cli_print_line(json_t *v)
{
    if (v == NULL) {
        fprintf(stderr, "joinery: cannot render JSON (not UTF-8?)\n");
        return -1;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL) {
        return -1;
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(s);
    return 0;
}
