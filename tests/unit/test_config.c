/* test_config.c - unit tests for hub/base/config.c: the YAML configuration loader.
 *
 * Each test writes its YAML (and key files) into a fresh mkdtemp directory,
 * so relative-path resolution is exercised for real and tests cannot see each
 * other's files. Error tests check the line number and the words a user needs
 * to fix the file, not whole messages, so wording can improve freely. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "base/config.h"
#include "master/master.h"
#include "match/match.h"
#include "base/log.h"

#define ERR_LEN 1024
#define PATH_LEN 512
#define KEY_BUF 41

typedef struct {
    char dir[PATH_LEN];
    char err[ERR_LEN];
    config_t *cfg;
} fixture_t;

typedef struct {
    char pub[KEY_BUF];
    char sec[KEY_BUF];
} keypair_t;

/* Helpers ----------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/joinery-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    config_destroy(&fx->cfg);
    nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void path_in(const fixture_t *fx, const char *rel, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", fx->dir, rel);
    assert_true(n > 0 && (size_t)n < len);
}

/* Writes REL under the fixture directory, creating one level of subdirectory. */
static void write_file(const fixture_t *fx, const char *rel, const char *text)
{
    char path[PATH_LEN];
    path_in(fx, rel, path, sizeof path);
    const char *slash = strrchr(rel, '/');
    if (slash != NULL) {
        char dir[PATH_LEN];
        int n = snprintf(dir, sizeof dir, "%s/%.*s", fx->dir, (int)(slash - rel), rel);
        assert_true(n > 0 && (size_t)n < sizeof dir);
        assert_true(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    /* As `joinery keygen` leaves a secret key: the hub refuses one others can read. */
    assert_int_equal(chmod(path, 0600), 0);
}

static config_t *load_text(fixture_t *fx, const char *text)
{
    char path[PATH_LEN];
    write_file(fx, "joinery.yaml", text);
    path_in(fx, "joinery.yaml", path, sizeof path);
    fx->cfg = config_load(path, fx->err, sizeof fx->err);
    return fx->cfg;
}

/* The load must fail with a message containing LINE_TAG (":N: ") and WANT. */
static void expect_error(fixture_t *fx, const char *text, const char *line_tag, const char *want)
{
    config_t *cfg = load_text(fx, text);
    if (cfg != NULL)
        fail_msg("expected an error containing \"%s\", but the load succeeded", want);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "joinery.yaml%s", line_tag ? line_tag : ":");
    if (strstr(fx->err, prefix) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", prefix, fx->err);
    if (strstr(fx->err, want) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", want, fx->err);
}

/* The file loads, but the engine refuses it (master_check_config): a master_data rule names
 * a field the engine does not know. The message must contain LINE_TAG and WANT. */
static void expect_check_error(fixture_t *fx, const char *text, const char *line_tag,
                               const char *want)
{
    config_t *cfg = load_text(fx, text);
    if (cfg == NULL)
        fail_msg("expected the load to succeed, got \"%s\"", fx->err);
    if (master_check_config(cfg, fx->err, sizeof fx->err) == 0)
        fail_msg("expected the engine to refuse the file with \"%s\"", want);
    config_destroy(&fx->cfg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "joinery.yaml%s", line_tag ? line_tag : ":");
    if (strstr(fx->err, prefix) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", prefix, fx->err);
    if (strstr(fx->err, want) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", want, fx->err);
}

static void make_keypair(keypair_t *kp)
{
    assert_int_equal(zmq_curve_keypair(kp->pub, kp->sec), 0);
}

/* Valid loads ------------------------------------------------------------- */

static void test_full_file(void **state)
{
    fixture_t *fx = *state;
    keypair_t hub, crm, ops;
    make_keypair(&hub);
    make_keypair(&crm);
    make_keypair(&ops);
    char hubkey[128], text[4096];
    snprintf(hubkey, sizeof hubkey, "  %s  \n", hub.sec);
    write_file(fx, "keys/hub.key", hubkey);
    snprintf(hubkey, sizeof hubkey, "%s\nsecond line is ignored\n", ops.pub);
    write_file(fx, "keys/ops.pub", hubkey);
    snprintf(text, sizeof text,
             "hub:\n"
             "  listen: tcp://0.0.0.0:7700\n"
             "  data_dir: state/hub\n"
             "  log_level: debug\n"
             "  log_format: json\n"
             "  heartbeat_ms: 250\n"
             "  heartbeat_misses: 3\n"
             "  max_message_bytes: 65536\n"
             "  max_batch: 50\n"
             "database:\n"
             "  conninfo: \"host=/tmp dbname=joinery\"\n"
             "  pg_bindir: /usr/lib/postgresql/15/bin\n"
             "security:\n"
             "  curve: yes\n"
             "  hub_key_file: keys/hub.key\n"
             "delivery:\n"
             "  max_attempts: 7\n"
             "  retry_base_ms: 100\n"
             "  retry_max_ms: 5000\n"
             "  window_events: 1024\n"
             "  default_credit: 10\n"
             "  transient: [\"telemetry.*\", \"metrics.cpu\"]\n"
             "adapters:\n"
             "  - name: crm\n"
             "    public_key: \"%s\"\n"
             "    publish: [\"person.*\", \"crm.*\"]\n"
             "    subscribe: [\"person.*\"]\n"
             "  - name: ops_cli-2\n"
             "    public_key_file: ./keys/ops.pub\n"
             "    subscribe: [\"*\"]\n"
             "    operator: true\n"
             "master_data:\n"
             "  person:\n"
             "    fields: {birth_date: {owner: crm}}\n"
             "  matching: {upper: 30.5, lower: 12}\n"
             "partners:\n"
             "  - name: whatever\n"
             "    agreement: DSA-1\n"
             "    purpose: direct-care\n"
             "    consent_required: true\n"
             "    kafka: {brokers: \"localhost:9092\", properties: {security.protocol: ssl}}\n"
             "    outbound:\n"
             "      topic: to-whatever\n"
             "      types: [\"person.*\"]\n"
             "      fields: {joinery.v1.PersonChanged: [master_id, person.name]}\n"
             "    inbound: {topic: from-whatever, types: [\"health.*\"]}\n"
             "admin:\n"
             "  enabled: true\n"
             "  listen: \"[::1]:9000\"\n",
             crm.pub);
    config_t *cfg = load_text(fx, text);
    if (cfg == NULL)
        fail_msg("%s", fx->err);

    char want[PATH_LEN];
    path_in(fx, "joinery.yaml", want, sizeof want);
    assert_string_equal(cfg->path, want);
    assert_string_equal(cfg->listen, "tcp://0.0.0.0:7700");
    path_in(fx, "state/hub", want, sizeof want);
    assert_string_equal(cfg->data_dir, want);
    assert_int_equal(cfg->log_level, LOG_DEBUG);
    assert_int_equal(cfg->log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg->heartbeat_ms, 250);
    assert_int_equal(cfg->heartbeat_misses, 3);
    assert_int_equal(cfg->max_message_bytes, 65536);
    assert_int_equal(cfg->max_batch, 50);
    assert_string_equal(cfg->database, "host=/tmp dbname=joinery");
    assert_string_equal(cfg->pg_bindir, "/usr/lib/postgresql/15/bin");
    assert_true(cfg->curve);
    assert_string_equal(cfg->hub_secret_key, hub.sec);
    assert_int_equal(cfg->max_attempts, 7);
    assert_int_equal(cfg->retry_base_ms, 100);
    assert_int_equal(cfg->retry_max_ms, 5000);
    assert_int_equal(cfg->window_events, 1024);
    assert_int_equal(cfg->default_credit, 10);
    assert_int_equal(cfg->transient.count, 2);
    assert_string_equal(cfg->transient.items[0], "telemetry.*");
    assert_string_equal(cfg->transient.items[1], "metrics.cpu");
    assert_true(cfg->admin_enabled);
    assert_string_equal(cfg->admin_listen, "[::1]:9000");
    assert_int_equal(cfg->master.nfields, 1);
    assert_string_equal(cfg->master.fields[0].owner, "crm");
    assert_true(cfg->master.match_upper == 30.5);
    assert_true(cfg->master.match_lower == 12.0);

    /* The partner's agreement makes its adapter, after the configured ones. */
    assert_int_equal(cfg->npartners, 1);
    const config_partner_t *p = config_partner(cfg, "whatever");
    assert_non_null(p);
    assert_string_equal(p->adapter, "partner:whatever");
    assert_string_equal(p->in_group, "joinery-whatever");
    assert_true(p->consent_required);
    assert_int_equal(p->kprops.count, 2);
    assert_int_equal(p->nfields, 1);
    assert_string_equal(p->fields[0].fields.items[1], "person.name");
    assert_int_equal(cfg->nadapters, 3);
    assert_string_equal(cfg->adapters[2].name, "partner:whatever");
    assert_string_equal(cfg->adapters[2].subscribe.items[0], "person.*");
    assert_string_equal(cfg->adapters[2].publish.items[0], "health.*");
    const config_adapter_t *a = &cfg->adapters[0];
    assert_string_equal(a->name, "crm");
    assert_string_equal(a->public_key, crm.pub);
    assert_int_equal(a->publish.count, 2);
    assert_string_equal(a->publish.items[1], "crm.*");
    assert_int_equal(a->subscribe.count, 1);
    assert_string_equal(a->subscribe.items[0], "person.*");
    assert_false(a->is_operator);

    a = &cfg->adapters[1];
    assert_string_equal(a->name, "ops_cli-2");
    assert_string_equal(a->public_key, ops.pub);
    assert_int_equal(a->publish.count, 0);
    assert_int_equal(a->subscribe.count, 1);
    assert_string_equal(a->subscribe.items[0], "*");
    assert_true(a->is_operator);

    assert_ptr_equal(config_adapter(cfg, "crm"), &cfg->adapters[0]);
    assert_ptr_equal(config_adapter(cfg, "ops_cli-2"), &cfg->adapters[1]);
    assert_null(config_adapter(cfg, "nobody"));
    assert_ptr_equal(config_adapter_by_key(cfg, crm.pub), &cfg->adapters[0]);
    assert_ptr_equal(config_adapter_by_key(cfg, ops.pub), &cfg->adapters[1]);
    assert_null(config_adapter_by_key(cfg, hub.pub));
    assert_null(config_adapter_by_key(cfg, NULL));

    config_destroy(&fx->cfg);
    assert_null(fx->cfg);
}

static void test_defaults(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg = load_text(fx, "security:\n  curve: false\n"
                                  "adapters:\n  - name: crm\n");
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    char want[PATH_LEN];
    path_in(fx, "var/joinery", want, sizeof want);
    assert_string_equal(cfg->listen, "tcp://127.0.0.1:7600");
    assert_string_equal(cfg->data_dir, want);
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_int_equal(cfg->log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg->heartbeat_ms, 1000);
    assert_int_equal(cfg->heartbeat_misses, 5);
    assert_int_equal(cfg->max_message_bytes, 1048576);
    assert_int_equal(cfg->max_batch, 1000);
    assert_null(cfg->database);
    assert_null(cfg->pg_bindir);
    assert_false(cfg->curve);
    assert_null(cfg->hub_secret_key);
    assert_int_equal(cfg->max_attempts, 5);
    assert_int_equal(cfg->retry_base_ms, 200);
    assert_int_equal(cfg->retry_max_ms, 30000);
    assert_int_equal(cfg->window_events, 262144);
    assert_int_equal(cfg->default_credit, 1000);
    assert_int_equal(cfg->transient.count, 0);
    assert_false(cfg->admin_enabled);
    assert_string_equal(cfg->admin_listen, "127.0.0.1:7680");
    /* No master_data: no owners, adapter order, match_params_default()'s thresholds. */
    assert_int_equal(cfg->master.nfields, 0);
    assert_int_equal(cfg->master.survivorship.count, 0);
    assert_true(cfg->master.match_upper == 30.0);
    assert_true(cfg->master.match_lower == 16.0);
    assert_int_equal(cfg->nadapters, 1);
    assert_int_equal(cfg->adapters[0].publish.count, 0);
    assert_int_equal(cfg->adapters[0].subscribe.count, 0);
    assert_false(cfg->adapters[0].is_operator);
    assert_null(cfg->adapters[0].public_key);
}

/* Development mode: no key anywhere, and named key files need not exist. */
static void test_curve_off_needs_no_keys(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg = load_text(fx, "security:\n"
                                  "  curve: no\n"
                                  "  hub_key_file: keys/missing.key\n"
                                  "adapters:\n"
                                  "  - name: crm\n"
                                  "  - name: health\n"
                                  "    public_key_file: keys/missing.pub\n"
                                  "master_data: {}\n"
                                  "partners:\n");
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    assert_false(cfg->curve);
    assert_null(cfg->hub_secret_key);
    assert_int_equal(cfg->nadapters, 2);
    assert_null(cfg->adapters[1].public_key);
    assert_null(config_adapter_by_key(cfg, "anything"));
}

static void test_keys_from_files(void **state)
{
    fixture_t *fx = *state;
    keypair_t hub, a, b;
    make_keypair(&hub);
    make_keypair(&a);
    make_keypair(&b);
    char line[128], text[1024];
    snprintf(line, sizeof line, "%s\n", hub.sec);
    write_file(fx, "keys/hub.key", line);
    snprintf(line, sizeof line, "\t%s \r\n", a.pub);
    write_file(fx, "keys/a.pub", line);
    snprintf(line, sizeof line, "%s", b.pub); /* no newline at all */
    write_file(fx, "keys/b.pub", line);
    snprintf(text, sizeof text,
             "security:\n  hub_key_file: keys/hub.key\n"
             "adapters:\n"
             "  - name: a\n    public_key_file: keys/a.pub\n"
             "  - name: b\n    public_key_file: %s/keys/b.pub\n",
             fx->dir);
    config_t *cfg = load_text(fx, text);
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    assert_true(cfg->curve);
    assert_string_equal(cfg->hub_secret_key, hub.sec);
    assert_string_equal(config_adapter(cfg, "a")->public_key, a.pub);
    assert_string_equal(config_adapter(cfg, "b")->public_key, b.pub);
    assert_string_equal(config_adapter_by_key(cfg, b.pub)->name, "b");
}

static void test_good_patterns(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg = load_text(fx, "security: {curve: false}\n"
                                  "adapters:\n"
                                  "  - name: x\n"
                                  "    publish: ['*', 'person.*', 'case.referral.created',\n"
                                  "              'a-b_c.*.z9', '*.updated']\n");
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    assert_int_equal(cfg->adapters[0].publish.count, 5);
    assert_string_equal(cfg->adapters[0].publish.items[4], "*.updated");
}

/* A config given by a relative path still yields absolute paths. */
static void test_relative_config_path(void **state)
{
    fixture_t *fx = *state;
    write_file(fx, "etc/joinery.yaml",
               "hub:\n  data_dir: data\n"
               "security:\n  curve: false\n"
               "adapters:\n  - name: crm\n");
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    assert_int_equal(chdir(fx->dir), 0);
    fx->cfg = config_load("./etc/joinery.yaml", fx->err, sizeof fx->err);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    if (fx->cfg == NULL)
        fail_msg("%s", fx->err);
    char want[PATH_LEN];
    path_in(fx, "etc/joinery.yaml", want, sizeof want);
    assert_string_equal(fx->cfg->path, want);
    path_in(fx, "etc/data", want, sizeof want);
    assert_string_equal(fx->cfg->data_dir, want);
}

static void source_dir(char *out, size_t len)
{
    const char *env = getenv("JOINERY_SOURCE_DIR");
    if (env != NULL && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    /* Built from the source tree, __FILE__ ends in this file's path in the repo. */
    const char *file = __FILE__;
    const char *suffix = "tests/unit/test_config.c";
    size_t n = strlen(file), s = strlen(suffix);
    assert_true(n >= s && strcmp(file + n - s, suffix) == 0);
    snprintf(out, len, "%.*s.", (int)(n - s), file);
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = calloc(1, (size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return buf;
}

/* The shipped example is secure by default, so it needs its key files. */
static void test_example_file_loads(void **state)
{
    fixture_t *fx = *state;
    static const char *const names[] = {"crm", "socialcare", "agresso", "health", "ops"};
    char src[PATH_LEN], path[PATH_LEN];
    source_dir(src, sizeof src);
    int n = snprintf(path, sizeof path, "%s/deploy/joinery.example.yaml", src);
    assert_true(n > 0 && (size_t)n < sizeof path);
    char *text = read_whole(path);
    write_file(fx, "joinery.yaml", text);
    free(text);

    keypair_t hub, kp[5];
    char line[64], rel[512];
    make_keypair(&hub);
    snprintf(line, sizeof line, "%.40s\n", hub.sec);
    write_file(fx, "keys/hub.key", line);
    for (size_t i = 0; i < 5; i++) {
        make_keypair(&kp[i]);
        snprintf(line, sizeof line, "%.40s\n", kp[i].pub);
        snprintf(rel, sizeof rel, "keys/%s.pub", names[i]);
        write_file(fx, rel, line);
    }
    path_in(fx, "joinery.yaml", path, sizeof path);
    fx->cfg = config_load(path, fx->err, sizeof fx->err);
    if (fx->cfg == NULL)
        fail_msg("%s", fx->err);
    assert_true(fx->cfg->curve);
    assert_int_equal(fx->cfg->nadapters, 5);
    for (size_t i = 0; i < 5; i++)
        assert_ptr_equal(config_adapter_by_key(fx->cfg, kp[i].pub),
                         config_adapter(fx->cfg, names[i]));
    assert_true(config_adapter(fx->cfg, "ops")->is_operator);
    assert_false(config_adapter(fx->cfg, "crm")->is_operator);
}

/* Errors ------------------------------------------------------------------ */

static void test_missing_file(void **state)
{
    fixture_t *fx = *state;
    char path[PATH_LEN];
    path_in(fx, "nope.yaml", path, sizeof path);
    assert_null(config_load(path, fx->err, sizeof fx->err));
    assert_non_null(strstr(fx->err, "nope.yaml: cannot read: "));
    assert_non_null(strstr(fx->err, "No such file"));
    /* A directory is not a configuration either. */
    assert_null(config_load(fx->dir, fx->err, sizeof fx->err));
    assert_non_null(strstr(fx->err, "cannot read"));
    assert_null(config_load(NULL, fx->err, sizeof fx->err));
}

static void test_syntax_error(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "security:\n  curve: false\nadapters:\n  - name: [crm\n  - name: x\n", NULL,
                 "YAML syntax error");
    expect_error(fx, "hub:\n  listen: tcp://127.0.0.1:1\n  data_dir: \"unterminated\n",
                 ":3: ", "YAML syntax error");
    expect_error(fx, "hub:\n  listen: a\n bad: indentation\n", ":3: ", "YAML syntax error");
    /* Bad UTF-8 is found by libyaml's reader, which reports a byte offset. */
    expect_error(fx, "hub:\n  listen: tcp://x:1\n\n  data_dir: \"a\xc3\x28\"\n",
                 ":4: ", "YAML syntax error");
}

static void test_unknown_key(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "hub:\n  listen: tcp://127.0.0.1:7600\n  lisen: x\n",
                 ":3: ", "unknown key 'lisen' in 'hub' (expected one of: listen, data_dir,");
    expect_error(fx, "security: {curve: false}\nadapters:\n  - name: crm\n    publsh: []\n",
                 ":4: ", "unknown key 'publsh' in 'adapters[0]'");
    expect_error(fx, "security: {curve: false}\nadapters:\n  - name: crm\nhubb: {}\n",
                 ":4: ", "unknown key 'hubb' at the top level");
}

static void test_wrong_type(void **state)
{
    fixture_t *fx = *state;
    static const char *const bad[] = {"abc", "-5", "0", "12abc", "4294967296", "1.5", "' 7'"};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "hub:\n  log_level: info\n  heartbeat_ms: %s\n", bad[i]);
        expect_error(fx, text, ":3: ", "'hub.heartbeat_ms' must be a positive integer");
    }
    expect_error(fx, "hub:\n  heartbeat_ms: abc\n", ":2: ", "got 'abc'");
    expect_error(fx, "security:\n  curve: maybe\n",
                 ":2: ", "'security.curve' must be true or false");
    expect_error(fx, "hub:\n  listen: [a, b]\n", ":2: ", "'hub.listen' must be");
    expect_error(fx, "hub:\n  listen: 127.0.0.1:7600\n", ":2: ", "ZeroMQ endpoint");
    expect_error(fx, "hub:\n  data_dir:\n", ":2: ", "'hub.data_dir' has no value");
    expect_error(fx, "hub: [1, 2]\n", ":1: ", "'hub' must be a mapping");
    expect_error(fx, "admin:\n  listen: localhost\n", ":2: ", "HOST:PORT");
    expect_error(fx, "master_data: [1]\n", ":1: ", "'master_data' must be a mapping");
    expect_error(fx, "partners: {a: 1}\n", ":1: ", "'partners' must be a list");
    expect_error(fx, "partners:\n  - name: trust\n", ":2: ", "has no 'agreement'");
    expect_error(fx, "delivery:\n  retry_base_ms: 500\n  retry_max_ms: 100\n",
                 ":2: ", "retry_max_ms");
}

static void test_bad_enum(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "hub:\n  log_level: verbose\n",
                 ":2: ", "'hub.log_level' must be one of debug, info, warn, error; got 'verbose'");
    expect_error(fx, "hub:\n\n  log_format: xml\n",
                 ":3: ", "'hub.log_format' must be one of text, json");
}

static void test_missing_adapters(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "security:\n  curve: false\n", ":1: ", "no adapters configured");
    expect_error(fx, "security:\n  curve: false\nadapters: []\n", ":3: ", "'adapters' is empty");
    expect_error(fx, "security:\n  curve: false\nadapters:\n  crm: {}\n",
                 ":4: ", "'adapters' must be a list");
    expect_error(fx, "security:\n  curve: false\nadapters:\n  - publish: []\n",
                 ":4: ", "'adapters[0]' has no 'name'");
}

static void test_bad_adapter_name(void **state)
{
    fixture_t *fx = *state;
    static const char *const bad[] = {
        "CRM", "crm system", "crm.x", "''",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "security: {curve: false}\nadapters:\n  - name: %s\n", bad[i]);
        expect_error(fx, text, ":3: ", "is not valid; use 1 to 64 characters");
    }
}

static void test_duplicate_adapter(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx,
                 "security: {curve: false}\nadapters:\n  - name: crm\n  - name: hr\n"
                 "  - name: crm\n",
                 ":5: ", "adapter name 'crm' is used twice (first by the adapter on line 3)");
}

static void test_bad_z85_key(void **state)
{
    fixture_t *fx = *state;
    keypair_t hub, kp;
    make_keypair(&hub);
    make_keypair(&kp);
    char line[128], text[1024];
    snprintf(line, sizeof line, "%s\n", hub.sec);
    write_file(fx, "keys/hub.key", line);
    /* Too short, and the right length with a character outside the alphabet. */
    expect_error(fx,
                 "security:\n  hub_key_file: keys/hub.key\n"
                 "adapters:\n  - name: crm\n    public_key: abc\n",
                 ":5: ", "exactly 40 Z85 characters");
    snprintf(text, sizeof text,
             "security:\n  hub_key_file: keys/hub.key\n"
             "adapters:\n  - name: crm\n    public_key: \"%.39s,\"\n",
             kp.pub);
    expect_error(fx, text, ":5: ", "exactly 40 Z85 characters");
    /* A key file with something else in it. */
    write_file(fx, "keys/crm.pub", "not a key\n");
    expect_error(fx,
                 "security:\n  hub_key_file: keys/hub.key\n"
                 "adapters:\n  - name: crm\n    public_key_file: keys/crm.pub\n",
                 ":5: ", "keys/crm.pub' does not hold a 40-character Z85 key");
    write_file(fx, "keys/bad.key", "");
    expect_error(fx, "security:\n  hub_key_file: keys/bad.key\nadapters:\n  - name: crm\n",
                 ":2: ", "keys/bad.key' must hold a 40-character Z85 key");
    /* Two adapters sharing one key. */
    snprintf(text, sizeof text,
             "security:\n  hub_key_file: keys/hub.key\n"
             "adapters:\n  - name: a\n    public_key: '%s'\n  - name: b\n    public_key: '%s'\n",
             kp.pub, kp.pub);
    expect_error(fx, text, ":7: ", "adapter 'b' has the same public key as adapter 'a'");
}

static void test_key_requirements(void **state)
{
    fixture_t *fx = *state;
    keypair_t hub, kp;
    make_keypair(&hub);
    make_keypair(&kp);
    char line[128], text[1024];
    snprintf(line, sizeof line, "%s\n", hub.sec);
    write_file(fx, "keys/hub.key", line);
    expect_error(fx, "adapters:\n  - name: crm\n", ":1: ", "'security.hub_key_file' is required");
    expect_error(fx, "security:\n  curve: true\n", ":2: ", "'security.hub_key_file' is required");
    expect_error(fx, "security:\n  hub_key_file: keys/hub.key\nadapters:\n  - name: crm\n",
                 ":4: ", "adapter 'crm' needs 'public_key' or 'public_key_file'");
    expect_error(fx, "security:\n  hub_key_file: keys/nope.key\n", ":2: ", "keys/nope.key");
    expect_error(fx,
                 "security:\n  hub_key_file: keys/hub.key\n"
                 "adapters:\n  - name: crm\n    public_key_file: keys/gone.pub\n",
                 ":5: ", "cannot read public key file");
    snprintf(text, sizeof text,
             "security:\n  hub_key_file: keys/hub.key\n"
             "adapters:\n  - name: crm\n    public_key: '%s'\n    public_key_file: keys/x.pub\n",
             kp.pub);
    expect_error(fx, text, ":6: ", "sets both 'public_key' and 'public_key_file'");
}

static void test_bad_pattern(void **state)
{
    fixture_t *fx = *state;
    static const char *const bad[] = {"''",        "Person.*",    "person.", ".person",
                                      "person..x", "'person.*x'", "'**'",    "person.x y",
                                      "[a]",       "'*.'",        "'x.*.'"};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text,
                 "security: {curve: false}\nadapters:\n  - name: crm\n    subscribe:\n"
                 "      - person.*\n      - %s\n",
                 bad[i]);
        expect_error(fx, text, ":6: ", "'adapters[0].subscribe'");
    }
    expect_error(fx, "delivery:\n  transient: ['ok.*', 'Bad']\n",
                 ":2: ", "pattern 'Bad' is not valid");
    expect_error(fx, "delivery:\n  transient: telemetry.*\n",
                 ":2: ", "'delivery.transient' must be a list");
}

static void test_duplicate_key(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "hub:\n  heartbeat_ms: 10\n  max_batch: 5\n  heartbeat_ms: 20\n",
                 ":4: ", "duplicate key 'heartbeat_ms' in 'hub' (first on line 2)");
    expect_error(fx, "hub: {}\nsecurity: {curve: false}\nhub: {}\n", ":3: ", "duplicate key 'hub'");
}

static void test_document_shape(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "- hub\n- adapters\n", ":1: ", "the top level must be a mapping");
    expect_error(fx, "just words\n", ":1: ", "the top level must be a mapping");
    expect_error(fx, "", ":1: ", "the file is empty");
    expect_error(fx, "# only a comment\n", ":1: ", "the file is empty");
    expect_error(fx, "security: {curve: false}\nadapters: [{name: a}]\n---\nhub: {}\n",
                 ":4: ", "second YAML document");
    expect_error(fx, "? [a, b]\n: 1\n", ":1: ", "must be plain names");
}

/* master_data --------------------------------------------------------------- */

#define MASTER_ADAPTERS                                                                            \
    "security: {curve: false}\n"                                                                   \
    "adapters:\n"                                                                                  \
    "  - name: health\n"                                                                           \
    "  - name: socialcare\n"                                                                       \
    "  - name: crm\n"                                                                              \
    "  - name: agresso\n"

/* The shape the docs show, with master_data before adapters (names are still checked). */
static void test_master_data(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg =
        load_text(fx, "master_data:\n"
                      "  person:\n"
                      "    fields:\n"
                      "      nhs_number:   {owner: health}\n"
                      "      name.given:   {owner: socialcare, fallback: [health, crm]}\n"
                      "      address.home: {owner: crm, on_conflict: propose}\n"
                      "      consent:      {owner: socialcare, on_conflict: correct}\n"
                      "      consent.research: {fallback: [health]}\n"
                      "      telecom:      {}\n"
                      "    survivorship: [health, socialcare, crm, agresso]\n"
                      "  matching:\n"
                      "    upper: 33.5\n"
                      "    lower: -2\n" MASTER_ADAPTERS);
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    const config_master_t *mc = &cfg->master;
    assert_int_equal(mc->nfields, 6);
    assert_string_equal(mc->fields[0].path, "nhs_number");
    assert_string_equal(mc->fields[0].owner, "health");
    assert_int_equal(mc->fields[0].fallback.count, 0);
    assert_false(mc->fields[0].propose);
    assert_string_equal(mc->fields[1].path, "name.given");
    assert_int_equal(mc->fields[1].fallback.count, 2);
    assert_string_equal(mc->fields[1].fallback.items[0], "health");
    assert_string_equal(mc->fields[1].fallback.items[1], "crm");
    assert_true(mc->fields[2].propose);
    assert_false(mc->fields[3].propose);
    assert_null(mc->fields[4].owner);
    assert_string_equal(mc->fields[4].path, "consent.research");
    assert_null(mc->fields[5].owner);
    assert_int_equal(mc->survivorship.count, 4);
    assert_string_equal(mc->survivorship.items[3], "agresso");
    assert_true(mc->match_upper == 33.5);
    assert_true(mc->match_lower == -2.0);
}

/* master_data.address and master_data.case: the person rule shape, their own field names. */
static void test_master_data_address_and_case(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg = load_text(fx, "master_data:\n"
                                  "  address:\n"
                                  "    fields:\n"
                                  "      postcode: {owner: socialcare, fallback: [crm]}\n"
                                  "      district: {}\n"
                                  "    survivorship: [socialcare, crm]\n"
                                  "  case:\n"
                                  "    fields:\n"
                                  "      status:      {owner: socialcare}\n"
                                  "      lead_worker: {owner: socialcare, on_conflict: propose}\n"
                                  "      person:      {owner: socialcare}\n" MASTER_ADAPTERS);
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    const config_master_t *mc = &cfg->master;
    assert_int_equal(mc->nfields, 0);
    assert_int_equal(mc->address.nfields, 2);
    assert_string_equal(mc->address.fields[0].path, "postcode");
    assert_string_equal(mc->address.fields[0].owner, "socialcare");
    assert_string_equal(mc->address.fields[0].fallback.items[0], "crm");
    assert_null(mc->address.fields[1].owner);
    assert_int_equal(mc->address.survivorship.count, 2);
    assert_int_equal(mc->case_.nfields, 3);
    assert_true(mc->case_.fields[1].propose);
    assert_string_equal(mc->case_.fields[2].path, "person");
    assert_int_equal(mc->case_.survivorship.count, 0);
    config_destroy(&fx->cfg);
    /* A person's field path is not an address's, and the other way round. */
    expect_check_error(
        fx,
        "master_data:\n  address:\n    fields:\n      birth_date: {owner: crm}\n" MASTER_ADAPTERS,
        ":4: ", "unknown field 'birth_date' (fields: lines, town, district, postcode");
    expect_check_error(
        fx, "master_data:\n  person:\n    fields:\n      team: {owner: crm}\n" MASTER_ADAPTERS,
        ":4: ", "unknown field 'team'");
    expect_check_error(
        fx, "master_data:\n  case:\n    fields:\n      uprn: {owner: crm}\n" MASTER_ADAPTERS,
        ":4: ", "unknown field 'uprn' (fields: person, status");
    expect_error(
        fx, "master_data:\n  case:\n    fields:\n      team: {owner: social}\n" MASTER_ADAPTERS,
        ":4: ", "'social' is not a configured adapter");
    expect_error(
        fx,
        "master_data:\n  case:\n    fields:\n      team: {on_conflict: propose}\n" MASTER_ADAPTERS,
        ":4: ", "no owner to propose to");
    expect_error(fx, "master_data:\n  address:\n    survivorship: [crm, crm]\n" MASTER_ADAPTERS,
                 ":3: ", "names 'crm' twice");
}

static void test_master_data_errors(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx, "master_data:\n  persons: {}\n" MASTER_ADAPTERS, ":2: ",
                 "unknown key 'persons' in 'master_data' (expected one of: person, address, case, "
                 "matching)");
    expect_error(fx, "master_data:\n  person:\n    feilds: {}\n" MASTER_ADAPTERS,
                 ":3: ", "unknown key 'feilds' in 'master_data.person'");
    expect_check_error(
        fx, "master_data:\n  person:\n    fields:\n      shoe_size: {owner: crm}\n" MASTER_ADAPTERS,
        ":4: ", "unknown field 'shoe_size'");
    expect_check_error(
        fx,
        "master_data:\n  person:\n    fields:\n      consent.Bad!: {owner: crm}\n" MASTER_ADAPTERS,
        ":4: ", "unknown field 'consent.Bad!'");
    expect_error(
        fx, "master_data:\n  person:\n    fields:\n      sex: {owner: helth}\n" MASTER_ADAPTERS,
        ":4: ", "'helth' is not a configured adapter (adapters: health, socialcare");
    expect_error(
        fx, "master_data:\n  person:\n    fields:\n      sex: {ownr: health}\n" MASTER_ADAPTERS,
        ":4: ", "unknown key 'ownr' in 'master_data.person.fields.sex'");
    expect_error(fx, "master_data:\n  person:\n    fields:\n      sex: health\n" MASTER_ADAPTERS,
                 ":4: ", "must be a mapping such as {owner: health");
    expect_error(fx,
                 "master_data:\n  person:\n    fields:\n"
                 "      sex: {owner: health}\n      sex: {owner: crm}\n" MASTER_ADAPTERS,
                 ":5: ", "duplicate key 'sex'");
    expect_error(fx,
                 "master_data:\n  person:\n    fields:\n"
                 "      sex: {owner: health, fallback: [crm, crm]}\n" MASTER_ADAPTERS,
                 ":4: ", "names 'crm' twice");
    expect_error(fx,
                 "master_data:\n  person:\n    fields:\n"
                 "      sex: {owner: health, fallback: [health]}\n" MASTER_ADAPTERS,
                 ":4: ", "names the owner 'health'");
    expect_error(fx,
                 "master_data:\n  person:\n    fields:\n"
                 "      sex: {owner: health, on_conflict: ignore}\n" MASTER_ADAPTERS,
                 ":4: ", "must be 'correct'");
    expect_error(fx,
                 "master_data:\n  person:\n    fields:\n"
                 "      sex: {on_conflict: propose}\n" MASTER_ADAPTERS,
                 ":4: ", "has no owner to propose to");
    expect_error(fx, "master_data:\n  person:\n    survivorship: crm\n" MASTER_ADAPTERS,
                 ":3: ", "'master_data.person.survivorship' must be a list of adapter names");
    expect_error(fx, "master_data:\n  person:\n    survivorship: [crm, nobody]\n" MASTER_ADAPTERS,
                 ":3: ", "'nobody' is not a configured adapter");
    expect_error(fx, "master_data:\n  matching: {upper: high}\n" MASTER_ADAPTERS,
                 ":2: ", "'master_data.matching.upper' must be a number");
    expect_error(fx, "master_data:\n  matching: {upper: nan}\n" MASTER_ADAPTERS,
                 ":2: ", "must be a number");
    expect_error(fx, "master_data:\n  matching:\n    upper: 10\n    lower: 20\n" MASTER_ADAPTERS,
                 ":3: ", "must be greater than 'master_data.matching.lower'");
    /* An alias that refers to itself is refused, not followed for ever. */
    expect_error(fx, "master_data: &m {person: *m}\n" MASTER_ADAPTERS,
                 ":1: ", "unknown key 'person' in 'master_data.person'");
}

/* Trained m and u, as `joinery match train` writes them, replace the defaults level by level. */
static void test_match_parameters(void **state)
{
    fixture_t *fx = *state;
    config_t *cfg = load_text(fx, "master_data:\n"
                                  "  matching:\n"
                                  "    trained: {records: 1000, seed: 1}\n"
                                  "    fields:\n"
                                  "      sex:\n"
                                  "        \"exact\":     {m: 0.97, u: 0.5}\n"
                                  "        \"different\": {m: 0.03, u: 0.5}\n"
                                  "      phone:\n"
                                  "        exact: {m: 0.9, u: 0.000001}\n"
                                  "        different: {u: 0.999999, m: 0.1}\n" MASTER_ADAPTERS);
    if (cfg == NULL)
        fail_msg("%s", fx->err);
    const config_master_t *mc = &cfg->master;
    assert_int_equal(mc->nlevels, 4);
    assert_int_equal(mc->levels[0].field, MATCH_FIELD_SEX);
    assert_int_equal(mc->levels[0].level, MATCH_BINARY_EXACT);
    assert_true(mc->levels[0].m == 0.97 && mc->levels[0].u == 0.5);
    assert_int_equal(mc->levels[3].field, MATCH_FIELD_PHONE);
    assert_int_equal(mc->levels[3].level, MATCH_BINARY_DIFFERENT);
    assert_true(mc->levels[3].m == 0.1 && mc->levels[3].u == 0.999999);
}

static void test_match_parameter_errors(void **state)
{
    fixture_t *fx = *state;
    expect_error(fx,
                 "master_data:\n  matching:\n    fields:\n      shoe: {exact: {m: 1, u: "
                 "1}}\n" MASTER_ADAPTERS,
                 ":4: ", "unknown field 'shoe' (fields: given, family, birth_date");
    expect_error(fx,
                 "master_data:\n  matching:\n    fields:\n      sex:\n"
                 "        same: {m: 0.9, u: 0.5}\n" MASTER_ADAPTERS,
                 ":5: ", "unknown level 'same' (levels: \"exact\", \"different\")");
    expect_error(
        fx,
        "master_data:\n  matching:\n    fields:\n      sex:\n"
        "        exact: {m: 0.9, u: 0.5}\n" MASTER_ADAPTERS,
        ":5: ", "must give every level (\"exact\", \"different\"); 'different' is missing");
    expect_error(
        fx,
        "master_data:\n  matching:\n    fields:\n      sex:\n"
        "        exact: {m: 0.9, u: 0.5}\n        different: {m: 0.3, u: 0.5}\n" MASTER_ADAPTERS,
        ":5: ", "must add up to 1 (m adds up to 1.2000, u to 1.0000)");
    expect_error(fx,
                 "master_data:\n  matching:\n    fields:\n      sex:\n"
                 "        exact: {m: 0, u: 0.5}\n" MASTER_ADAPTERS,
                 ":5: ", "'master_data.matching.fields.sex.\"exact\".m' must be a probability");
    expect_error(fx,
                 "master_data:\n  matching:\n    fields:\n      sex:\n"
                 "        exact: {m: 0.5}\n" MASTER_ADAPTERS,
                 ":5: ", "needs both m and u");
    expect_error(fx,
                 "master_data:\n  matching:\n    fields:\n      sex:\n"
                 "        exact: {m: 0.5, u: 0.5, w: 3}\n" MASTER_ADAPTERS,
                 ":5: ", "takes only 'm' and 'u', not 'w'");
}

/* A short or absent error buffer must never be overrun or dereferenced. */
static void test_small_error_buffer(void **state)
{
    fixture_t *fx = *state;
    char path[PATH_LEN], tiny[8];
    write_file(fx, "joinery.yaml", "hub:\n  lisen: x\n");
    path_in(fx, "joinery.yaml", path, sizeof path);
    memset(tiny, 'x', sizeof tiny);
    assert_null(config_load(path, tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_null(config_load(path, NULL, 0));
    config_t *none = NULL;
    config_destroy(&none);
    config_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_off_needs_no_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_from_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_config_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_file_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_adapters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_adapter_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_adapter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_z85_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_requirements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_pattern, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_document_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_error_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_data_address_and_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_data_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_parameter_errors, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
