/* support_core.c - see support_core.h. */
#include "support_core.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include <joinery/v1/protocol.pb-c.h>

#include "router.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "testdb.h"

void *run_core(void *arg)
{
    running_t *r = arg;
    r->rc = router_run(r->cfg, r->conninfo);
    return NULL;
}

void block_stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
}

void client_send(running_t *r, const char *cmd, const void *body, size_t len)
{
    assert_int_equal(zmq_send(r->sock, cmd, strlen(cmd), ZMQ_SNDMORE), (int)strlen(cmd));
    assert_int_equal(zmq_send(r->sock, body, len, 0), (int)len);
}

bool client_recv(running_t *r, char *cmd, size_t cap, zmq_msg_t *body, int timeout_ms)
{
    zmq_pollitem_t it = {r->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) != 1)
        return false;
    int n = zmq_recv(r->sock, cmd, cap - 1, 0);
    assert_true(n >= 0);
    cmd[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    zmq_msg_init(body);
    assert_true(zmq_msg_recv(body, r->sock, 0) >= 0);
    return true;
}

running_t *start_core(const char *dbname, const char *config, const char *adapter)
{
    running_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    (void)snprintf(r->endpoint, sizeof r->endpoint, "ipc:///tmp/joinery-%s-%d.sock", dbname,
                   (int)getpid());
    char err[512] = "";
    r->conninfo = testdb_fresh(dbname, err, sizeof err);
    if (!r->conninfo)
        fail_msg("testdb_fresh: %s", err);
    r->db = testdb_connect(r->conninfo);
    assert_non_null(r->db);
    if (migrate_apply(r->db, migrate_default_dir(), err, sizeof err) < 0)
        fail_msg("migrate_apply: %s", err);
    char text[1024];
    (void)snprintf(text, sizeof text, config, r->endpoint, r->conninfo);
    r->cfg = fixture_config(r->dir, sizeof r->dir, "/tmp/joinery-core-run-XXXXXX", text);
    block_stop_signals();
    assert_int_equal(pthread_create(&r->thread, NULL, run_core, r), 0);

    r->ctx = zmq_ctx_new();
    r->sock = zmq_socket(r->ctx, ZMQ_DEALER);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_connect(r->sock, r->endpoint), 0);
    Joinery__V1__Hello hello = JOINERY__V1__HELLO__INIT;
    hello.protocol_version = 1;
    hello.adapter = (char *)adapter;
    uint8_t buf[128];
    client_send(r, "HELLO", buf, joinery__v1__hello__pack(&hello, buf));
    char cmd[32];
    zmq_msg_t body;
    if (!client_recv(r, cmd, sizeof cmd, &body, 30000))
        fail_msg("the core did not answer HELLO");
    zmq_msg_close(&body);
    assert_string_equal(cmd, "WELCOME");
    return r;
}

void stop_core(running_t *r)
{
    zmq_close(r->sock);
    zmq_ctx_term(r->ctx);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    assert_int_equal(r->rc, 0);
    PQfinish(r->db);
    config_destroy(&r->cfg);
    fixture_remove_dir(r->dir);
    (void)unlink(r->endpoint + strlen("ipc://"));
    free(r->conninfo);
    free(r);
}
