/* load.c - loading through the hub as each system's adapter would (libjoinery): the people
 * (person.updated, joinery.v1.Person) and, with --entities, every system's addresses and the
 * first system's cases, then the database's account of those entities. */
#include "matching.h"

#include <joinery/joinery.h>
#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* Loading through the hub                                                                      */

/* A reason without its particulars (numbers, month names), so that one rule's refusals count
 * together: "date has month 61" and "date has month 95" are one reason. */
static void reason_kind(const char *r, char *out, size_t cap)
{
    static const char *const months[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    size_t o = 0;
    while (*r && o + 6 < cap) {
        /* Digits next to a capital letter are part of a pattern (A99 9AA), not a value. */
        if (*r >= '0' && *r <= '9') {
            const char *e = r;
            while (*e >= '0' && *e <= '9')
                e++;
            bool pattern =
                (o && out[o - 1] >= 'A' && out[o - 1] <= 'Z') || (*e >= 'A' && *e <= 'Z');
            if (pattern) {
                while (r < e && o + 6 < cap)
                    out[o++] = *r++;
            } else {
                out[o++] = 'N';
            }
            r = e;
            continue;
        }
        size_t m = 0;
        while (m < 12 && strncmp(r, months[m], strlen(months[m])) != 0)
            m++;
        if (m < 12) {
            memcpy(out + o, "MONTH", 5);
            o += 5;
            r += strlen(months[m]);
            continue;
        }
        out[o++] = *r++;
    }
    out[o] = '\0';
}

/* Counts a refusal under its reason: a record the hub refuses must be accounted for, by why. */
static void tally_why(tally_t *t, const char *reason)
{
    char r[sizeof t->why[0].text];
    reason_kind(reason && reason[0] ? reason : "(no reason given)", r, sizeof r);
    size_t k = 0;
    while (k < t->nwhy && strcmp(t->why[k].text, r) != 0)
        k++;
    if (k == t->nwhy) {
        if (t->nwhy == TALLY_WHY) {
            k = TALLY_WHY; /* the overflow slot */
            copy_str(t->why[k].text, sizeof t->why[k].text, "(other reasons)");
        } else {
            copy_str(t->why[k].text, sizeof t->why[k].text, r);
            t->nwhy++;
        }
    }
    t->why[k].n++;
}

static void on_confirm(void *ud, const joinery_confirm_t *c)
{
    tally_t *t = ud;
    switch (c->status) {
    case JOINERY_OK:
        t->ok++;
        break;
    case JOINERY_DUPLICATE:
        t->duplicate++;
        break;
    case JOINERY_REJECTED:
        t->rejected++;
        break;
    default:
        t->unconfirmed++;
        break;
    }
    if (c->master_id && c->master_id[0])
        t->with_master++;
    if ((c->status == JOINERY_REJECTED || c->status == JOINERY_UNCONFIRMED) && t->nreasons < 5)
        (void)snprintf(t->reasons[t->nreasons++], sizeof t->reasons[0], "%s: %s", c->event_id,
                       c->reason ? c->reason : "");
    if (c->status == JOINERY_REJECTED || c->status == JOINERY_UNCONFIRMED)
        tally_why(t, c->status == JOINERY_UNCONFIRMED ? "(unconfirmed)" : c->reason);
}

/* The record as the adapter would publish it: a joinery.v1.Person. 0 if it does not fit. */
static size_t pack_record(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    const record_t *r = &v->rec[idx];
    char id[32];
    local_id(v->pf, idx, id, sizeof id);

    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[2] = {(char *)r->given, (char *)r->middle};
    name.use = (char *)"official";
    name.prefix = (char *)r->prefix;
    name.given = given;
    name.n_given = r->middle[0] ? 2 : 1;
    name.family = (char *)r->family;
    Joinery__V1__HumanName maiden = JOINERY__V1__HUMAN_NAME__INIT;
    maiden.use = (char *)"maiden";
    maiden.family = (char *)r->maiden;
    Joinery__V1__HumanName *others[1] = {&maiden};

    /* External data may lack lines, or the whole address: only what the record holds is sent. */
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    char *lines[2];
    size_t nlines = 0;
    if (r->line[0])
        lines[nlines++] = (char *)r->line;
    if (r->line2[0])
        lines[nlines++] = (char *)r->line2;
    addr.use = (char *)"home";
    addr.lines = lines;
    addr.n_lines = nlines;
    addr.town = (char *)r->town;
    addr.district = (char *)r->county;
    addr.postcode = (char *)r->postcode;
    addr.uprn = (char *)r->uprn;
    Joinery__V1__Address *addrs[1] = {&addr};
    bool has_addr = nlines || r->town[0] || r->county[0] || r->postcode[0] || r->uprn[0];

    Joinery__V1__ContactPoint phone = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint email = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint *tel[2];
    size_t ntel = 0;
    if (r->phone[0]) {
        phone.system = (char *)"phone";
        phone.value = (char *)r->phone;
        phone.use = (char *)"mobile";
        tel[ntel++] = &phone;
    }
    if (r->email[0]) {
        email.system = (char *)"email";
        email.value = (char *)r->email;
        email.use = (char *)"home";
        tel[ntel++] = &email;
    }

    Joinery__V1__Identifier ident = JOINERY__V1__IDENTIFIER__INIT;
    ident.system = (char *)v->pf->id_system;
    ident.value = id;
    Joinery__V1__Identifier shared = JOINERY__V1__IDENTIFIER__INIT;
    shared.system = (char *)SHARED_ID_SYSTEM;
    shared.value = (char *)r->shared_id;
    Joinery__V1__Identifier *idents[2] = {&ident, &shared};

    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.nhs_number = (char *)r->nhs;
    if (r->nhs[0] && strcmp(v->pf->adapter, "health") == 0)
        p.nhs_number_verification =
            JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED;
    p.ni_number = (char *)r->ni;
    p.name = &name;
    if (r->maiden[0]) {
        p.other_names = others;
        p.n_other_names = 1;
    }
    p.birth_date = (char *)r->birth;
    p.sex = (Joinery__V1__AdministrativeSex)r->sex;
    p.addresses = addrs;
    p.n_addresses = has_addr ? 1 : 0;
    p.telecom = tel;
    p.n_telecom = ntel;
    p.identifiers = idents;
    p.n_identifiers = r->shared_id[0] ? 2 : 1;
    if (joinery__v1__person__get_packed_size(&p) > cap)
        return 0;
    return joinery__v1__person__pack(&p, buf);
}

static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A client publishing as V's adapter, up to 20,000 unconfirmed; NULL with a message. */
static joinery_client_t *connect_as(const options_t *opt, const view_t *v)
{
    joinery_options_t o = {.endpoint = opt->endpoint,
                           .adapter = v->pf->adapter,
                           .keys_dir = opt->keys && strcmp(opt->keys, "-") != 0 ? opt->keys : NULL,
                           .max_unconfirmed = 20000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c)
        fprintf(stderr, "bench_matching: connect as %s: %s\n", v->pf->adapter, err);
    return c;
}

/* Waits for every confirmation, closes *C and sets *SECONDS since T0. -1 if some never came. */
static int flush_close(joinery_client_t **c, const view_t *v, double t0, double *seconds)
{
    int rc = 0;
    /* Ten minutes is far beyond any healthy run; a hub that stops answering must not hang us. */
    if (joinery_flush(*c, 600000) < 0) {
        fprintf(stderr, "bench_matching: %s: %zu events still unconfirmed after 10 minutes\n",
                v->pf->adapter, joinery_unconfirmed(*c));
        rc = -1;
    }
    *seconds = mono_s() - t0;
    joinery_close(c);
    return rc;
}

/* Publishes the records of V that ONLY marks (NULL: all) as V's adapter; *seconds from the
 * first publish to the last confirmation. TAG tells this phase's event ids apart. */
static int publish_view(const options_t *opt, const view_t *v, const bool *only, const char *tag,
                        tally_t *t, double *seconds)
{
    joinery_client_t *c = connect_as(opt, v);
    if (!c)
        return -1;
    int rc = 0;
    long long run = (long long)real_us();
    uint8_t buf[4096];
    double t0 = mono_s();
    for (size_t i = 0; i < v->n; i++) {
        if (only != NULL && !only[i])
            continue;
        size_t len = pack_record(v, i, buf, sizeof buf);
        if (len == 0) {
            fprintf(stderr, "bench_matching: record %zu of %s does not fit\n", i, v->pf->adapter);
            rc = -1;
            break;
        }
        char id[32], event_id[64];
        local_id(v->pf, i, id, sizeof id);
        (void)snprintf(event_id, sizeof event_id, "mb%lld-%s%s-%zu", run, v->pf->adapter, tag, i);
        joinery_event_t ev = {.event_id = event_id,
                              .type = "person.updated",
                              .source_record_id = id,
                              .payload_type = "joinery.v1.Person",
                              .payload = buf,
                              .payload_len = len};
        if (joinery_publish_async(c, &ev, on_confirm, t, NULL) < 0) {
            fprintf(stderr, "bench_matching: publish %s: %s\n", id, joinery_last_error(c));
            rc = -1;
            break;
        }
    }
    return flush_close(&c, v, t0, seconds) < 0 ? -1 : rc;
}

int load_view(const options_t *opt, const view_t *v, tally_t *t, double *seconds)
{
    return publish_view(opt, v, NULL, "", t, seconds);
}

int load_before_moves(const options_t *opt, const pop_t *pop, const view_t *views, int nsys,
                      int sys, tally_t *t, double *seconds, size_t *sent)
{
    const view_t *v = &views[sys];
    view_t before = *v;
    bool *only = calloc(v->n ? v->n : 1, sizeof *only);
    before.rec = malloc((v->n ? v->n : 1) * sizeof *before.rec);
    if (!only || !before.rec) {
        free(only);
        free(before.rec);
        fprintf(stderr, "bench_matching: out of memory\n");
        return -1;
    }
    *sent = 0;
    for (size_t i = 0; i < v->n; i++) {
        only[i] = moved_elsewhere(views, nsys, sys, i);
        if (only[i]) {
            record_before_move(pop, v, i, &before.rec[i]);
            ++*sent;
        }
    }
    int rc = publish_view(opt, &before, only, "-before", t, seconds);
    free(only);
    free(before.rec);
    return rc;
}

/* Addresses and cases ---------------------------------------------------------------------- */

/* The address of record IDX as V's system would publish it (joinery.v1.Address); 0 if it has no
 * UPRN (the hub masters addresses by UPRN) or does not fit. */
static size_t pack_address(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    const record_t *r = &v->rec[idx];
    if (!r->uprn[0])
        return 0;
    Joinery__V1__Address a = JOINERY__V1__ADDRESS__INIT;
    char *lines[1] = {(char *)r->line};
    a.lines = lines;
    a.n_lines = 1;
    a.town = (char *)r->town;
    a.district = (char *)r->county;
    a.postcode = (char *)r->postcode;
    a.uprn = (char *)r->uprn;
    if (joinery__v1__address__get_packed_size(&a) > cap)
        return 0;
    return joinery__v1__address__pack(&a, buf);
}

/* A case about the person of record IDX, named by the sender's own id for them. */
static size_t pack_case(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    char person[32];
    local_id(v->pf, idx, person, sizeof person);
    Joinery__V1__Case k = JOINERY__V1__CASE__INIT;
    k.person_local_id = person;
    k.status = JOINERY__V1__CASE_STATUS__CASE_OPEN;
    k.opened_on = (char *)"2025-04-01";
    k.team = (char *)"Adult Social Care";
    if (joinery__v1__case__get_packed_size(&k) > cap)
        return 0;
    return joinery__v1__case__pack(&k, buf);
}

#define CASE_EVERY 4 /* a case for every fourth record of the first system */

/* Publishes V's addresses (ADDR = true) or its cases as V's adapter; *N events, *SECONDS from the
 * first publish to the last confirmation. Address local ids are "ADR-" and the person's local
 * id, case local ids "CASE-" and it, so the checks can join them back. */
static int load_entities(const options_t *opt, const view_t *v, bool addr, tally_t *t, size_t *n,
                         double *seconds)
{
    joinery_client_t *c = connect_as(opt, v);
    if (!c)
        return -1;
    int rc = 0;
    long long run = (long long)real_us();
    uint8_t buf[1024];
    *n = 0;
    double t0 = mono_s();
    for (size_t i = 0; i < v->n && rc == 0; i += addr ? 1 : CASE_EVERY) {
        size_t len = addr ? pack_address(v, i, buf, sizeof buf) : pack_case(v, i, buf, sizeof buf);
        if (len == 0)
            continue;
        char person[32], id[40], event_id[64];
        local_id(v->pf, i, person, sizeof person);
        (void)snprintf(id, sizeof id, "%s%s", addr ? "ADR-" : "CASE-", person);
        (void)snprintf(event_id, sizeof event_id, "mb%lld-%s-%s", run, v->pf->adapter, id);
        joinery_event_t ev = {.event_id = event_id,
                              .type = addr ? "address.updated" : "case.updated",
                              .source_record_id = id,
                              .payload_type = addr ? "joinery.v1.Address" : "joinery.v1.Case",
                              .payload = buf,
                              .payload_len = len};
        if (joinery_publish_async(c, &ev, on_confirm, t, NULL) < 0) {
            fprintf(stderr, "bench_matching: publish %s: %s\n", id, joinery_last_error(c));
            rc = -1;
        }
        (*n)++;
    }
    return flush_close(&c, v, t0, seconds) < 0 ? -1 : rc;
}

/* How many distinct properties the systems' records name (UPRNs without leading zeros). */
static long long distinct_uprns(const view_t *views, int nsys)
{
    size_t total = 0, k = 0;
    for (int s = 0; s < nsys; s++)
        total += views[s].n;
    const char **u = malloc((total ? total : 1) * sizeof *u);
    if (!u)
        return -1;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            const char *d = views[s].rec[i].uprn;
            while (*d == '0' && d[1])
                d++;
            if (*d)
                u[k++] = d;
        }
    qsort(u, k, sizeof *u, cmp_str);
    long long n = 0;
    for (size_t i = 0; i < k; i++)
        n += i == 0 || strcmp(u[i], u[i - 1]) != 0;
    free(u);
    return n;
}

static void entity_line(const char *what, const char *system, size_t n, double secs,
                        const tally_t *t)
{
    printf("load %s %s: %zu events in %.2f s = %.0f events/s confirmed (ok %zu, duplicate %zu, "
           "rejected %zu, unconfirmed %zu; %zu answered with a master_id)\n",
           system, what, n, secs, secs > 0 ? (double)n / secs : 0.0, t->ok, t->duplicate,
           t->rejected, t->unconfirmed, t->with_master);
    for (size_t k = 0; k < t->nreasons; k++)
        printf("  refused: %s\n", t->reasons[k]);
}

/* After the people: each system's addresses, then the first system's cases; then whether the
 * database holds one golden address per UPRN, every system's address id, and every case about
 * the golden person its sender's person id is linked to. */
int load_and_check_entities(const options_t *opt, pq_t *pq, const view_t *views, int nsys)
{
    size_t sent_addr = 0, sent_case = 0;
    for (int s = 0; s < nsys; s++) {
        tally_t t = {0};
        size_t n = 0;
        double secs = 0;
        if (load_entities(opt, &views[s], true, &t, &n, &secs) < 0)
            return -1;
        entity_line("addresses", views[s].pf->adapter, n, secs, &t);
        sent_addr += t.ok;
    }
    tally_t t = {0};
    double secs = 0;
    if (load_entities(opt, &views[0], false, &t, &sent_case, &secs) < 0)
        return -1;
    entity_line("cases", views[0].pf->adapter, sent_case, secs, &t);
    if (!pq->conn)
        return 0;
    long long want = distinct_uprns(views, nsys);
    long long golden = pq_count(pq, "SELECT count(*) FROM golden_address");
    long long xrefs = pq_count(pq, "SELECT count(*) FROM address_xref");
    long long cases = pq_count(pq, "SELECT count(*) FROM golden_case");
    char q[512];
    (void)snprintf(q, sizeof q,
                   "SELECT count(*) FROM case_xref x JOIN golden_case c ON c.master_id = "
                   "x.master_id JOIN xref p ON p.system = x.system AND p.local_id = "
                   "substr(x.local_id, 6) WHERE x.system = '%s' AND p.master_id = "
                   "c.person_master_id",
                   views[0].pf->adapter);
    long long right = pq_count(pq, q);
    long rss = 0, hwm = 0;
    (void)read_rss(opt->hub_pid, &rss, &hwm);
    printf("entities: %lld golden addresses for %lld distinct UPRNs sent, %lld address ids "
           "linked of %zu accepted; %lld golden cases of %zu sent, %lld about the golden person "
           "their sender's person id is linked to; hub RSS %.1f MiB\n",
           golden, want, xrefs, sent_addr, cases, sent_case, right, rss / 1024.0);
    if (golden != want || xrefs != (long long)sent_addr || cases != (long long)t.ok ||
        right != cases)
        printf("ENTITIES WRONG: the counts above should pair up\n");
    return 0;
}
