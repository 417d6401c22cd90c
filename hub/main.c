/* main.c - joineryd: the Joinery hub daemon.
 *
 *   joineryd --config FILE          run the hub
 *   joineryd --check-config FILE    validate the configuration and exit
 *
 * Start-up: load the configuration, start the private PostgreSQL cluster when
 * no database is configured, apply migrations, then hand over to the core
 * loop (router.c) until SIGTERM or SIGINT. */
#include "base/config.h"
#include "router.h"
#include "base/log.h"
#include "master/master.h"
#include "store/migrate.h"
#include "store/pgcluster.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: joineryd --config FILE [--log-format text|json] [--log-level LEVEL]\n"
                 "       joineryd --check-config FILE\n"
                 "\n"
                 "The Joinery hub: routes events between council systems' adapters and keeps\n"
                 "their master data right. With no database.conninfo in FILE it runs its own\n"
                 "PostgreSQL cluster under hub.data_dir.\n"
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

static int run(const config_t *cfg)
{
    char err[512];
    if (make_dirs(cfg->data_dir) < 0) {
        log_error("main", "cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return 1;
    }
    pgcluster_t *pc = NULL;
    const char *conninfo = cfg->database;
    if (!conninfo) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/pg", cfg->data_dir);
        log_info("main", "no database configured: using the private PostgreSQL cluster in %s", dir);
        pc = pgcluster_start(dir, cfg->pg_bindir, err, sizeof err);
        if (!pc) {
            log_error("main", "%s", err);
            return 1;
        }
        conninfo = pgcluster_conninfo(pc);
    }
    int rc = migrate(conninfo) == 0 && router_run(cfg, conninfo) == 0 ? 0 : 1;
    if (pc) {
        if (pgcluster_stop(&pc, err, sizeof err) < 0) {
            log_error("main", "%s", err);
            rc = 1;
        } else {
            log_info("main", "private PostgreSQL cluster stopped");
        }
    }
    return rc;
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
    int rc = run(cfg);
    config_destroy(&cfg);
    return rc;
}
