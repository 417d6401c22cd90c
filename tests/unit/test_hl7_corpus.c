/* test_hl7_corpus.c - the 139 real-world HL7 v2 samples in tests/data/hl7v2 (none written here),
 * sent as one MLLP stream in awkward chunks through the whole inbound path the adapter will run:
 * framer, parser, mapping, ACK. Every message must come out of the framer whole, be answered
 * with MSA-2 equal to its MSH-10, and the mapped ADT types must give the events they should: the
 * counts below are the corpus's, by message type, event and ACK code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/hl7.h"
#include "health/hl7_ack.h"
#include "health/hl7_map.h"
#include "health/mllp.h"

#define MAX_FILES 200
#define MAX_FRAME (256 * 1024)

typedef struct {
    char name[96];
    unsigned char *data;
    size_t len;
} sample_t;

typedef struct {
    sample_t files[MAX_FILES];
    size_t n;
} corpus_t;

typedef struct {
    hl7_msg_t *msg, *ack_msg;
    hl7_mapped_t *mapped;
    hl7_map_opts_t opts;
    size_t frames, parsed, mapped_n, unmapped, refused;
    size_t by_event[5];
    size_t by_ack[3];
    size_t adt, with_issues;
    size_t garbage;
    char types[16][8];
    size_t type_count[16], ntypes;
    char ack[8192];
    int verbose;
    const corpus_t *corpus;
} run_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const sample_t *)a)->name, ((const sample_t *)b)->name);
}

static void load(corpus_t *c)
{
    const char *src = getenv("JOINERY_SOURCE_DIR");
    char dir[1024];
    (void)snprintf(dir, sizeof dir, "%s/tests/data/hl7v2", src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".hl7") != 0)
            continue;
        assert_true(c->n < MAX_FILES);
        sample_t *s = &c->files[c->n++];
        (void)snprintf(s->name, sizeof s->name, "%s", e->d_name);
        char path[1200];
        (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        s->data = malloc(MAX_FRAME);
        assert_non_null(s->data);
        s->len = fread(s->data, 1, MAX_FRAME, f);
        assert_true(s->len > 0 && s->len < MAX_FRAME);
        fclose(f);
    }
    closedir(d);
    qsort(c->files, c->n, sizeof c->files[0], by_name);
}

static void unload(corpus_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->files[i].data);
}

/* The ACK must parse, answer with MSA-2 = the message's MSH-10, and carry the code given. */
static void check_ack(run_t *r, const char *ack, size_t len, hl7_ack_code_t code)
{
    char err[256];
    assert_int_equal(hl7_parse(r->ack_msg, ack, len, err, sizeof err), 0);
    long msa = hl7_segment_find(r->ack_msg, "MSA", 0);
    assert_true(msa == 1);
    hl7_span_t a, b;
    assert_int_equal(hl7_get(r->ack_msg, (size_t)msa, 1, 1, 0, 0, &a), 0);
    assert_int_equal(a.n, 2);
    assert_memory_equal(a.p, hl7_ack_code_name(code), 2);
    (void)hl7_get(r->ack_msg, (size_t)msa, 2, 0, 0, 0, &a);
    (void)hl7_get(r->msg, 0, 10, 0, 0, 0, &b);
    assert_int_equal(a.n, b.n);
    if (a.n)
        assert_memory_equal(a.p, b.p, a.n);
}

static int on_event(void *ctx, const mllp_event_t *ev)
{
    run_t *r = ctx;
    if (ev->kind == MLLP_GARBAGE) {
        r->garbage += ev->total;
        return 0;
    }
    assert_int_equal(ev->kind, MLLP_FRAME);
    const sample_t *s = &r->corpus->files[r->frames % r->corpus->n];
    r->frames++;
    char err[256] = "";
    if (hl7_parse(r->msg, ev->data, ev->len, err, sizeof err) == 0)
        r->parsed++;
    else
        fail_msg("%s does not parse: %s", s->name, err);
    int rc = hl7_map_adt(r->msg, &r->opts, r->mapped, err, sizeof err);
    hl7_mapped_t *m = r->mapped;
    if (strcmp(m->type, "ADT") == 0)
        r->adt++;
    size_t t = 0;
    while (t < r->ntypes && strcmp(r->types[t], m->type) != 0)
        t++;
    if (t == r->ntypes) {
        assert_true(t < 16);
        memcpy(r->types[t], m->type, sizeof r->types[t]);
        r->ntypes++;
    }
    r->type_count[t]++;
    if (rc == 0) {
        r->mapped_n++;
        r->by_event[m->event]++;
        if (m->n_issues)
            r->with_issues++;
    } else if (rc == 1) {
        r->unmapped++;
    } else {
        r->refused++;
    }
    r->by_ack[m->ack]++;
    if (r->verbose) {
        printf("%-40s %s^%s rc=%d %s %s id=%s", s->name, m->type, m->trigger, rc,
               hl7_event_name(m->event), hl7_ack_code_name(m->ack),
               m->source_record_id ? m->source_record_id : "-");
        for (size_t i = 0; i < m->n_issues; i++)
            printf(" [%s]", m->issues[i].text);
        printf("\n");
    }
    hl7_ack_t a = hl7_mapped_ack(m);
    a.timestamp = "20240101120000+0000";
    a.control_id = "ACK1";
    size_t len;
    assert_int_equal(hl7_ack_build(r->msg, &a, r->ack, sizeof r->ack, &len, err, sizeof err), 0);
    check_ack(r, r->ack, len, m->ack);
    return 0;
}

/* All samples framed back to back (with a stray newline after every fifth, as some senders do)
 * and fed in chunks of CHUNK bytes. LF_TO_CR: segments ended by \r, as on the wire. */
static void run(run_t *r, const corpus_t *c, size_t chunk, int lf_to_cr)
{
    size_t cap = 0;
    for (size_t i = 0; i < c->n; i++)
        cap += c->files[i].len + 4;
    unsigned char *stream = malloc(cap);
    assert_non_null(stream);
    size_t n = 0, stray = 0;
    for (size_t i = 0; i < c->n; i++) {
        stream[n++] = MLLP_START;
        for (size_t k = 0; k < c->files[i].len; k++) {
            unsigned char b = c->files[i].data[k];
            stream[n++] = (lf_to_cr && b == '\n') ? '\r' : b;
        }
        stream[n++] = MLLP_END;
        stream[n++] = MLLP_END2;
        if (i % 5 == 4) {
            stream[n++] = '\n';
            stray++;
        }
    }
    mllp_t *f = mllp_new(MAX_FRAME);
    assert_non_null(f);
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        assert_int_equal(mllp_feed(f, stream + off, len, on_event, r), 0);
    }
    assert_int_equal(mllp_reset(f), 0);
    assert_int_equal(r->garbage, stray);
    mllp_destroy(&f);
    free(stream);
}

static size_t type_count(const run_t *r, const char *type)
{
    for (size_t i = 0; i < r->ntypes; i++)
        if (strcmp(r->types[i], type) == 0)
            return r->type_count[i];
    return 0;
}

static void check_counts(const run_t *r)
{
    static const struct {
        const char *type;
        size_t n;
    } types[] = {{"ADT", 59}, {"BAR", 6}, {"DFT", 4}, {"MDM", 13}, {"OMG", 2},
                 {"OML", 4},  {"ORM", 8}, {"ORU", 5}, {"OUL", 6},  {"PPR", 3},
                 {"RDE", 4},  {"RDS", 2}, {"REF", 4}, {"SIU", 15}, {"VXU", 4}};
    assert_int_equal(r->ntypes, sizeof types / sizeof types[0]);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_int_equal(type_count(r, types[i].type), types[i].n);
    /* 139 messages, 59 of them ADT; the six mapped triggers occur 5 (A01, counting MDM_01.hl7,
     * which is an A01 whatever its name says), 2 (A03), 2 (A08), 2 (A28), 2 (A31), 2 (A40). */
    assert_int_equal(r->frames, 139);
    assert_int_equal(r->parsed, 139);
    assert_int_equal(r->adt, 59);
    assert_int_equal(r->by_event[HL7_EVENT_ADMISSION], 5);
    assert_int_equal(r->by_event[HL7_EVENT_DISCHARGE], 2);
    assert_int_equal(r->by_event[HL7_EVENT_PERSON_UPDATED], 6);
    assert_int_equal(r->by_event[HL7_EVENT_PERSON_MERGED], 2);
    assert_int_equal(r->mapped_n, 15);
    assert_int_equal(r->refused, 0);
    assert_int_equal(r->unmapped, 139 - 15);
    /* The samples are American: four ADT messages give a ZIP code and no country, which as a UK
     * postcode is refused on its own (AE, the rest published); the others say USA, or have no
     * postcode. */
    assert_int_equal(r->with_issues, 4);
}

static void corpus_accept_unmapped(void **state)
{
    const corpus_t *c = *state;
    run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->corpus = c;
    r->verbose = getenv("HL7_CORPUS_VERBOSE") != NULL;
    r->msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
    r->ack_msg = hl7_msg_new(16);
    r->mapped = calloc(1, sizeof *r->mapped);
    r->opts = (hl7_map_opts_t){.today = "2024-06-01", .unmapped = HL7_UNMAPPED_ACCEPT};
    run(r, c, 997, 0);
    check_counts(r);
    assert_int_equal(r->by_ack[HL7_AA], 139 - 4);
    assert_int_equal(r->by_ack[HL7_AE], 4);
    assert_int_equal(r->by_ack[HL7_AR], 0);
    hl7_msg_destroy(&r->msg);
    hl7_msg_destroy(&r->ack_msg);
    free(r->mapped);
    free(r);
}

/* The same as the trust would send it (\r after each segment), one byte per read, with the
 * unmapped types refused: AR for each of them, nothing else changes. */
static void corpus_byte_by_byte_reject_unmapped(void **state)
{
    const corpus_t *c = *state;
    run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->corpus = c;
    r->msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
    r->ack_msg = hl7_msg_new(16);
    r->mapped = calloc(1, sizeof *r->mapped);
    r->opts = (hl7_map_opts_t){.today = "2024-06-01", .unmapped = HL7_UNMAPPED_REJECT};
    run(r, c, 1, 1);
    check_counts(r);
    assert_int_equal(r->by_ack[HL7_AA], 15 - 4);
    assert_int_equal(r->by_ack[HL7_AE], 4);
    assert_int_equal(r->by_ack[HL7_AR], 139 - 15);
    hl7_msg_destroy(&r->msg);
    hl7_msg_destroy(&r->ack_msg);
    free(r->mapped);
    free(r);
}

static int setup(void **state)
{
    corpus_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    load(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    unload(*state);
    free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_accept_unmapped),
        cmocka_unit_test(corpus_byte_by_byte_reject_unmapped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
