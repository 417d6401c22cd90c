/* webhook_load.c - Dynamics 365 / Dataverse at full speed: CONNS keep-alive HTTP/1.1 connections
 * to joinery-crm, each POSTing one RemoteExecutionContext webhook at a time (as Dataverse's
 * service endpoint does: it waits for the answer before the next call on a connection), COUNT
 * webhooks in all. Counts the answers by status and prints webhooks per second answered 2xx and
 * the POST -> answer latency. Every 2xx comes after the hub's CONFIRM, so after the commit.
 *
 *   webhook_load HOST PORT PATH KEY_FILE [COUNT [CONNS [CONTACTS [create|update]]]]
 *
 * CONTACTS per connection (default 200) are written in turn: "create" sends contact Creates
 * (names, birth date, address, phones), "update" sends Updates of telephone1, each with a new
 * number and a new CorrelationId, so every webhook is a new event for an existing golden record.
 * Plain C and poll(2): no HTTP library, so the generator costs little beside what it measures. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define OUT_MAX 4096
#define IN_MAX 16384

typedef struct {
    int fd;
    unsigned idx;       /* this connection's number */
    unsigned long sent; /* webhooks sent on it */
    double sent_at;
    int busy; /* a request awaits its answer */
    char out[OUT_MAX];
    size_t outlen, outoff;
    char in[IN_MAX];
    size_t inlen;
} conn_t;

typedef struct {
    const char *path, *key;
    unsigned contacts;
    int update;
    unsigned long count, issued, answered;
    unsigned long by_class[6]; /* 1xx..5xx; [0] unparseable */
    double *lat;
    size_t nlat;
} load_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_body(char *out, size_t cap, const load_t *L, const conn_t *c, unsigned long n)
{
    static const char inward[] = "ABDEFGHJLNPQRSTUWXYZ"; /* the letters an inward code may use */
    unsigned p = (unsigned)(n % L->contacts);
    char id[40];
    (void)snprintf(id, sizeof id, "6d1c2b3a-%04x-4e11-9ae6-%012x", c->idx & 0xffff, p);
    unsigned long corr = ((unsigned long)c->idx << 32) | n;
    if (L->update)
        return snprintf(out, cap,
                        "{\"CorrelationId\":\"%08lx-%04lx-4000-8000-0000000010ad\",\"Depth\":1,"
                        "\"InputParameters\":"
                        "[{\"key\":\"Target\",\"value\":{\"Attributes\":["
                        "{\"key\":\"telephone1\",\"value\":\"0113 496 %04lu\"},"
                        "{\"key\":\"contactid\",\"value\":\"%s\"}],\"Id\":\"%s\","
                        "\"LogicalName\":\"contact\"}}],\"MessageName\":\"Update\","
                        "\"OrganizationName\":\"leedscc\",\"PostEntityImages\":[],"
                        "\"PrimaryEntityId\":\"%s\",\"PrimaryEntityName\":\"contact\","
                        "\"Stage\":40}",
                        corr >> 16, corr & 0xffff, n % 10000, id, id, id);
    return snprintf(
        out, cap,
        "{\"CorrelationId\":\"%08lx-%04lx-4000-8000-0000000010ad\",\"Depth\":1,\"InputParameters\":"
        "[{\"key\":\"Target\",\"value\":{\"Attributes\":["
        "{\"key\":\"firstname\",\"value\":\"Load%u\"},"
        "{\"key\":\"lastname\",\"value\":\"Contact%u\"},"
        "{\"key\":\"birthdate\",\"value\":\"\\/Date(%lld)\\/\"},"
        "{\"key\":\"address1_line1\",\"value\":\"%u Park Row\"},"
        "{\"key\":\"address1_city\",\"value\":\"Leeds\"},"
        "{\"key\":\"address1_postalcode\",\"value\":\"LS%u %u%c%c\"},"
        "{\"key\":\"telephone1\",\"value\":\"0113 496 %04u\"},"
        "{\"key\":\"contactid\",\"value\":\"%s\"}],\"Id\":\"%s\","
        "\"LogicalName\":\"contact\"}}],\"MessageName\":\"Create\","
        "\"OrganizationName\":\"leedscc\",\"PostEntityImages\":[],"
        "\"PrimaryEntityId\":\"%s\",\"PrimaryEntityName\":\"contact\",\"Stage\":40}",
        corr >> 16, corr & 0xffff, c->idx, p,
        (long long)(p % 20000) * 86400000LL + 86400000LL * 3650, p % 200 + 1,
        /* a postcode of a street's size: some fifteen contacts each, as in a city */
        (c->idx + p) % 28 + 1, p % 10, inward[(c->idx / 7 + p) % 20], inward[(p / 3) % 20],
        (c->idx * 211 + p) % 10000, id, id, id);
}

static int queue_request(load_t *L, conn_t *c)
{
    char body[OUT_MAX / 2];
    int blen = make_body(body, sizeof body, L, c, c->sent);
    if (blen < 0 || (size_t)blen >= sizeof body)
        return -1;
    int n = snprintf(c->out, sizeof c->out,
                     "POST %s HTTP/1.1\r\nHost: crm\r\nContent-Type: application/json\r\n"
                     "x-joinery-key: %s\r\nContent-Length: %d\r\n\r\n%s",
                     L->path, L->key, blen, body);
    if (n < 0 || (size_t)n >= sizeof c->out)
        return -1;
    c->outlen = (size_t)n;
    c->outoff = 0;
    c->busy = 1;
    c->sent++;
    c->sent_at = now_s();
    L->issued++;
    return 0;
}

/* One whole answer at the front of c->in: its length, or 0 if more must come. */
static size_t answer_len(const conn_t *c, int *status)
{
    const char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    *status = 0;
    if (c->inlen > 12 && memcmp(c->in, "HTTP/1.", 7) == 0)
        *status = (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
    size_t clen = 0;
    const char *h = memmem(c->in, head, "\r\nContent-Length:", 17);
    if (h == NULL)
        h = memmem(c->in, head, "\r\ncontent-length:", 17);
    if (h != NULL)
        clen = strtoul(h + 17, NULL, 10);
    return c->inlen >= head + clen ? head + clen : 0;
}

static int on_readable(load_t *L, conn_t *c)
{
    ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
    if (r <= 0)
        return -1;
    c->inlen += (size_t)r;
    int status;
    size_t n = answer_len(c, &status);
    if (n == 0)
        return c->inlen < sizeof c->in ? 0 : -1;
    if (status / 100 != 2 && L->answered == L->nlat) /* the first one */
        fprintf(stderr, "webhook_load: first answer that is not 2xx: %.*s\n", (int)n, c->in);
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
    L->by_class[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (status / 100 == 2)
        L->lat[L->nlat++] = now_s() - c->sent_at;
    L->answered++;
    c->busy = 0;
    return 0;
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    return fd;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int read_key(const char *file, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    if (f == NULL || fgets(out, (int)cap, f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

static int run(load_t *L, conn_t *cs, unsigned nconn)
{
    struct pollfd pf[MAX_CONNS];
    while (L->answered < L->count) {
        for (unsigned i = 0; i < nconn; i++) {
            conn_t *c = &cs[i];
            if (!c->busy && L->issued < L->count && queue_request(L, c) != 0)
                return -1;
            pf[i] =
                (struct pollfd){.fd = c->fd, .events = c->outoff < c->outlen ? POLLOUT : POLLIN};
        }
        if (poll(pf, nconn, 60000) <= 0) {
            fprintf(stderr, "webhook_load: no answer for 60 s\n");
            return -1;
        }
        for (unsigned i = 0; i < nconn; i++) {
            conn_t *c = &cs[i];
            if (pf[i].revents & (POLLERR | POLLHUP | POLLNVAL) && !(pf[i].revents & POLLIN)) {
                fprintf(stderr, "webhook_load: connection %u closed\n", i);
                return -1;
            }
            if (pf[i].revents & POLLOUT) {
                ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
                if (w < 0 && errno != EAGAIN)
                    return -1;
                if (w > 0)
                    c->outoff += (size_t)w;
            }
            if ((pf[i].revents & POLLIN) && on_readable(L, c) != 0) {
                fprintf(stderr, "webhook_load: connection %u: bad or no answer\n", i);
                return -1;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr,
                "usage: %s HOST PORT PATH KEY_FILE [COUNT [CONNS [CONTACTS "
                "[create|update]]]]\n",
                argv[0]);
        return 2;
    }
    char key[256];
    if (read_key(argv[4], key, sizeof key) != 0) {
        fprintf(stderr, "webhook_load: cannot read a key from %s\n", argv[4]);
        return 2;
    }
    load_t L = {.path = argv[3], .key = key};
    L.count = argc > 5 ? strtoul(argv[5], NULL, 10) : 100000;
    unsigned nconn = argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 128;
    L.contacts = argc > 7 ? (unsigned)strtoul(argv[7], NULL, 10) : 200;
    L.update = argc > 8 && strcmp(argv[8], "update") == 0;
    if (nconn == 0 || nconn > MAX_CONNS || L.contacts == 0 || L.count == 0) {
        fprintf(stderr, "webhook_load: CONNS 1..%d, CONTACTS and COUNT > 0\n", MAX_CONNS);
        return 2;
    }
    conn_t *cs = calloc(nconn, sizeof *cs);
    L.lat = calloc(L.count, sizeof *L.lat);
    if (cs == NULL || L.lat == NULL)
        return 1;
    for (unsigned i = 0; i < nconn; i++) {
        cs[i].idx = i;
        if ((cs[i].fd = dial(argv[1], argv[2])) < 0) {
            fprintf(stderr, "webhook_load: cannot connect to %s:%s\n", argv[1], argv[2]);
            return 1;
        }
    }
    double t0 = now_s();
    int rc = run(&L, cs, nconn);
    double dt = now_s() - t0;
    qsort(L.lat, L.nlat, sizeof *L.lat, cmp_d);
    printf("%lu webhooks (%s) over %u connections in %.2f s: %.0f/s answered 2xx after the "
           "commit; 2xx %lu, 4xx %lu, 5xx %lu, other %lu\n",
           L.answered, L.update ? "contact updates" : "contact creates", nconn, dt,
           (double)L.by_class[2] / dt, L.by_class[2], L.by_class[4], L.by_class[5],
           L.by_class[0] + L.by_class[1] + L.by_class[3]);
    if (L.nlat > 0)
        printf("POST -> answer: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", 1e3 * L.lat[L.nlat / 2],
               1e3 * L.lat[(L.nlat * 99) / 100], 1e3 * L.lat[L.nlat - 1]);
    for (unsigned i = 0; i < nconn; i++)
        close(cs[i].fd);
    free(cs);
    free(L.lat);
    return rc == 0 && L.by_class[2] == L.answered ? 0 : 1;
}
