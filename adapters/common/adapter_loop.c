/* adapter_loop.c - the adapter's poll loop (contract in adapter_loop.h). */
#include "adapter_loop.h"
#include "adapter_log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* joinery_poll handles a bounded number of hub messages per call; more than this many rounds in
 * one go would starve the adapter's own sockets, and the rest is picked up on the next turn. */
#define DRIVE_ROUNDS 64

struct adapter_loop {
    int sigfd;
    int stopping;
    struct pollfd *all; /* the caller's fds, then the client's, then the signalfd; owned */
    size_t cap;
};

adapter_loop_t *adapter_loop_new(char *err, size_t errlen)
{
    adapter_loop_t *l = calloc(1, sizeof *l);
    if (l == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        (void)snprintf(err, errlen, "cannot take SIGTERM/SIGINT through a signalfd: %s",
                       strerror(errno));
        free(l);
        return NULL;
    }
    return l;
}

void adapter_loop_destroy(adapter_loop_t **l)
{
    if (l == NULL || *l == NULL)
        return;
    close((*l)->sigfd);
    free((*l)->all);
    free(*l);
    *l = NULL;
}

int adapter_loop_stopping(const adapter_loop_t *l)
{
    return l->stopping;
}

void adapter_loop_drive(joinery_client_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < DRIVE_ROUNDS; i++) {
        int n = joinery_poll(c, 0);
        if (n < 0)
            adapter_log(ADAPTER_LOG_WARN, "hub: %s", joinery_last_error(c));
        if (n <= 0)
            break;
    }
}

static void read_signals(adapter_loop_t *l)
{
    struct signalfd_siginfo si;
    while (read(l->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (!l->stopping)
            adapter_log(ADAPTER_LOG_INFO, "%s: stopping", strsignal((int)si.ssi_signo));
        l->stopping = 1;
    }
}

int adapter_loop_run_once(adapter_loop_t *l, joinery_client_t *c, struct pollfd *fds, size_t nfds,
                          int timeout_ms, char *err, size_t errlen)
{
    if (nfds + 2 > l->cap) {
        size_t cap = (nfds + 2) * 2;
        struct pollfd *a = realloc(l->all, cap * sizeof *a);
        if (a == NULL) {
            (void)snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->all = a;
        l->cap = cap;
    }
    if (nfds)
        memcpy(l->all, fds, nfds * sizeof *fds);
    size_t n = nfds;
    int cfd = c ? joinery_fd(c) : -1;
    if (cfd >= 0)
        l->all[n++] = (struct pollfd){.fd = cfd, .events = POLLIN};
    l->all[n++] = (struct pollfd){.fd = l->sigfd, .events = POLLIN};
    if (c != NULL) {
        int t = joinery_timeout_ms(c);
        if (timeout_ms < 0 || t < timeout_ms)
            timeout_ms = t;
    }
    int rc = poll(l->all, n, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        (void)snprintf(err, errlen, "poll: %s", strerror(errno));
        return -1;
    }
    int ready = 0;
    for (size_t i = 0; i < nfds; i++) {
        fds[i].revents = l->all[i].revents;
        ready += fds[i].revents != 0;
    }
    if (l->all[n - 1].revents)
        read_signals(l);
    /* ZMQ_FD is edge-triggered and may be readable with nothing to read: drive the client
     * every turn instead of trusting its revents. */
    adapter_loop_drive(c);
    return ready;
}
