/* kafka_mock - librdkafka's mock Kafka cluster (rdkafka_mock.h) as a process,
 * so the hub, kcat and python3-confluent-kafka talk the real Kafka protocol to
 * it over TCP.
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints "bootstrap HOST:PORT,..." on stdout once it is ready, then runs
 * until SIGTERM/SIGINT or "quit". Commands on stdin, one a line, each
 * answered "ok" or "error ..." on stdout:
 *   down ID      take broker ID (1..N) down: its connections are closed and
 *                it accepts no more until "up ID"
 *   up ID        bring it back
 *   topic NAME P create a topic of P partitions
 *   quit         stop */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 1000)
        return -1;
    *out = (int)v;
    return 0;
}

static int make_topic(rd_kafka_mock_cluster_t *mc, const char *spec)
{
    char name[256];
    const char *colon = strrchr(spec, ':');
    int parts = 1;
    if (!colon || (size_t)(colon - spec) >= sizeof name || parse_int(colon + 1, &parts) < 0)
        return -1;
    memcpy(name, spec, (size_t)(colon - spec));
    name[colon - spec] = '\0';
    return rd_kafka_mock_topic_create(mc, name, parts, 1) ? -1 : 0;
}

/* One command line; 1 to stop. */
static int command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char verb[16] = "", arg[256] = "", arg2[16] = "";
    int id = 0;
    if (sscanf(line, "%15s %255s %15s", verb, arg, arg2) < 1)
        return 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!strcmp(verb, "quit")) {
        return 1;
    } else if ((!strcmp(verb, "down") || !strcmp(verb, "up")) && parse_int(arg, &id) == 0) {
        err = verb[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, id)
                             : rd_kafka_mock_broker_set_up(mc, id);
    } else if (!strcmp(verb, "topic") && parse_int(arg2, &id) == 0) {
        err = rd_kafka_mock_topic_create(mc, arg, id, 1);
    } else {
        printf("error unknown command: %s\n", line);
        fflush(stdout);
        return 0;
    }
    if (err)
        printf("error %s\n", rd_kafka_err2str(err));
    else
        printf("ok\n");
    fflush(stdout);
    return 0;
}

static void serve(rd_kafka_mock_cluster_t *mc, int sfd)
{
    char line[512];
    size_t used = 0;
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return;
        if (p[0].revents & POLLIN)
            return;
        if (!(p[1].revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t n = read(0, line + used, sizeof line - 1 - used);
        if (n <= 0) {
            in_open = false; /* no controller: run until a signal */
            continue;
        }
        used += (size_t)n;
        line[used] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (command(mc, line))
                return;
            used -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, used + 1);
        }
        if (used == sizeof line - 1)
            used = 0; /* a line longer than any command: dropped */
    }
}

int main(int argc, char **argv)
{
    int brokers = 3;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, 0);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk || sfd < 0) {
        fprintf(stderr, "kafka_mock: %s\n", rk ? "cannot make a signalfd" : err);
        return 1;
    }
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--brokers") && parse_int(argv[i + 1], &brokers) < 0)
            return fprintf(stderr, "kafka_mock: bad --brokers\n"), 2;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot start the mock cluster\n");
        return 1;
    }
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--topic") && make_topic(mc, argv[i + 1]) < 0)
            return fprintf(stderr, "kafka_mock: bad --topic %s\n", argv[i + 1]), 2;
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    serve(mc, sfd);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    close(sfd);
    return 0;
}
