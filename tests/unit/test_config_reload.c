/* test_config_reload.c - unit tests for hub/base/config_reload.c: which differences between two
 * loaded configurations need a restart (config_restart_needed), and how a reloaded file's
 * adapters are put in the running configuration's slots (config_keep_slots). The files are
 * written into a fresh mkdtemp directory and loaded with config_load, as the hub does. */
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

#include "base/config.h"

#define PATH_LEN 512

typedef struct {
    char dir[PATH_LEN];
    char notes[2048];
    size_t nnotes;
} fixture_t;

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
    snprintf(fx->dir, sizeof fx->dir, "%s/joinery-reload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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
    nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* A configuration with curve off, the given listen endpoint, conninfo and adapters block (YAML
 * lines under "adapters:"), and EXTRA appended at the top level. */
static config_t *load(const fixture_t *fx, const char *listen, const char *conninfo,
                      const char *adapters, const char *extra)
{
    char path[PATH_LEN + 16], err[1024];
    snprintf(path, sizeof path, "%s/hub.yaml", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "hub:\n  listen: %s\n  data_dir: %s/data\ndatabase:\n  conninfo: \"%s\"\n"
            "security:\n  curve: false\nadapters:\n%s%s",
            listen, fx->dir, conninfo, adapters, extra ? extra : "");
    fclose(f);
    config_t *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

#define EP "tcp://127.0.0.1:7600"
#define DB "dbname=joinery"
#define AD(name, pub) "  - name: " name "\n    publish: [\"" pub "\"]\n"

static void note(void *ctx, const char *msg)
{
    fixture_t *fx = ctx;
    size_t n = strlen(fx->notes);
    snprintf(fx->notes + n, sizeof fx->notes - n, "%s|", msg);
    fx->nnotes++;
}

static void test_restart_needed(void **state)
{
    fixture_t *fx = *state;
    config_t *a = load(fx, EP, DB, AD("crm", "crm.*"), NULL);
    /* Adapters, transient routes and delivery's retry settings may change. */
    config_t *b = load(fx, EP, DB, AD("crm", "x.*") AD("health", "health.*"),
                       "delivery:\n  max_attempts: 9\n  transient: [\"signal.*\"]\n");
    assert_int_equal(config_restart_needed(a, b, note, fx), 0);
    config_destroy(&b);
    /* The endpoint and the database may not; each is named. */
    b = load(fx, "tcp://127.0.0.1:7601", DB " application_name=x", AD("crm", "crm.*"), NULL);
    assert_int_equal(config_restart_needed(a, b, note, fx), 2);
    assert_string_equal(fx->notes, "hub.listen changed: needs a restart|database.conninfo "
                                   "changed: needs a restart|");
    config_destroy(&b);
    /* Nor master_data, the window or the admin API's address. */
    fx->notes[0] = '\0';
    b = load(fx, EP, DB, AD("crm", "crm.*"),
             "master_data:\n  matching:\n    upper: 0.95\n    lower: 0.5\n"
             "delivery:\n  window_events: 1024\n"
             "admin:\n  enabled: true\n  listen: 127.0.0.1:7681\n");
    assert_int_equal(config_restart_needed(a, b, note, fx), 4);
    assert_non_null(strstr(fx->notes, "master_data changed: needs a restart|"));
    assert_non_null(strstr(fx->notes, "delivery.window_events changed: needs a restart|"));
    assert_non_null(strstr(fx->notes, "admin.enabled changed: needs a restart|"));
    assert_non_null(strstr(fx->notes, "admin.listen changed: needs a restart|"));
    config_destroy(&b);
    config_destroy(&a);
}

static void test_keep_slots(void **state)
{
    fixture_t *fx = *state;
    config_t *prev = load(fx, EP, DB, AD("a", "a.*") AD("b", "b.*") AD("c", "c.*"), NULL);
    /* b removed, d added, and the file's order changed. */
    config_t *next = load(fx, EP, DB, AD("c", "c2.*") AD("d", "d.*") AD("a", "a.*"), NULL);
    assert_int_equal(config_keep_slots(next, prev), 0);
    assert_int_equal(next->nadapters, 4);
    assert_string_equal(next->adapters[0].name, "a");
    assert_string_equal(next->adapters[1].name, "b");
    assert_true(next->adapters[1].removed);
    assert_int_equal(next->adapters[1].publish.count, 0);
    assert_string_equal(next->adapters[2].name, "c");
    assert_string_equal(next->adapters[2].publish.items[0], "c2.*"); /* the new entry's */
    assert_string_equal(next->adapters[3].name, "d");
    assert_false(next->adapters[3].removed);
    /* A removed adapter is not found by name. */
    assert_null(config_adapter(next, "b"));
    assert_ptr_equal(config_adapter(next, "d"), &next->adapters[3]);
    config_destroy(&prev);

    /* b named again: its old slot back, nothing new added. */
    config_t *again =
        load(fx, EP, DB, AD("b", "b2.*") AD("a", "a.*") AD("c", "c.*") AD("d", "d.*"), NULL);
    assert_int_equal(config_keep_slots(again, next), 0);
    assert_int_equal(again->nadapters, 4);
    assert_string_equal(again->adapters[1].name, "b");
    assert_false(again->adapters[1].removed);
    assert_string_equal(again->adapters[1].publish.items[0], "b2.*");
    assert_ptr_equal(config_adapter(again, "b"), &again->adapters[1]);
    config_destroy(&again);
    config_destroy(&next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_slots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
