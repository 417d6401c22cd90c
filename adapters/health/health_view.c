/* health_view.c - golden records as the trust has been told them: merged field by field, one
 * file per record on disk, three hash indexes in memory. */
#include "health_view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "JFV1"
#define MASTER_MAX 64
#define LOCAL_MAX 256
#define MAX_TEL 16
#define MAX_CONSENTS 32
#define EMPTY_SLOT 0u
#define TOMB_SLOT UINT32_MAX

enum { K_MASTER, K_LOCAL, K_NHS, K_COUNT };

typedef struct {
    health_view_rec_t pub;
    char master[MASTER_MAX + 1];
    char *local;            /* owned */
    Joinery__V1__Person *p; /* owned, protobuf-c's unpacked message */
    int live;
} rec_t;

typedef struct {
    uint32_t *slots;  /* record index + 1; EMPTY_SLOT or TOMB_SLOT */
    size_t cap, used; /* used: slots ever filled since the last rebuild, tombstones too */
} index_t;

struct health_view {
    char *dir; /* owned */
    rec_t *recs;
    size_t n, cap, live;
    index_t idx[K_COUNT];
};

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static size_t len_of(const char *s)
{
    return s ? strlen(s) : 0;
}

static const char *key_of(const rec_t *r, int kind)
{
    if (!r->live)
        return NULL;
    const char *k = kind == K_MASTER  ? r->master
                    : kind == K_LOCAL ? r->local
                                      : (r->p ? r->p->nhs_number : NULL);
    return nonempty(k) ? k : NULL;
}

/* ---- indexes -------------------------------------------------------------------------------- */

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot holding KEY, or the first free slot of its probe sequence when it is absent. */
static size_t probe(const health_view_t *v, int kind, const char *key, int *found)
{
    const index_t *x = &v->idx[kind];
    size_t mask = x->cap - 1, i = hash(key) & mask, free_at = SIZE_MAX;
    for (size_t step = 0; step < x->cap; step++, i = (i + 1) & mask) {
        uint32_t s = x->slots[i];
        if (s == EMPTY_SLOT) {
            *found = 0;
            return free_at != SIZE_MAX ? free_at : i;
        }
        if (s == TOMB_SLOT) {
            if (free_at == SIZE_MAX)
                free_at = i;
            continue;
        }
        const char *k = key_of(&v->recs[s - 1], kind);
        if (k != NULL && strcmp(k, key) == 0) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return free_at;
}

static void index_put(health_view_t *v, int kind, size_t ri)
{
    const char *key = key_of(&v->recs[ri], kind);
    if (key == NULL)
        return;
    int found;
    size_t i = probe(v, kind, key, &found);
    if (i == SIZE_MAX)
        return; /* cannot happen: room() keeps every index at most half used */
    if (v->idx[kind].slots[i] == EMPTY_SLOT)
        v->idx[kind].used++;
    v->idx[kind].slots[i] = (uint32_t)(ri + 1);
}

/* Removes KEY only where it leads to record RI (another record may have taken it since). */
static void index_del(health_view_t *v, int kind, size_t ri)
{
    const char *key = key_of(&v->recs[ri], kind);
    if (key == NULL)
        return;
    int found;
    size_t i = probe(v, kind, key, &found);
    if (found && v->idx[kind].slots[i] == ri + 1)
        v->idx[kind].slots[i] = TOMB_SLOT;
}

static const rec_t *index_get(const health_view_t *v, int kind, const char *key)
{
    if (!nonempty(key) || v->idx[kind].cap == 0)
        return NULL;
    int found;
    size_t i = probe(v, kind, key, &found);
    return found ? &v->recs[v->idx[kind].slots[i] - 1] : NULL;
}

/* Indexes stay at most half full (tombstones count), so a probe always ends. */
static int index_rebuild(health_view_t *v, size_t cap)
{
    for (int k = 0; k < K_COUNT; k++) {
        uint32_t *s = calloc(cap, sizeof *s);
        if (s == NULL)
            return -1;
        free(v->idx[k].slots);
        v->idx[k].slots = s; /* the view owns it */
        v->idx[k].cap = cap;
        v->idx[k].used = 0;
    }
    for (size_t i = 0; i < v->n; i++)
        for (int k = 0; k < K_COUNT; k++)
            index_put(v, k, i);
    return 0;
}

/* Room for one more key in every index: at most half of the slots used, tombstones counted. */
static int room(health_view_t *v)
{
    for (int k = 0; k < K_COUNT; k++)
        if ((v->idx[k].used + 1) * 2 > v->idx[k].cap)
            return index_rebuild(v, v->idx[k].cap * 2);
    return 0;
}

/* ---- records on disk ------------------------------------------------------------------------ */

static int master_ok(const char *m)
{
    size_t n = m ? strlen(m) : 0;
    if (n == 0 || n > MASTER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') ||
              (m[i] >= '0' && m[i] <= '9') || m[i] == '-' || m[i] == '_'))
            return 0;
    return 1;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* "JFV1 VERSION MASTER_LEN LOCAL_LEN\n", the master id, the local id, the packed Person. */
static int rec_save(const health_view_t *v, const rec_t *r, char *err, size_t errlen)
{
    size_t plen = protobuf_c_message_get_packed_size(&r->p->base);
    uint8_t *packed = malloc(plen ? plen : 1); /* freed below */
    char path[4096], tmp[4096], head[96];
    if (packed == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    (void)protobuf_c_message_pack(&r->p->base, packed);
    int hl = snprintf(head, sizeof head, MAGIC " %" PRIu64 " %zu %zu\n", r->pub.version,
                      strlen(r->master), strlen(r->local));
    (void)snprintf(path, sizeof path, "%s/%s.pb", v->dir, r->master);
    (void)snprintf(tmp, sizeof tmp, "%s/%s.tmp", v->dir, r->master);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write_all(fd, head, (size_t)hl) == 0 &&
             write_all(fd, r->master, strlen(r->master)) == 0 &&
             write_all(fd, r->local, strlen(r->local)) == 0 && write_all(fd, packed, plen) == 0 &&
             fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    free(packed);
    if (!ok || rename(tmp, path) != 0 || sync_dir(v->dir) != 0) {
        (void)snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *b = realloc(buf, cap * 2);
        if (b == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL)
        return -1;
    if (bad) {
        free(buf);
        return -1;
    }
    buf[n] = '\0'; /* n < cap: the loop ends on a short read */
    *out = buf;    /* the caller owns it */
    *len = n;
    return 0;
}

/* ---- records in memory ---------------------------------------------------------------------- */

static rec_t *rec_by_master(health_view_t *v, const char *master)
{
    return (rec_t *)index_get(v, K_MASTER, master);
}

static void rec_refresh(rec_t *r)
{
    r->pub.master_id = r->master;
    r->pub.local_id = r->local;
    r->pub.person = r->p;
}

/* A new empty record for MASTER, indexed; NULL when out of memory. */
static rec_t *rec_add(health_view_t *v, const char *master)
{
    if (room(v) != 0)
        return NULL;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        rec_t *recs = realloc(v->recs, cap * sizeof *recs);
        if (recs == NULL)
            return NULL;
        v->recs = recs;
        v->cap = cap;
        for (size_t i = 0; i < v->n; i++) /* their public pointers point into the old array */
            rec_refresh(&v->recs[i]);
    }
    rec_t *r = &v->recs[v->n];
    memset(r, 0, sizeof *r);
    r->local = strdup("");
    if (r->local == NULL)
        return NULL;
    (void)snprintf(r->master, sizeof r->master, "%s", master);
    r->live = 1;
    v->n++;
    v->live++;
    index_put(v, K_MASTER, (size_t)(r - v->recs));
    rec_refresh(r);
    return r;
}

static int set_local(health_view_t *v, rec_t *r, const char *local)
{
    if (!nonempty(local) || strcmp(local, r->local) == 0)
        return 0;
    char *copy = strdup(local);
    if (copy == NULL || room(v) != 0) {
        free(copy);
        return -1;
    }
    size_t ri = (size_t)(r - v->recs);
    index_del(v, K_LOCAL, ri);
    free(r->local);
    r->local = copy; /* the record owns it */
    index_put(v, K_LOCAL, ri);
    rec_refresh(r);
    return 0;
}

/* Replaces R's Person by the LEN packed bytes at DATA (re-indexing its NHS number). */
static int set_person(health_view_t *v, rec_t *r, const uint8_t *data, size_t len)
{
    Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, len, data);
    if (p == NULL || room(v) != 0) {
        if (p)
            joinery__v1__person__free_unpacked(p, NULL);
        return -1;
    }
    size_t ri = (size_t)(r - v->recs);
    index_del(v, K_NHS, ri);
    if (r->p)
        joinery__v1__person__free_unpacked(r->p, NULL);
    r->p = p; /* the record owns it */
    index_put(v, K_NHS, ri);
    rec_refresh(r);
    return 0;
}

static void rec_drop(health_view_t *v, rec_t *r)
{
    size_t ri = (size_t)(r - v->recs);
    for (int k = 0; k < K_COUNT; k++)
        index_del(v, k, ri);
    r->live = 0;
    v->live--;
    if (r->p)
        joinery__v1__person__free_unpacked(r->p, NULL);
    r->p = NULL;
    free(r->local);
    r->local = NULL;
}

/* ---- merging fields ------------------------------------------------------------------------- */

typedef struct {
    Joinery__V1__Person m;
    Joinery__V1__HumanName name;
    Joinery__V1__Address addr, *addrs[1];
    Joinery__V1__ContactPoint *tel[MAX_TEL];
    Joinery__V1__Consent *consents[MAX_CONSENTS];
} merged_t;

static int has(const char *const *paths, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(paths[i], want) == 0)
            return 1;
    return 0;
}

static const Joinery__V1__Address *home_of(const Joinery__V1__Person *p)
{
    if (p == NULL || p->n_addresses == 0)
        return NULL;
    for (size_t i = 0; i < p->n_addresses; i++)
        if (p->addresses[i]->use && strcmp(p->addresses[i]->use, "home") == 0)
            return p->addresses[i];
    return p->addresses[0];
}

static void merge_name(merged_t *o, const Joinery__V1__Person *ev, const char *const *paths,
                       size_t n)
{
    static const Joinery__V1__HumanName init = JOINERY__V1__HUMAN_NAME__INIT;
    const Joinery__V1__HumanName *en = ev->name ? ev->name : &init;
    if (has(paths, n, "name")) {
        o->m.name = ev->name;
        return;
    }
    int g = has(paths, n, "name.given"), f = has(paths, n, "name.family"),
        p = has(paths, n, "name.prefix");
    if (!g && !f && !p)
        return;
    o->name = o->m.name ? *o->m.name : init;
    if (g) {
        o->name.n_given = en->n_given;
        o->name.given = en->given;
    }
    if (f)
        o->name.family = en->family;
    if (p)
        o->name.prefix = en->prefix;
    o->m.name = &o->name;
}

static void merge_address(merged_t *o, const Joinery__V1__Person *ev, const char *const *paths,
                          size_t n)
{
    static const Joinery__V1__Address init = JOINERY__V1__ADDRESS__INIT;
    int whole = has(paths, n, "address"), home = whole || has(paths, n, "address.home"),
        pc = whole || has(paths, n, "address.home.postcode"),
        uprn = whole || has(paths, n, "address.home.uprn");
    if (!home && !pc && !uprn)
        return;
    const Joinery__V1__Address *old = home_of(&o->m), *ea = home_of(ev);
    if (ea == NULL)
        ea = &init;
    o->addr = old ? *old : init;
    if (home) {
        o->addr.use = ea->use;
        o->addr.n_lines = ea->n_lines;
        o->addr.lines = ea->lines;
        o->addr.town = ea->town;
        o->addr.district = ea->district;
        o->addr.period_start = ea->period_start;
        o->addr.period_end = ea->period_end;
    }
    if (pc)
        o->addr.postcode = ea->postcode;
    if (uprn)
        o->addr.uprn = ea->uprn;
    int any = o->addr.n_lines > 0 || nonempty(o->addr.town) || nonempty(o->addr.district) ||
              nonempty(o->addr.postcode) || nonempty(o->addr.uprn);
    o->addrs[0] = &o->addr;
    o->m.addresses = any ? o->addrs : NULL;
    o->m.n_addresses = any ? 1 : 0;
}

/* Contact points of SYSTEM (NULL: all) come from EV, the others stay. */
static void merge_telecom_system(merged_t *o, const Joinery__V1__Person *ev, const char *system)
{
    Joinery__V1__ContactPoint *keep[MAX_TEL];
    size_t k = 0;
    for (size_t i = 0; i < o->m.n_telecom && k < MAX_TEL; i++)
        if (system != NULL &&
            strcmp(o->m.telecom[i]->system ? o->m.telecom[i]->system : "", system) != 0)
            keep[k++] = o->m.telecom[i];
    for (size_t i = 0; i < ev->n_telecom && k < MAX_TEL; i++)
        if (nonempty(ev->telecom[i]->value) &&
            (system == NULL ||
             strcmp(ev->telecom[i]->system ? ev->telecom[i]->system : "", system) == 0))
            keep[k++] = ev->telecom[i];
    memcpy(o->tel, keep, k * sizeof keep[0]);
    o->m.telecom = o->tel;
    o->m.n_telecom = k;
}

static void merge_consent(merged_t *o, const Joinery__V1__Person *ev, const char *purpose)
{
    Joinery__V1__Consent *keep[MAX_CONSENTS];
    size_t k = 0;
    for (size_t i = 0; i < o->m.n_consents && k < MAX_CONSENTS; i++)
        if (purpose != NULL &&
            strcmp(o->m.consents[i]->purpose ? o->m.consents[i]->purpose : "", purpose) != 0)
            keep[k++] = o->m.consents[i];
    for (size_t i = 0; i < ev->n_consents && k < MAX_CONSENTS; i++)
        if (purpose == NULL ||
            strcmp(ev->consents[i]->purpose ? ev->consents[i]->purpose : "", purpose) == 0)
            keep[k++] = ev->consents[i];
    memcpy(o->consents, keep, k * sizeof keep[0]);
    o->m.consents = o->consents;
    o->m.n_consents = k;
}

static void merge_scalar(Joinery__V1__Person *m, const Joinery__V1__Person *ev, const char *path)
{
    if (strcmp(path, "nhs_number") == 0)
        m->nhs_number = ev->nhs_number;
    else if (strcmp(path, "nhs_number_verification") == 0)
        m->nhs_number_verification = ev->nhs_number_verification;
    else if (strcmp(path, "ni_number") == 0)
        m->ni_number = ev->ni_number;
    else if (strcmp(path, "birth_date") == 0)
        m->birth_date = ev->birth_date;
    else if (strcmp(path, "sex") == 0)
        m->sex = ev->sex;
    else if (strcmp(path, "death_date") == 0)
        m->death_date = ev->death_date;
    else if (strcmp(path, "gp_practice_ods") == 0)
        m->gp_practice_ods = ev->gp_practice_ods;
    else if (strcmp(path, "preferred_language") == 0)
        m->preferred_language = ev->preferred_language;
    else if (strcmp(path, "interpreter_required") == 0)
        m->interpreter_required = ev->interpreter_required;
    else if (strcmp(path, "other_names") == 0) {
        m->n_other_names = ev->n_other_names;
        m->other_names = ev->other_names;
    } else if (strcmp(path, "identifiers") == 0) {
        m->n_identifiers = ev->n_identifiers;
        m->identifiers = ev->identifiers;
    }
}

/* OLD (may be NULL) with the fields PATHS of EV, packed into *OUT (malloc'd: the caller owns
 * it). Unknown paths are ignored: a newer hub may name fields this view does not keep. */
static int merge(const Joinery__V1__Person *old, const Joinery__V1__Person *ev,
                 const char *const *paths, size_t n, uint8_t **out, size_t *len)
{
    static const Joinery__V1__Person init = JOINERY__V1__PERSON__INIT;
    merged_t o;
    o.m = old ? *old : init;
    if (ev == NULL)
        ev = &init;
    merge_name(&o, ev, paths, n);
    merge_address(&o, ev, paths, n);
    for (size_t i = 0; i < n; i++) {
        const char *p = paths[i];
        if (strcmp(p, "telecom") == 0)
            merge_telecom_system(&o, ev, NULL);
        else if (strncmp(p, "telecom.", 8) == 0)
            merge_telecom_system(&o, ev, p + 8);
        else if (strcmp(p, "consent") == 0)
            merge_consent(&o, ev, NULL);
        else if (strncmp(p, "consent.", 8) == 0)
            merge_consent(&o, ev, p + 8);
        else
            merge_scalar(&o.m, ev, p);
    }
    *len = protobuf_c_message_get_packed_size(&o.m.base);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL)
        return -1;
    (void)protobuf_c_message_pack(&o.m.base, *out);
    return 0;
}

/* Merges and saves. A failed save leaves the change in memory only: the event is then
 * delivered again and merging it twice gives the same record. */
static int apply(health_view_t *v, rec_t *r, const Joinery__V1__Person *ev,
                 const char *const *paths, size_t n, char *err, size_t errlen)
{
    uint8_t *packed;
    size_t len;
    if (merge(r->p, ev, paths, n, &packed, &len) != 0 || set_person(v, r, packed, len) != 0) {
        free(packed);
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(packed);
    return rec_save(v, r, err, errlen);
}

/* ---- the interface -------------------------------------------------------------------------- */

static int load_one(health_view_t *v, const char *name, char *err, size_t errlen)
{
    char path[4096];
    (void)snprintf(path, sizeof path, "%s/%s", v->dir, name);
    char *buf;
    size_t len;
    if (read_file(path, &buf, &len) != 0) {
        (void)snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t version;
    size_t mlen, llen;
    int head = 0;
    char mbuf[MASTER_MAX + 1];
    int ok = memchr(buf, '\n', len < 96 ? len : 96) != NULL &&
             sscanf(buf, MAGIC " %" SCNu64 " %zu %zu\n%n", &version, &mlen, &llen, &head) == 3 &&
             head > 0 && mlen > 0 && mlen <= MASTER_MAX && llen <= LOCAL_MAX &&
             (size_t)head + mlen + llen <= len;
    rec_t *r = NULL;
    if (ok) {
        memcpy(mbuf, buf + head, mlen);
        mbuf[mlen] = '\0';
        char local[LOCAL_MAX + 1];
        memcpy(local, buf + head + mlen, llen);
        local[llen] = '\0';
        size_t at = (size_t)head + mlen + llen;
        ok = master_ok(mbuf) && rec_by_master(v, mbuf) == NULL && (r = rec_add(v, mbuf)) != NULL &&
             set_local(v, r, local) == 0 &&
             set_person(v, r, (const uint8_t *)buf + at, len - at) == 0;
        if (r)
            r->pub.version = version;
    }
    free(buf);
    if (!ok)
        (void)snprintf(err, errlen, "%s is not a record of the FHIR view; move it away", path);
    return ok ? 0 : -1;
}

static int load_dir(health_view_t *v, char *err, size_t errlen)
{
    DIR *d = opendir(v->dir);
    if (d == NULL) {
        (void)snprintf(err, errlen, "cannot read the directory %s: %s", v->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            char path[4096]; /* a write a crash cut short: the record before it stands */
            (void)snprintf(path, sizeof path, "%s/%s", v->dir, e->d_name);
            (void)unlink(path);
        } else if (n > 3 && strcmp(e->d_name + n - 3, ".pb") == 0) {
            rc = load_one(v, e->d_name, err, errlen);
        }
    }
    closedir(d);
    return rc;
}

health_view_t *health_view_open(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        (void)snprintf(err, errlen, "cannot make the directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    health_view_t *v = calloc(1, sizeof *v);
    if (v == NULL || (v->dir = strdup(dir)) == NULL || index_rebuild(v, 64) != 0) {
        (void)snprintf(err, errlen, "out of memory");
        health_view_destroy(&v);
        return NULL;
    }
    if (load_dir(v, err, errlen) != 0)
        health_view_destroy(&v);
    return v;
}

void health_view_destroy(health_view_t **vp)
{
    health_view_t *v = *vp;
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++)
        if (v->recs[i].live)
            rec_drop(v, &v->recs[i]);
    for (int k = 0; k < K_COUNT; k++)
        free(v->idx[k].slots);
    free(v->recs);
    free(v->dir);
    free(v);
    *vp = NULL;
}

size_t health_view_count(const health_view_t *v)
{
    return v->live;
}

static rec_t *rec_for(health_view_t *v, const char *master, char *err, size_t errlen)
{
    if (!master_ok(master)) {
        (void)snprintf(err, errlen, "'%.80s' is not a master id", master ? master : "");
        return NULL;
    }
    rec_t *r = rec_by_master(v, master);
    if (r == NULL && (r = rec_add(v, master)) == NULL)
        (void)snprintf(err, errlen, "out of memory");
    return r;
}

int health_view_apply_changed(health_view_t *v, const Joinery__V1__PersonChanged *pc, char *err,
                              size_t errlen)
{
    rec_t *r = rec_for(v, pc->master_id, err, errlen);
    if (r == NULL)
        return -1;
    if (len_of(pc->local_id) > LOCAL_MAX || set_local(v, r, pc->local_id) != 0) {
        (void)snprintf(err, errlen, "the local id is too long or out of memory");
        return -1;
    }
    if (pc->version > r->pub.version)
        r->pub.version = pc->version;
    return apply(v, r, pc->person, (const char *const *)pc->changed_fields, pc->n_changed_fields,
                 err, errlen);
}

int health_view_apply_merged(health_view_t *v, const Joinery__V1__PersonMerged *pm, char *err,
                             size_t errlen)
{
    rec_t *gone = rec_by_master(v, pm->retired_master_id);
    if (gone != NULL) {
        char path[4096];
        (void)snprintf(path, sizeof path, "%s/%s.pb", v->dir, gone->master);
        if (unlink(path) != 0 && errno != ENOENT) {
            (void)snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            return -1;
        }
        rec_drop(v, gone);
    }
    rec_t *r = rec_by_master(v, pm->survivor_master_id);
    if (r == NULL || !nonempty(pm->survivor_local_id))
        return 0;
    if (len_of(pm->survivor_local_id) > LOCAL_MAX || set_local(v, r, pm->survivor_local_id) != 0) {
        (void)snprintf(err, errlen, "the local id is too long or out of memory");
        return -1;
    }
    return rec_save(v, r, err, errlen);
}

int health_view_apply_own(health_view_t *v, const char *master_id, const char *local_id,
                          const Joinery__V1__Person *p, char *err, size_t errlen)
{
    const char *paths[24];
    size_t n = 0;
    /* Every field the trust sent, by the paths merge() knows; what it left out stays. */
    if (nonempty(p->nhs_number))
        paths[n++] = "nhs_number";
    if (p->nhs_number_verification)
        paths[n++] = "nhs_number_verification";
    if (nonempty(p->ni_number))
        paths[n++] = "ni_number";
    if (p->name)
        paths[n++] = "name";
    if (p->n_other_names)
        paths[n++] = "other_names";
    if (nonempty(p->birth_date))
        paths[n++] = "birth_date";
    if (p->sex)
        paths[n++] = "sex";
    if (nonempty(p->death_date))
        paths[n++] = "death_date";
    if (p->n_addresses)
        paths[n++] = "address";
    if (p->n_telecom)
        paths[n++] = "telecom";
    if (p->n_consents)
        paths[n++] = "consent";
    if (nonempty(p->gp_practice_ods))
        paths[n++] = "gp_practice_ods";
    if (nonempty(p->preferred_language))
        paths[n++] = "preferred_language";
    if (p->interpreter_required)
        paths[n++] = "interpreter_required";
    rec_t *r = rec_for(v, master_id, err, errlen);
    if (r == NULL)
        return -1;
    if (len_of(local_id) > LOCAL_MAX || set_local(v, r, local_id) != 0) {
        (void)snprintf(err, errlen, "the local id is too long or out of memory");
        return -1;
    }
    return apply(v, r, p, paths, n, err, errlen);
}

const health_view_rec_t *health_view_find(const health_view_t *v, const char *id)
{
    const rec_t *r = index_get(v, K_LOCAL, id);
    if (r == NULL)
        r = index_get(v, K_MASTER, id);
    return r ? &r->pub : NULL;
}

const health_view_rec_t *health_view_find_nhs(const health_view_t *v, const char *nhs)
{
    const rec_t *r = index_get(v, K_NHS, nhs);
    return r ? &r->pub : NULL;
}
