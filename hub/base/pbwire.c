/* pbwire.c - see pbwire.h. Every length read from the wire is checked against
 * the end of the buffer before it is used. */
#include "base/pbwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_varint(pb_reader_t *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

int pb_next_varint(pb_reader_t *r, uint64_t *v)
{
    return read_varint(r, v);
}

int pb_next(pb_reader_t *r, pb_field_t *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (read_varint(r, &key) < 0)
        return -1;
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->field == 0 || key >> 3 > 0x1fffffff)
        return -1;
    f->ptr = NULL;
    f->len = 0;
    f->u = 0;
    switch (f->wire) {
    case PB_VARINT:
        return read_varint(r, &f->u) < 0 ? -1 : 1;
    case PB_I64:
        if (r->end - r->p < 8)
            return -1;
        memcpy(&f->u, r->p, 8);
        r->p += 8;
        return 1;
    case PB_I32: {
        uint32_t v;
        if (r->end - r->p < 4)
            return -1;
        memcpy(&v, r->p, 4);
        f->u = v;
        r->p += 4;
        return 1;
    }
    case PB_LEN: {
        uint64_t n;
        if (read_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        f->ptr = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return -1; /* groups are not used by our schemas */
    }
}

static int set_str(const pb_field_t *f, const char **s, uint16_t *len, const char *name, char *why,
                   size_t why_len)
{
    if (f->wire != PB_LEN || f->len > 65535) {
        snprintf(why, why_len, "envelope field %s is not a string of at most 65535 bytes", name);
        return -1;
    }
    *s = (const char *)f->ptr;
    *len = (uint16_t)f->len;
    return 0;
}

static int set_int(const pb_field_t *f, uint64_t *v, const char *name, char *why, size_t why_len)
{
    if (f->wire != PB_VARINT) {
        snprintf(why, why_len, "envelope field %s is not a varint", name);
        return -1;
    }
    *v = f->u;
    return 0;
}

int pb_envelope_parse(const uint8_t *buf, size_t len, pb_envelope_t *e, char *why, size_t why_len)
{
    memset(e, 0, sizeof *e);
    pb_reader_t r = {buf, buf + len};
    pb_field_t f;
    int rc;
    uint64_t u = 0;
    while ((rc = pb_next(&r, &f)) == 1) {
        int bad = 0;
        switch (f.field) {
        case 1:
            bad = set_str(&f, &e->event_id, &e->event_id_len, "event_id", why, why_len);
            break;
        case 2:
            bad = set_str(&f, &e->type, &e->type_len, "type", why, why_len);
            break;
        case 3:
            bad = set_str(&f, &e->source, &e->source_len, "source", why, why_len);
            break;
        case 4:
            bad = set_str(&f, &e->source_record_id, &e->source_record_id_len, "source_record_id",
                          why, why_len);
            break;
        case 5:
            bad = set_str(&f, &e->master_id, &e->master_id_len, "master_id", why, why_len);
            break;
        case 6:
            bad = set_int(&f, &u, "occurred_at", why, why_len);
            e->occurred_at = (int64_t)u;
            break;
        case 7:
            bad = set_int(&f, &u, "received_at", why, why_len);
            e->received_at = (int64_t)u;
            break;
        case 8:
            bad = set_str(&f, &e->correlation_id, &e->correlation_id_len, "correlation_id", why,
                          why_len);
            break;
        case 11:
            bad = set_str(&f, &e->payload_type, &e->payload_type_len, "payload_type", why, why_len);
            break;
        case 12:
            if (f.wire != PB_LEN) {
                snprintf(why, why_len, "envelope field payload is not bytes");
                bad = -1;
            }
            e->payload = f.ptr;
            e->payload_len = f.len;
            break;
        case 14:
            bad = set_int(&f, &e->base_version, "base_version", why, why_len);
            break;
        default:
            break; /* other fields travel untouched */
        }
        if (bad)
            return -1;
    }
    if (rc < 0) {
        snprintf(why, why_len, "envelope is not valid protobuf (truncated or corrupt)");
        return -1;
    }
    return 0;
}

int pb_buf_reserve(pb_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

void pb_buf_free(pb_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(pb_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

size_t pb_field_size_len(uint32_t field, size_t len)
{
    return pb_varint_size((uint64_t)field << 3) + pb_varint_size(len) + len;
}

size_t pb_field_size_varint(uint32_t field, uint64_t v)
{
    return pb_varint_size((uint64_t)field << 3) + pb_varint_size(v);
}

int pb_put_varint_field(pb_buf_t *b, uint32_t field, uint64_t v)
{
    if (pb_buf_reserve(b, 20) < 0)
        return -1;
    put_varint(b, (uint64_t)field << 3); /* wire type PB_VARINT is 0 */
    put_varint(b, v);
    return 0;
}

int pb_put_len_header(pb_buf_t *b, uint32_t field, size_t len)
{
    if (pb_buf_reserve(b, 20) < 0)
        return -1;
    put_varint(b, (uint64_t)field << 3 | PB_LEN);
    put_varint(b, len);
    return 0;
}

int pb_put_raw(pb_buf_t *b, const void *p, size_t len)
{
    if (pb_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

int pb_put_bytes_field(pb_buf_t *b, uint32_t field, const void *p, size_t len)
{
    if (pb_put_len_header(b, field, len) < 0)
        return -1;
    return pb_put_raw(b, p, len);
}
