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
 * With MODE "person" (an optional tenth argument) the events are instead
 * person.updated with a joinery.v1.Person payload: record ent-K is one
 * resident whose name and birth date never change and whose phone number is
 * "07700 9" followed by n as five digits, so the golden record's phone says
 * which update won (issue 23, item 1: a stale person.updated must not).
 *
 *   e2e_publisher ENDPOINT ADAPTER KEYDIR|- COUNT ENTITIES RATE PREFIX OUT PUBLISHED [person] */
#include <joinery/joinery.h>

#include "joinery/v1/person.pb-c.h"

#include <stdbool.h>
#include <stdint.h>
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

/* Record K's n-th person.updated into BUF; returns its length. */
static size_t person_payload(unsigned long k, unsigned long nth, uint8_t *buf, size_t cap)
{
    static const char *const given[] = {"Amelia", "Oliver", "Isla", "George", "Ava", "Noah"};
    char family[32], phone[32], birth[16];
    snprintf(family, sizeof family, "Testperson%lu", k);
    snprintf(phone, sizeof phone, "07700 9%05lu", nth % 100000);
    snprintf(birth, sizeof birth, "19%02lu-%02lu-%02lu", 40 + k % 60, 1 + k % 12, 1 + k % 28);
    char *g = (char *)given[k % 6];
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    name.given = &g;
    name.n_given = 1;
    name.family = family;
    Joinery__V1__ContactPoint tel = JOINERY__V1__CONTACT_POINT__INIT, *telp = &tel;
    tel.system = "phone";
    tel.value = phone;
    tel.use = "home";
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.name = &name;
    p.birth_date = birth;
    p.telecom = &telp;
    p.n_telecom = 1;
    if (joinery__v1__person__get_packed_size(&p) > cap)
        return 0;
    return joinery__v1__person__pack(&p, buf);
}

int main(int argc, char **argv)
{
    if (argc != 10 && !(argc == 11 && strcmp(argv[10], "person") == 0)) {
        fprintf(stderr, "usage: e2e_publisher ENDPOINT ADAPTER KEYDIR|- COUNT ENTITIES RATE "
                        "PREFIX OUT PUBLISHED [person]\n");
        return 2;
    }
    bool person = argc == 11;
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
        char id[64], rec[32], payload[256];
        unsigned long nth = ++per_entity[i % entities];
        snprintf(id, sizeof id, "%s-%lu", argv[7], i);
        snprintf(rec, sizeof rec, "ent-%lu", i % entities);
        size_t n = person
                       ? person_payload(i % entities, nth, (uint8_t *)payload, sizeof payload)
                       : (size_t)snprintf(payload, sizeof payload, "{\"i\":%lu,\"n\":%lu}", i, nth);
        joinery_event_t ev = {.event_id = id,
                              .type = person ? "person.updated" : "crm.contact.updated",
                              .source_record_id = rec,
                              .payload_type = person ? "joinery.v1.Person" : "application/json",
                              .payload = payload,
                              .payload_len = n};
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
