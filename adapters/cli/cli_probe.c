/* cli_probe.c - is anything listening at the hub's endpoint? (see cli_probe.h) */
#include "cli_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HINT "is joineryd running? check hub.listen in its configuration"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects fd to addr within the time left: 0, or the errno that says why not (ETIMEDOUT when
 * nothing answered before the deadline). */
static int connect_by(int fd, const struct sockaddr *addr, socklen_t len, long long deadline)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return errno;
    }
    if (connect(fd, addr, len) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS) {
        return errno;
    }
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            return ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        if (n == 0) {
            return ETIMEDOUT;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
            return errno;
        }
        return soerr;
    }
}

static int say(int e, const char *endpoint, int timeout_ms, char *err, size_t errlen)
{
    if (e == ECONNREFUSED) {
        snprintf(err, errlen, "connection refused at %s (" HINT ")", endpoint);
    } else if (e == ENOENT) {
        snprintf(err, errlen, "nothing listens at %s: no such socket file (" HINT ")", endpoint);
    } else if (e == ETIMEDOUT) {
        snprintf(err, errlen,
                 "no answer from %s within %d ms (is the host up, and does a firewall let the "
                 "port through? check hub.listen in the hub's configuration)",
                 endpoint, timeout_ms);
    } else {
        snprintf(err, errlen, "cannot reach %s: %s (" HINT ")", endpoint, strerror(e));
    }
    return -1;
}

/* Splits "HOST:PORT" or "[V6]:PORT" (after tcp://, after any "SOURCE;") into host and port.
 * 0, or -1 when it is not that shape. */
static int split_host_port(const char *hp, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *semi = strchr(hp, ';');
    if (semi != NULL) {
        hp = semi + 1;
    }
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp || colon[1] == '\0') {
        return -1;
    }
    const char *h = hp;
    size_t hl = (size_t)(colon - hp);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    size_t pl = strlen(colon + 1);
    if (hl == 0 || hl >= hostlen || pl >= portlen || strspn(colon + 1, "0123456789") != pl) {
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

static int probe_tcp(const char *endpoint, int timeout_ms, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_host_port(endpoint + 6, host, sizeof host, port, sizeof port) != 0 ||
        strcmp(host, "*") == 0) {
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve the host of %s: %s", endpoint, gai_strerror(rc));
        return -1;
    }
    long long deadline = now_ms() + timeout_ms;
    int e = ECONNREFUSED;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        e = connect_by(fd, a->ai_addr, a->ai_addrlen, deadline);
        close(fd);
        if (e == 0 || e == ETIMEDOUT) {
            break;
        }
    }
    freeaddrinfo(res);
    return e == 0 ? 0 : say(e, endpoint, timeout_ms, err, errlen);
}

static int probe_ipc(const char *endpoint, int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *path = endpoint + 6;
    if (path[0] == '@' || strlen(path) >= sizeof sun.sun_path) {
        return 0; /* abstract or too long for us: ZeroMQ judges it */
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    int e = connect_by(fd, (const struct sockaddr *)&sun, sizeof sun, now_ms() + timeout_ms);
    close(fd);
    return e == 0 ? 0 : say(e, endpoint, timeout_ms, err, errlen);
}

int cli_probe(const char *endpoint, int timeout_ms, char *err, size_t errlen)
{
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        return probe_tcp(endpoint, timeout_ms, err, errlen);
    }
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        return probe_ipc(endpoint, timeout_ms, err, errlen);
    }
    return 0;
}
