/* mllp_load.c - an HL7 trust at full speed: CONNS MLLP connections to joinery-health, each with up
 * to WINDOW ADT^A08 messages awaiting their ACK, COUNT messages in all. Counts the ACKs by code,
 * checks each answers its own message in order (MSA-2), and prints messages per second with AA
 * and the send -> ACK latency.
 *
 *   mllp_load HOST PORT [COUNT [CONNS [WINDOW [PATIENTS]]]]
 *
 * PATIENTS per connection (default 500) are updated in turn, so after the first round every
 * message updates a golden record that exists. Plain C and poll(2): no HL7 library, so the load
 * generator costs little beside what it measures. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_WINDOW 256
#define MSG_MAX 1024
#define IN_MAX 65536

typedef struct {
    int fd;
    unsigned long sent, acked;
    double sent_at[MAX_WINDOW];
    char in[IN_MAX];
    size_t inlen;
    char out[MSG_MAX * 8];
    size_t outlen, outoff;
} conn_t;

static unsigned long aa, ae, ar, wrong_order;
static double *lat;
static size_t nlat;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t make_msg(char *out, size_t cap, unsigned k, unsigned long i, unsigned patients)
{
    unsigned p = (unsigned)(i % patients);
    int n = snprintf(out, cap,
                     "\x0bMSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ADT^A08^ADT_A01|"
                     "L%u-%lu|P|2.5\r"
                     "EVN|A08|20240301093000\r"
                     "PID|1||RR8-L%u-%u^^^RR8^MR||Load%u^Pat%u^^^^^L||19%02u0%u1%u|%c|||"
                     "%u Park Road^^Leeds^^LS6 2AB^GBR^H||0113 496 %04u\r"
                     "PV1|1|O\r\x1c\r",
                     k, i, k, p, k, p, 30 + p % 60, 1 + p % 9, p % 10, p % 2 ? 'F' : 'M',
                     1 + p % 200, p % 10000);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Reads the ACKs in C's buffer; MSA-2 must be "L<k>-<acked>". */
static void take_acks(conn_t *c, unsigned k, double t)
{
    char *start = c->in, *end = c->in + c->inlen;
    for (;;) {
        char *e = memchr(start, 0x1c, (size_t)(end - start));
        if (e == NULL)
            break;
        *e = '\0';
        char *msa = strstr(start, "\rMSA|");
        char want[64];
        snprintf(want, sizeof want, "L%u-%lu", k, c->acked);
        if (msa != NULL) {
            const char *code = msa + 5, *id = code + 3;
            size_t wl = strlen(want);
            if (strncmp(id, want, wl) != 0 || (id[wl] != '|' && id[wl] != '\r' && id[wl]))
                wrong_order++;
            if (strncmp(code, "AA", 2) == 0)
                aa++;
            else if (strncmp(code, "AE", 2) == 0)
                ae++;
            else
                ar++;
        } else {
            ar++;
        }
        lat[nlat++] = t - c->sent_at[c->acked % MAX_WINDOW];
        c->acked++;
        start = e + 1;
        if (start < end && *start == '\r')
            start++;
    }
    c->inlen = (size_t)(end - start);
    memmove(c->in, start, c->inlen);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [COUNT [CONNS [WINDOW [PATIENTS]]]]\n", argv[0]);
        return 2;
    }
    unsigned long count = argc > 3 ? strtoul(argv[3], NULL, 10) : 100000;
    unsigned conns = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 20;
    unsigned window = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 32;
    unsigned patients = argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 500;
    if (conns == 0 || conns > MAX_CONNS || window == 0 || window > MAX_WINDOW || patients == 0) {
        fprintf(stderr, "mllp_load: 1-%d connections, a window of 1-%d\n", MAX_CONNS, MAX_WINDOW);
        return 2;
    }
    unsigned long per = count / conns;
    lat = malloc(sizeof *lat * (per * conns + 1));
    conn_t *cs = calloc(conns, sizeof *cs);
    struct pollfd *pf = calloc(conns, sizeof *pf);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (lat == NULL || cs == NULL || pf == NULL || getaddrinfo(argv[1], argv[2], &hints, &ai)) {
        fprintf(stderr, "mllp_load: cannot start\n");
        return 1;
    }
    for (unsigned k = 0; k < conns; k++) {
        cs[k].fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(cs[k].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(cs[k].fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            perror("connect");
            return 1;
        }
    }
    freeaddrinfo(ai);
    double t0 = now_s();
    unsigned long done = 0, total = per * conns;
    while (done < total) {
        for (unsigned k = 0; k < conns; k++) {
            conn_t *c = &cs[k];
            /* Queue what the window allows, then write what the socket takes. */
            while (c->outoff == c->outlen && c->sent < per && c->sent - c->acked < window) {
                c->outlen = make_msg(c->out, sizeof c->out, k, c->sent, patients);
                c->outoff = 0;
                c->sent_at[c->sent % MAX_WINDOW] = now_s();
                c->sent++;
                ssize_t w = send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    c->outoff = (size_t)w;
            }
            pf[k] =
                (struct pollfd){.fd = c->acked < per ? c->fd : -1,
                                .events = (short)(POLLIN | (c->outoff < c->outlen ? POLLOUT : 0))};
        }
        if (poll(pf, conns, 30000) <= 0) {
            fprintf(stderr, "mllp_load: no ACK for 30 s (%lu of %lu answered)\n", done, total);
            return 1;
        }
        double t = now_s();
        for (unsigned k = 0; k < conns; k++) {
            conn_t *c = &cs[k];
            if ((pf[k].revents & POLLOUT) && c->outoff < c->outlen) {
                ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    c->outoff += (size_t)w;
            }
            if (pf[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(c->fd, c->in + c->inlen, IN_MAX - c->inlen - 1, MSG_DONTWAIT);
                if (n <= 0) {
                    if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                    fprintf(stderr, "mllp_load: connection %u closed by the listener\n", k);
                    return 1;
                }
                c->inlen += (size_t)n;
                unsigned long before = c->acked;
                take_acks(c, k, t);
                done += c->acked - before;
            }
        }
    }
    double took = now_s() - t0;
    qsort(lat, nlat, sizeof *lat, cmp_d);
    printf("%lu messages on %u connections (window %u): %.0f messages/s with an ACK, "
           "AA %lu AE %lu AR %lu, out of order %lu; send -> ACK p50 %.1f ms, p99 %.1f ms\n",
           total, conns, window, (double)total / took, aa, ae, ar, wrong_order, lat[nlat / 2] * 1e3,
           lat[nlat * 99 / 100] * 1e3);
    for (unsigned k = 0; k < conns; k++)
        close(cs[k].fd);
    free(lat);
    free(cs);
    free(pf);
    return (aa == total && wrong_order == 0) ? 0 : 1;
}
