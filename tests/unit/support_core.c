/* support_core.c - see support_core.h. */
#include "support_core.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <zmq.h>

#include <cmocka.h>

#include "router.h"

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
