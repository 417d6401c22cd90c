/* e2e_publisher - publishes COUNT events through libjoinery at about RATE
 * events/s, over ENTITIES records, with event ids "PREFIX-i", and writes each
 * confirmed event id to OUT. Exits 0 once every event is confirmed OK or
 * DUPLICATE; the test kills and restarts the hub and PostgreSQL meanwhile.
 *
 * Event i is about record "ent-(i % ENTITIES)" and is that record's n-th
 * event as published (n from 1). The payload says so, {"i":i,"n":n}, and
 * PUBLISHED gets one line "event_id record n" per event, written as it is
 * handed to the SDK: the order a subscriber and the journal must keep per
 * record is this one.
 *
 *   e2e_publisher ENDPOINT ADAPTER KEYDIR|- COUNT ENTITIES RATE PREFIX OUT PUBLISHED */
#include <joinery/joinery.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    FILE *out;
    size_t confirmed, rejected;
} state_t;

static void on_confirm(void *ud, const joinery_confirm_t *c)
{
    state_t *st = ud;
    if (c->status == JOINERY_OK || c->status == JOINERY_DUPLICATE) {
        fprintf(st->out, "%s %llu\n", c->event_id, (unsigned long long)c->seq);
        st->confirmed++;
    } else {
        fprintf(stderr, "e2e_publisher: %s not confirmed (%d): %s\n", c->event_id, c->status,
                c->reason);
        st->rejected++;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: e2e_publisher ENDPOINT ADAPTER KEYDIR|- COUNT ENTITIES RATE "
                        "PREFIX OUT PUBLISHED\n");
        return 2;
    }
    char *end;
    unsigned long count = strtoul(argv[4], &end, 10), entities = strtoul(argv[5], NULL, 10);
    double rate = strtod(argv[6], NULL);
    if (*end || !count || !entities || rate <= 0) {
        fprintf(stderr, "e2e_publisher: bad COUNT, ENTITIES or RATE\n");
        return 2;
    }
    state_t st = {fopen(argv[8], "w"), 0, 0};
    if (!st.out) {
        perror(argv[8]);
        return 1;
    }
    setvbuf(st.out, NULL, _IOLBF, 0);
    FILE *published = fopen(argv[9], "w");
    unsigned long *per_entity = calloc(entities, sizeof *per_entity);
    if (!published || !per_entity) {
        perror(argv[9]);
        if (published)
            fclose(published);
        free(per_entity);
        return 1;
    }
    setvbuf(published, NULL, _IOLBF, 0);
    joinery_options_t o = {.endpoint = argv[1],
                           .adapter = argv[2],
                           .keys_dir = strcmp(argv[3], "-") ? argv[3] : NULL,
                           .heartbeat_ms = 500,
                           .reconnect_min_ms = 50,
                           .reconnect_max_ms = 500,
                           .connect_timeout_ms = 30000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "e2e_publisher: %s\n", err);
        fclose(published);
        free(per_entity);
        return 1;
    }
    double start = now_s();
    for (unsigned long i = 0; i < count; i++) {
        char id[64], rec[32], payload[64];
        unsigned long nth = ++per_entity[i % entities];
        snprintf(id, sizeof id, "%s-%lu", argv[7], i);
        snprintf(rec, sizeof rec, "ent-%lu", i % entities);
        int n = snprintf(payload, sizeof payload, "{\"i\":%lu,\"n\":%lu}", i, nth);
        joinery_event_t ev = {.event_id = id,
                              .type = "crm.contact.updated",
                              .source_record_id = rec,
                              .payload_type = "application/json",
                              .payload = payload,
                              .payload_len = (size_t)n};
        if (joinery_publish_async(c, &ev, on_confirm, &st, NULL) < 0) {
            fprintf(stderr, "e2e_publisher: %s\n", joinery_last_error(c));
            return 1;
        }
        fprintf(published, "%s %s %lu\n", id, rec, nth);
        while (now_s() - start < (double)(i + 1) / rate)
            joinery_poll(c, 1);
    }
    while (st.confirmed + st.rejected < count)
        if (joinery_poll(c, 100) < 0 && !joinery_connected(c))
            continue; /* the SDK reconnects by itself */
    joinery_close(&c);
    fclose(st.out);
    fclose(published);
    free(per_entity);
    printf("e2e_publisher: %zu confirmed, %zu refused in %.1f s\n", st.confirmed, st.rejected,
           now_s() - start);
    return st.rejected ? 1 : 0;
}
