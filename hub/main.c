/* main.c - joineryd: the Joinery hub daemon.
 *
 *   joineryd --config FILE          run the hub
 *   joineryd --check-config FILE    validate the configuration and exit
 *
 * Start-up: load the configuration, lock the data directory, start the
 * private PostgreSQL cluster when no database is configured, apply
 * migrations, then hand over to the core loop (router.c) until SIGTERM or
 * SIGINT. SIGHUP (once the hub is ready) reloads the configuration file
 * (reload.c). The configuration loaded here is main's: it outlives the core,
 * which keeps every configuration a reload installs (core.h, core_t.cfg).
 *
 * The lock comes before anything is touched: a second hub on the same data
 * directory used to reuse the first one's cluster, fail to bind, and then stop
 * that cluster on its way out, leaving the running hub without a database. */
#include "base/config.h"
#include "router.h"
#include "base/log.h"
#include "base/secret.h"
#include "master/master.h"
#include "partner/partner.h"
#include "store/migrate.h"
#include "store/pgcluster.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define LOCK_NAME "joineryd.lock"

static void usage(FILE *out)
{
    fprintf(out, "usage: joineryd --config FILE [--log-format text|json] [--log-level LEVEL]\n"
                 "       joineryd --check-config FILE\n"
                 "\n"
                 "The Joinery hub: routes events between council systems' adapters and keeps\n"
                 "their master data right. With no database.conninfo in FILE it runs its own\n"
                 "PostgreSQL cluster under hub.data_dir. SIGHUP (or POST /api/v1/reload, or\n"
                 "`joinery reload`) reloads FILE without a restart; what needs one is refused.\n"
                 "\n"
                 "  -c, --config FILE        configuration (see deploy/joinery.example.yaml)\n"
                 "      --check-config FILE  check FILE and exit: 0 if valid, 1 with the error\n"
                 "      --log-format FORMAT  text (default) or json; overrides the file\n"
                 "      --log-level LEVEL    debug, info, warn or error; overrides the file\n"
                 "  -h, --help               this text\n"
                 "  -V, --version            print the version\n");
}

static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int migrate(const char *conninfo)
{
    char err[512];
    PGconn *conn = store_connect(conninfo, 60000, err, sizeof err);
    if (!conn) {
        log_error("main", "%s", err);
        return -1;
    }
    int v = migrate_apply(conn, migrate_default_dir(), err, sizeof err);
    PQfinish(conn);
    if (v < 0) {
        log_error("main", "%s", err);
        return -1;
    }
    log_info("main", "database schema at version %d", v);
    return 0;
}

/* The pid the lock holder wrote, or 0 if it has not written it yet. */
static long lock_holder(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    long pid = strtol(buf, &end, 10);
    return errno == 0 && end != buf && pid > 0 ? pid : 0;
}

/* Holds DATA_DIR/joineryd.lock for the life of the process (the kernel lets
 * go when it exits, however it exits); the file says whose it is. Returns the
 * descriptor, or -1 having logged why, another hub's pid included. */
static int lock_data_dir(const char *data_dir)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/" LOCK_NAME, data_dir) >= (int)sizeof path) {
        log_error("main", "data directory path too long: %s", data_dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("main", "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            log_error("main",
                      "another joineryd (pid %ld) holds %s (%s): stop it first, or give this hub "
                      "a hub.data_dir of its own; nothing of the other hub was touched",
                      lock_holder(fd), data_dir, path);
        else
            log_error("main", "cannot lock %s: %s", path, strerror(errno));
        (void)close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != (ssize_t)n)
        log_warn("main", "cannot write the pid into %s: %s", path, strerror(errno));
    return fd;
}

static pgcluster_t *start_private_cluster(const config_t *cfg)
{
    char dir[4200], err[512];
    snprintf(dir, sizeof dir, "%s/pg", cfg->data_dir);
    log_info("main", "no database configured: using the private PostgreSQL cluster in %s", dir);
    pgcluster_t *pc = pgcluster_start(dir, cfg->pg_bindir, err, sizeof err);
    if (!pc) {
        log_error("main", "%s", err);
        return NULL;
    }
    /* An operator's way in while the hub runs (docs/operations.md). */
    log_info("main", "private PostgreSQL cluster: psql \"%s\"", pgcluster_conninfo(pc));
    return pc;
}

/* Start-up (initdb, migrations, the first connections) takes seconds, and an operator's reload
 * or a service manager's stop can come meanwhile. The stop and reload signals are held from here,
 * before any thread exists, so none kills the hub half started with its cluster left running: the
 * core's signalfd takes them once it runs (router.c), where a reload is done and a stop stops the
 * hub and its cluster cleanly; a stop while the database is awaited ends the wait (store.c). */
static void hold_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    (void)pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int run(const config_t *cfg)
{
    hold_signals();
    if (make_dirs(cfg->data_dir) < 0) {
        log_error("main", "cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return 1;
    }
    int lock = lock_data_dir(cfg->data_dir);
    if (lock < 0)
        return 1;
    pgcluster_t *pc = NULL;
    const char *conninfo = cfg->database;
    if (!conninfo) {
        pc = start_private_cluster(cfg);
        if (!pc) {
            (void)close(lock);
            return 1;
        }
        conninfo = pgcluster_conninfo(pc);
    }
    int rc = migrate(conninfo) == 0 && router_run(cfg, conninfo) == 0 ? 0 : 1;
    if (pc) {
        char err[512];
        if (pgcluster_stop(&pc, err, sizeof err) < 0) {
            log_error("main", "%s", err);
            rc = 1;
        } else {
            log_info("main", "private PostgreSQL cluster stopped");
        }
    }
    (void)close(lock); /* last: the cluster is stopped before another hub may start it */
    return rc;
}

/* What an operator should know before anything else is logged: parts of the
 * configuration that are accepted but do nothing yet, an admin API open to
 * every local user, a password others can
 * read, and the hub's public key (what every adapter's hub.pub must hold). */
static void announce(const config_t *cfg)
{
    if (cfg->admin_enabled && cfg->nadmin_tokens == 0)
        log_warn("main",
                 "admin API on %s without tokens: every local user may call it; configure "
                 "admin.tokens",
                 cfg->admin_listen);
    mode_t mode = 0;
    if (secret_config_exposes_password(cfg->path, &mode))
        log_warn("main",
                 "%s holds a password and is readable by group or others (mode %04o): "
                 "chmod 600 %s, or move the password to ~/.pgpass",
                 cfg->path, (unsigned)mode, cfg->path);
    char pub[41];
    if (cfg->curve && cfg->hub_secret_key && zmq_curve_public(pub, cfg->hub_secret_key) == 0)
        log_info("main", "hub public key %s (adapters' hub.pub must hold it)", pub);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", required_argument, NULL, 'k'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL, *format = NULL, *level = NULL;
    int check = 0, o;
    while ((o = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            path = optarg;
            check = 1;
            break;
        case 'f':
            format = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("joineryd %s\n", JOINERY_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    int lf = format ? log_format_parse(format) : 0, ll = level ? log_level_parse(level) : 0;
    if (lf < 0 || ll < 0) {
        fprintf(stderr, "joineryd: unknown %s '%s'\n", lf < 0 ? "log format" : "log level",
                lf < 0 ? format : level);
        return 2;
    }
    /* Group-commit batches are megabytes each and made continuously: keep them
     * in the heap, where freed memory is reused, rather than in fresh mmaps
     * that must be faulted in page by page every time. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    char err[1024];
    config_t *cfg = config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "joineryd: %s\n", err);
        return 1;
    }
    /* The configuration knows the shape of master_data; the engine knows which fields its
     * entities have. Both are checked before --check-config says "valid". */
    if (master_check_config(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "joineryd: %s\n", err);
        config_destroy(&cfg);
        return 1;
    }
    if (check) {
        printf("%s: configuration is valid (%zu adapters)\n", cfg->path, cfg->nadapters);
        config_destroy(&cfg);
        return 0;
    }
    log_configure(level ? (log_level_t)ll : (log_level_t)cfg->log_level,
                  format ? (log_format_t)lf : (log_format_t)cfg->log_format);
    log_info("main", "joineryd %s starting with %s", JOINERY_VERSION, cfg->path);
    announce(cfg);
    if (partner_make_keys(cfg, err, sizeof err) != 0) {
        log_error("main", "%s", err);
        config_destroy(&cfg);
        return 1;
    }
    int rc = run(cfg);
    config_destroy(&cfg);
    return rc;
}
