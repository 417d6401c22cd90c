/* support_hubproc.c - see support_hubproc.h. */
#include "support_hubproc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int hubproc_log_has(const hubproc_t *h, const char *what)
{
    FILE *f = fopen(h->log, "r");
    char line[1024];
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, what) != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

static int write_config(const hubproc_t *h, const char *path, const char *adapters)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f,
            "hub:\n  listen: %s\n  data_dir: %s/data\ndatabase:\n  conninfo: \"%s\"\n"
            "security:\n  curve: false\nadapters:\n%s",
            h->endpoint, h->dir, h->conninfo, adapters);
    return fclose(f);
}

/* Waits up to 30 s for the hub to say it is ready; -1 if it exits or does not. */
static int wait_ready(hubproc_t *h)
{
    for (int i = 0; i < 300 && !hubproc_log_has(h, "ready: listening"); i++) {
        if (waitpid(h->hub, NULL, WNOHANG) == h->hub) {
            fprintf(stderr, "joineryd exited during start-up; see %s\n", h->log);
            h->hub = 0;
            return -1;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (!hubproc_log_has(h, "ready: listening")) {
        fprintf(stderr, "joineryd not ready in 30 s; see %s\n", h->log);
        return -1;
    }
    return 0;
}

static int start(hubproc_t *h, const char *hubbin, const char *name, const char *adapters)
{
    char err[512];
    h->conninfo = testdb_fresh(name, err, sizeof err);
    if (h->conninfo == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(h->dir, sizeof h->dir, "/tmp/joinery-hubproc-XXXXXX");
    if (mkdtemp(h->dir) == NULL) {
        h->dir[0] = '\0';
        return -1;
    }
    chmod(h->dir, 0711); /* the private cluster's owner must reach it when run as root */
    snprintf(h->log, sizeof h->log, "%s/hub.log", h->dir);
    snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", free_port());
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", h->dir);
    if (write_config(h, cfg, adapters) != 0) {
        return -1;
    }
    h->hub = fork();
    if (h->hub == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(hubbin, hubbin, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    if (h->hub < 0 || wait_ready(h) != 0) {
        return -1;
    }
    h->db = testdb_connect(h->conninfo);
    return h->db != NULL ? 0 : -1;
}

int hubproc_start(hubproc_t **out, const char *name, const char *adapters)
{
    *out = NULL;
    const char *build = getenv("JOINERY_BUILD_DIR");
    char hubbin[512];
    snprintf(hubbin, sizeof hubbin, "%s/hub/joineryd", build ? build : ".");
    if (build == NULL || access(hubbin, X_OK) != 0) {
        fprintf(stderr, "no joineryd at %s: skipped\n", hubbin);
        return 0;
    }
    hubproc_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return -1;
    }
    if (start(h, hubbin, name, adapters) != 0) {
        hubproc_stop(&h);
        return -1;
    }
    *out = h;
    return 0;
}

void hubproc_stop(hubproc_t **hp)
{
    hubproc_t *h = *hp;
    if (h == NULL) {
        return;
    }
    if (h->hub > 0) {
        kill(h->hub, SIGTERM);
        waitpid(h->hub, NULL, 0);
    }
    if (h->db != NULL) {
        PQfinish(h->db);
    }
    if (h->dir[0] != '\0') {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", h->dir);
        }
    }
    free(h->conninfo);
    free(h);
    *hp = NULL;
}
