/* test_route.c - event-type patterns (hub/base/route.h): what a subscription
 * pattern matches (docs/protocol.md section 3: '*' is one segment, or the rest
 * of the type when it is the last segment), which subscriptions an adapter's
 * configuration covers, and which types and patterns are well formed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/route.h"

static bool matches(const char *pattern, const char *type)
{
    return route_match(pattern, type, strlen(type));
}

static bool covered(const char *permitted, const char *requested)
{
    char *p[] = {(char *)permitted};
    return route_covered(p, 1, requested);
}

static bool type_ok(const char *type)
{
    return route_type_valid(type, strlen(type));
}

/* The table in docs/protocol.md section 3, row by row. */
static void test_protocol_examples(void **state)
{
    (void)state;
    assert_true(matches("person.updated", "person.updated"));
    assert_false(matches("person.updated", "person.created"));

    assert_true(matches("person.*", "person.updated"));
    assert_true(matches("person.*", "person.address.changed"));
    assert_false(matches("person.*", "person"));

    assert_true(matches("case.*.created", "case.referral.created"));
    assert_false(matches("case.*.created", "case.a.b.created"));

    assert_true(matches("*", "person.updated"));
    assert_true(matches("*", "crm"));
}

static void test_literal_segments_compare_whole(void **state)
{
    (void)state;
    /* Same lengths, different words. */
    assert_false(matches("person.updated", "person.replaced"));
    assert_false(matches("crm.contact.updated", "crm.account.updated"));
    assert_false(matches("case.*.created", "case.referral.deleted"));
    /* A pattern is not a prefix match, nor a type a prefix of the pattern. */
    assert_false(matches("person", "person.updated"));
    assert_false(matches("person.updated", "person"));
    assert_false(matches("person.updated", "person.updated.late"));
    assert_false(matches("crm.contact", "crm.contacts"));
}

/* A '*' that is not the last segment is exactly one segment. */
static void test_star_in_the_middle_is_one_segment(void **state)
{
    (void)state;
    assert_true(matches("*.updated", "person.updated"));
    assert_false(matches("*.updated", "person.address.updated"));
    assert_false(matches("*.updated", "person.created"));
    assert_true(matches("case.*.created", "case.x.created"));
    assert_false(matches("case.*.created", "case.referral"));
    assert_false(matches("case.*.created", "case.referral.created.late"));
    assert_true(matches("*.*.changed", "person.address.changed"));
    assert_false(matches("*.*.changed", "person.changed"));
    assert_false(matches("*.*.changed", "a.b.c.changed"));
    /* and a trailing one after a middle one still takes the rest */
    assert_true(matches("case.*.*", "case.referral.created"));
    assert_true(matches("case.*.*", "case.referral.created.late"));
    assert_false(matches("case.*.*", "case.referral"));
}

static void test_match_any(void **state)
{
    (void)state;
    char *patterns[] = {"crm.contact.*", "case.*.created"};
    assert_true(route_match_any(patterns, 2, "crm.contact.updated", 19));
    assert_true(route_match_any(patterns, 2, "case.referral.created", 21));
    assert_false(route_match_any(patterns, 2, "case.referral.updated", 21));
    assert_false(route_match_any(patterns, 0, "crm.contact.updated", 19));
    /* the length given counts, not the terminator */
    assert_true(route_match_any(patterns, 2, "crm.contact.updated.extra", 19));
}

static void test_covered_by_permissions(void **state)
{
    (void)state;
    assert_true(covered("person.*", "person.*"));
    assert_true(covered("person.*", "person.updated"));
    assert_true(covered("person.*", "person.address.*"));
    assert_true(covered("*", "case.*"));
    assert_false(covered("person.updated", "person.*"));
    assert_false(covered("person.*", "case.*"));
    assert_false(covered("person.*", "*"));
    assert_false(covered("crm.contact.*", "crm.*"));
    assert_false(covered("case.*.created", "case.*"));

    char *none[] = {NULL};
    assert_false(route_covered(none, 0, "person.updated"));
    char *several[] = {"crm.*", "person.updated"};
    assert_true(route_covered(several, 2, "person.updated"));
    assert_true(route_covered(several, 2, "crm.contact.*"));
    assert_false(route_covered(several, 2, "person.created"));
}

static void test_type_syntax(void **state)
{
    (void)state;
    assert_true(type_ok("person.updated"));
    assert_true(type_ok("case.referral_2.created-late"));
    assert_true(type_ok("crm"));
    assert_false(type_ok(""));
    assert_false(type_ok("person..updated"));
    assert_false(type_ok("person."));
    assert_false(type_ok(".person"));
    assert_false(type_ok("Person.updated"));
    assert_false(type_ok("person updated"));
    /* a type is never a pattern */
    assert_false(type_ok("person.*"));
    assert_false(type_ok("*"));
}

static void test_pattern_syntax(void **state)
{
    (void)state;
    assert_true(route_pattern_valid("person.*"));
    assert_true(route_pattern_valid("*"));
    assert_true(route_pattern_valid("case.*.created"));
    assert_true(route_pattern_valid("crm.contact.updated"));
    assert_false(route_pattern_valid(""));
    assert_false(route_pattern_valid("person.up*"));
    assert_false(route_pattern_valid("**"));
    assert_false(route_pattern_valid("person.*x"));
    assert_false(route_pattern_valid("person..*"));
    assert_false(route_pattern_valid("person.*."));
    assert_false(route_pattern_valid("Person.*"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol_examples),
        cmocka_unit_test(test_literal_segments_compare_whole),
        cmocka_unit_test(test_star_in_the_middle_is_one_segment),
        cmocka_unit_test(test_match_any),
        cmocka_unit_test(test_covered_by_permissions),
        cmocka_unit_test(test_type_syntax),
        cmocka_unit_test(test_pattern_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
