/* test_admin_metrics.c - the Prometheus text writer (hub/admin/admin_metrics.h):
 * families, labels with their values escaped, integers written as integers,
 * histograms cumulative with +Inf, _sum and _count. (promtool checks a whole
 * /metrics in tests/e2e/test_admin_api.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "admin/admin_metrics.h"

static void test_family_and_samples(void **state)
{
    (void)state;
    metrics_t m = {0};
    metrics_family(&m, "joinery_x_total", "counter", "Events\nseen \\ counted");
    const char *l[] = {"adapter", "crm", "subscription", "a\"b\\c\nd"};
    metrics_sample(&m, "joinery_x_total", l, 2, 12345678901.0);
    metrics_sample(&m, "joinery_x_total", NULL, 0, 0.25);
    metrics_sample(&m, "joinery_x_total", l, 1, NAN);
    assert_false(m.failed);
    assert_string_equal(m.data, "# HELP joinery_x_total Events\\nseen \\\\ counted\n"
                                "# TYPE joinery_x_total counter\n"
                                "joinery_x_total{adapter=\"crm\",subscription=\"a\\\"b\\\\c\\nd\"} "
                                "12345678901\n"
                                "joinery_x_total 0.25\n"
                                "joinery_x_total{adapter=\"crm\"} NaN\n");
    metrics_free(&m);
    assert_null(m.data);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_t m = {0};
    const double bounds[] = {0.5, 1};
    const uint64_t counts[] = {2, 0, 3}; /* per bucket, the last above 1 */
    const char *l[] = {"k", "v"};
    metrics_histogram(&m, "h", l, 1, bounds, 2, counts, 9.5);
    assert_string_equal(m.data, "h_bucket{k=\"v\",le=\"0.5\"} 2\n"
                                "h_bucket{k=\"v\",le=\"1\"} 2\n"
                                "h_bucket{k=\"v\",le=\"+Inf\"} 5\n"
                                "h_sum{k=\"v\"} 9.5\n"
                                "h_count{k=\"v\"} 5\n");
    metrics_free(&m);
    metrics_histogram(&m, "h", NULL, 0, bounds, 2, counts, 0);
    assert_non_null(strstr(m.data, "h_bucket{le=\"+Inf\"} 5\nh_sum 0\nh_count 5\n"));
    metrics_free(&m);
}

static void test_grows(void **state)
{
    (void)state;
    metrics_t m = {0};
    for (int i = 0; i < 10000; i++)
        metrics_sample(&m, "joinery_many", NULL, 0, i);
    assert_false(m.failed);
    assert_int_equal(strlen(m.data), m.len);
    assert_non_null(strstr(m.data, "joinery_many 9999\n"));
    metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
