/* test_admin_auth.c - who may call the admin API (hub/admin/admin_auth.h)
 * and how admin.tokens is read (hub/base/config.c): bearer tokens compared
 * whole, roles ordered read < operate < steward, no token needed only where
 * none is configured, and a configuration that would open the API to the
 * network without tokens refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin_auth.h"
#include "base/config.h"

#define READ_TOKEN "read-token-0123456789"
#define OPERATE_TOKEN "operate-token-0123456789"
#define STEWARD_TOKEN "steward-token-0123456789"

static config_admin_token_t tokens[] = {
    {"reader", READ_TOKEN, ADMIN_ROLE_READ},
    {"operator", OPERATE_TOKEN, ADMIN_ROLE_OPERATE},
    {"steward", STEWARD_TOKEN, ADMIN_ROLE_STEWARD},
};

static config_t with_tokens(void)
{
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.admin_tokens = tokens;
    cfg.nadmin_tokens = 3;
    return cfg;
}

static void test_missing_and_wrong(void **state)
{
    (void)state;
    config_t cfg = with_tokens();
    const char *who = "x";
    assert_int_equal(admin_auth_check(&cfg, NULL, ADMIN_ROLE_READ, &who), AUTH_MISSING);
    assert_null(who);
    assert_int_equal(admin_auth_check(&cfg, "Basic " READ_TOKEN, ADMIN_ROLE_READ, &who),
                     AUTH_MISSING);
    assert_int_equal(admin_auth_check(&cfg, READ_TOKEN, ADMIN_ROLE_READ, &who), AUTH_MISSING);
    assert_int_equal(admin_auth_check(&cfg, "Bearer ", ADMIN_ROLE_READ, &who), AUTH_WRONG);
    assert_int_equal(admin_auth_check(&cfg, "Bearer nope", ADMIN_ROLE_READ, &who), AUTH_WRONG);
    /* A prefix of a token, or a token with more after it, is not the token. */
    assert_int_equal(admin_auth_check(&cfg, "Bearer read-token-012345678", ADMIN_ROLE_READ, &who),
                     AUTH_WRONG);
    assert_int_equal(admin_auth_check(&cfg, "Bearer " READ_TOKEN "0", ADMIN_ROLE_READ, &who),
                     AUTH_WRONG);
    assert_null(who);
}

static void test_roles(void **state)
{
    (void)state;
    config_t cfg = with_tokens();
    const char *who = NULL;
    assert_int_equal(admin_auth_check(&cfg, "Bearer " READ_TOKEN, ADMIN_ROLE_READ, &who), AUTH_OK);
    assert_string_equal(who, "reader");
    assert_int_equal(admin_auth_check(&cfg, "bearer " READ_TOKEN, ADMIN_ROLE_READ, &who), AUTH_OK);
    assert_int_equal(admin_auth_check(&cfg, "Bearer " READ_TOKEN, ADMIN_ROLE_OPERATE, &who),
                     AUTH_FORBIDDEN);
    assert_string_equal(who, "reader");
    assert_int_equal(admin_auth_check(&cfg, "Bearer " OPERATE_TOKEN, ADMIN_ROLE_READ, &who),
                     AUTH_OK);
    assert_int_equal(admin_auth_check(&cfg, "Bearer " OPERATE_TOKEN, ADMIN_ROLE_OPERATE, &who),
                     AUTH_OK);
    assert_string_equal(who, "operator");
    assert_int_equal(admin_auth_check(&cfg, "Bearer " OPERATE_TOKEN, ADMIN_ROLE_STEWARD, &who),
                     AUTH_FORBIDDEN);
    assert_int_equal(admin_auth_check(&cfg, "Bearer " STEWARD_TOKEN, ADMIN_ROLE_OPERATE, &who),
                     AUTH_OK);
    assert_string_equal(who, "steward");
    assert_string_equal(admin_role_name(ADMIN_ROLE_OPERATE), "operate");
}

static void test_no_tokens_is_local(void **state)
{
    (void)state;
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *who = NULL;
    assert_int_equal(admin_auth_check(&cfg, NULL, ADMIN_ROLE_STEWARD, &who), AUTH_OK);
    assert_string_equal(who, "local");
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(admin_auth_equal("abc", 3, "abc", 3));
    assert_false(admin_auth_equal("abc", 3, "abd", 3));
    assert_false(admin_auth_equal("ab", 2, "abc", 3));
    assert_false(admin_auth_equal("abc", 3, "ab", 2));
    assert_true(admin_auth_equal("", 0, "", 0));
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(config_listen_is_loopback("127.0.0.1:7680"));
    assert_true(config_listen_is_loopback("127.1.2.3:80"));
    assert_true(config_listen_is_loopback("localhost:7680"));
    assert_true(config_listen_is_loopback("[::1]:7680"));
    assert_false(config_listen_is_loopback("0.0.0.0:7680"));
    assert_false(config_listen_is_loopback("10.0.0.1:7680"));
    assert_false(config_listen_is_loopback("127example.com:80"));
    assert_false(config_listen_is_loopback("[::]:7680"));
    assert_false(config_listen_is_loopback(NULL));
}

/* ---- admin.tokens in a configuration file ---- */

typedef struct {
    char dir[256];
    char err[1024];
} fx_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/joinery-admin-auth-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void write_at(const fx_t *fx, const char *name, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

#define BASE "security:\n  curve: false\nadapters:\n  - name: crm\n"

/* Loads TEXT; NULL with fx->err on failure. */
static config_t *load(fx_t *fx, const char *text)
{
    write_at(fx, "hub.yaml", text, 0600);
    char path[512];
    snprintf(path, sizeof path, "%s/hub.yaml", fx->dir);
    return config_load(path, fx->err, sizeof fx->err);
}

static void expect_refused(fx_t *fx, const char *text, const char *want)
{
    config_t *cfg = load(fx, text);
    if (cfg) {
        config_destroy(&cfg);
        fail_msg("expected a refusal with \"%s\"", want);
    }
    if (!strstr(fx->err, want))
        fail_msg("expected \"%s\" in \"%s\"", want, fx->err);
}

static void test_config_tokens(void **state)
{
    fx_t *fx = *state;
    write_at(fx, "op.token", OPERATE_TOKEN "\n", 0600);
    config_t *cfg = load(fx, BASE "admin:\n  enabled: true\n  listen: 0.0.0.0:7680\n"
                                  "  tokens:\n"
                                  "    - {name: reader, token: " READ_TOKEN ", role: read}\n"
                                  "    - {name: ops, token_file: op.token, role: operate}\n");
    if (!cfg)
        fail_msg("%s", fx->err);
    assert_int_equal(cfg->nadmin_tokens, 2);
    assert_string_equal(cfg->admin_tokens[1].name, "ops");
    assert_string_equal(cfg->admin_tokens[1].token, OPERATE_TOKEN);
    assert_int_equal(cfg->admin_tokens[1].role, ADMIN_ROLE_OPERATE);
    const char *who = NULL;
    assert_int_equal(admin_auth_check(cfg, "Bearer " OPERATE_TOKEN, ADMIN_ROLE_OPERATE, &who),
                     AUTH_OK);
    assert_string_equal(who, "ops");
    config_destroy(&cfg);
}

static void test_config_refusals(void **state)
{
    fx_t *fx = *state;
    expect_refused(fx, BASE "admin:\n  listen: 0.0.0.0:7680\n",
                   "not a loopback address, and admin.tokens is empty");
    expect_refused(fx, BASE "admin:\n  tokens:\n    - {name: a, token: short, role: read}\n",
                   "must be 16 to 256 visible ASCII characters");
    expect_refused(fx,
                   BASE "admin:\n  tokens:\n    - {name: a, token: " READ_TOKEN ", role: admin}\n",
                   "must be read, operate or steward");
    expect_refused(fx, BASE "admin:\n  tokens:\n    - {name: a, role: read}\n",
                   "needs a name, a token or token_file, and a role");
    expect_refused(fx,
                   BASE "admin:\n  tokens:\n    - {name: a, token: " READ_TOKEN
                        ", role: read}\n    - {name: a, token: " OPERATE_TOKEN ", role: read}\n",
                   "repeats the name or the token");
    expect_refused(fx,
                   BASE "admin:\n  tokens:\n    - {name: a, token: " READ_TOKEN
                        ", colour: red, role: read}\n",
                   "unknown key 'colour'");
    write_at(fx, "open.token", OPERATE_TOKEN "\n", 0644);
    expect_refused(fx,
                   BASE "admin:\n  tokens:\n    - {name: a, token_file: open.token, "
                        "role: read}\n",
                   "readable by group or others");
    write_at(fx, "cert.pem", "x", 0644);
    expect_refused(fx, BASE "admin:\n  tls:\n    cert_file: cert.pem\n",
                   "needs both cert_file and key_file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_and_wrong),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_no_tokens_is_local),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test_setup_teardown(test_config_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
