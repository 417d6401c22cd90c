/* test_hl7.c - the HL7 v2 parser: delimiters taken from MSH-1/MSH-2 whatever they are, escapes,
 * repetitions, components and subcomponents, the three segment terminators, explicit nulls,
 * missing fields and segments, and malformed headers that must be refused without reading past
 * the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "health/hl7.h"

static hl7_msg_t *M;

static int setup(void **state)
{
    (void)state;
    M = hl7_msg_new(64);
    return M ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hl7_msg_destroy(&M);
    return M == NULL ? 0 : -1;
}

static void parse_ok(const char *s)
{
    char err[200] = "";
    /* an exact-size heap copy, so ASan sees any read past the end */
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    static char *last;
    free(last);
    last = copy;
    if (hl7_parse(M, copy, n, err, sizeof err) != 0)
        fail_msg("parse failed: %s", err);
}

/* The decoded text at a position, "<absent>" when the position does not exist. */
static const char *val(size_t seg, unsigned f, unsigned r, unsigned c, unsigned s)
{
    static char out[256];
    hl7_span_t v;
    if (hl7_get(M, seg, f, r, c, s, &v) != 0)
        return "<absent>";
    if (hl7_decode(M, v, out, sizeof out, NULL) != 0)
        return "<undecodable>";
    return out;
}

static void standard_delimiters_fields_components_repetitions(void **state)
{
    (void)state;
    parse_ok("MSH|^~\\&|APP|RR8|JOINERY|LCC|20240229101500||ADT^A08^ADT_A01|MSG1|P|2.5.1\r"
             "PID|1||111^^^RR8^MR~9449305552^^^NHS^NH||SMITH&Sm&ith^JOHN^PAUL||19800101|M\r");
    assert_int_equal(hl7_segment_count(M), 2);
    assert_true(hl7_segment_is(M, 1, "PID"));
    assert_false(hl7_segment_is(M, 1, "PI"));
    assert_string_equal(val(0, 1, 0, 0, 0), "|");
    assert_string_equal(val(0, 2, 0, 0, 0), "^~\\&");
    assert_string_equal(val(0, 3, 1, 0, 0), "APP");
    assert_string_equal(val(0, 9, 1, 1, 0), "ADT");
    assert_string_equal(val(0, 9, 1, 2, 0), "A08");
    assert_string_equal(val(0, 9, 1, 3, 0), "ADT_A01");
    assert_string_equal(val(0, 10, 0, 0, 0), "MSG1");
    assert_int_equal(hl7_version(M), 205);
    assert_int_equal(hl7_repetitions(M, 1, 3), 2);
    assert_string_equal(val(1, 3, 2, 1, 0), "9449305552");
    assert_string_equal(val(1, 3, 2, 4, 0), "NHS");
    assert_string_equal(val(1, 3, 1, 5, 0), "MR");
    assert_string_equal(val(1, 3, 3, 1, 0), "<absent>");
    assert_string_equal(val(1, 5, 1, 1, 1), "SMITH");
    assert_string_equal(val(1, 5, 1, 1, 3), "ith");
    assert_string_equal(val(1, 5, 1, 1, 4), "<absent>");
    assert_string_equal(val(1, 5, 1, 3, 0), "PAUL");
    assert_string_equal(val(1, 8, 1, 1, 0), "M");
    /* past the last field, component or segment: absent, never a read out of bounds */
    assert_string_equal(val(1, 9, 1, 0, 0), "<absent>");
    assert_string_equal(val(1, 8, 1, 2, 0), "<absent>");
    assert_string_equal(val(7, 1, 1, 0, 0), "<absent>");
    assert_int_equal(hl7_segment_find(M, "PV1", 0), -1);
    assert_int_equal(hl7_segment_find(M, "PID", 0), 1);
}

/* The message's own delimiters: '#' as component, '!' as repetition, '$' as escape, '%' as
 * subcomponent, '*' as field separator. */
static void odd_delimiters_from_msh(void **state)
{
    (void)state;
    parse_ok("MSH*#!$%*APP*RR8***X**ADT#A31*M2*P*2.4\r"
             "PID*1**7#8!9**DOE%D#JANE*x$F$y$S$z\r");
    hl7_delims_t d = hl7_delims(M);
    assert_int_equal(d.field, '*');
    assert_int_equal(d.component, '#');
    assert_int_equal(d.repetition, '!');
    assert_int_equal(d.escape, '$');
    assert_int_equal(d.subcomponent, '%');
    assert_string_equal(val(0, 9, 1, 2, 0), "A31");
    assert_int_equal(hl7_repetitions(M, 1, 3), 2);
    assert_string_equal(val(1, 3, 1, 2, 0), "8");
    assert_string_equal(val(1, 3, 2, 1, 0), "9");
    assert_string_equal(val(1, 5, 1, 1, 2), "D");
    assert_string_equal(val(1, 5, 1, 2, 0), "JANE");
    /* escapes in the message's own escape character: $F$ is '*', $S$ is '#' */
    assert_string_equal(val(1, 6, 1, 0, 0), "x*y#z");
    assert_int_equal(hl7_version(M), 204);
}

/* Fewer than four encoding characters: the missing ones are not used, so their characters are
 * plain data. */
static void fewer_encoding_characters(void **state)
{
    (void)state;
    parse_ok("MSH|^~|A|B|||||ADT^A28|X|P|2.3\rPID|1||a&b\\c^MR~z\r");
    hl7_delims_t d = hl7_delims(M);
    assert_int_equal(d.escape, -1);
    assert_int_equal(d.subcomponent, -1);
    assert_string_equal(val(1, 3, 1, 1, 0), "a&b\\c");
    assert_string_equal(val(1, 3, 1, 1, 1), "a&b\\c");
    assert_string_equal(val(1, 3, 1, 1, 2), "<absent>");
    assert_string_equal(val(1, 3, 2, 0, 0), "z");
    parse_ok("MSH|^|A\rPID|1||x~y\r");
    assert_int_equal(hl7_repetitions(M, 1, 3), 1);
    assert_string_equal(val(1, 3, 1, 0, 0), "x~y");
    /* 2.7's fifth, the truncation character, is accepted and changes nothing */
    parse_ok("MSH|^~\\&#|A||||||ADT^A08|1|P|2.7\rPID|1||a#b\r");
    assert_string_equal(val(1, 3, 1, 1, 0), "a#b");
    assert_int_equal(hl7_version(M), 207);
}

static void escapes(void **state)
{
    (void)state;
    parse_ok("MSH|^~\\&|A\rNTE|1|"
             "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f|"
             "\\X48656C6C6F\\ \\XC3A9\\|"
             "line\\.br\\two|"
             "\\H\\bold\\N\\ \\Zlocal\\x|"
             "\\Q\\ \\X4\\ tail\\|"
             "\\X00\\\r");
    assert_string_equal(val(1, 2, 0, 0, 0), "a|b^c&d~e\\f");
    assert_string_equal(val(1, 3, 0, 0, 0), "Hello \xC3\xA9");
    assert_string_equal(val(1, 4, 0, 0, 0), "line\ntwo");
    assert_string_equal(val(1, 5, 0, 0, 0), "bold x");
    /* unknown escapes, odd hex and an unclosed escape are kept as written */
    assert_string_equal(val(1, 6, 0, 0, 0), "\\Q\\ \\X4\\ tail\\");
    /* a NUL byte would cut a C string short: refused */
    assert_string_equal(val(1, 7, 0, 0, 0), "<undecodable>");
    /* too small a buffer is refused, not truncated */
    hl7_span_t v;
    char small[4];
    assert_int_equal(hl7_get(M, 1, 2, 0, 0, 0, &v), 0);
    assert_int_equal(hl7_decode(M, v, small, sizeof small, NULL), -1);
    assert_string_equal(small, "");
}

static void segment_terminators_and_blank_lines(void **state)
{
    (void)state;
    static const char *const variants[] = {
        "MSH|^~\\&|A\rEVN|A01\rPID|1\r",
        "MSH|^~\\&|A\nEVN|A01\nPID|1\n",
        "MSH|^~\\&|A\r\nEVN|A01\r\nPID|1\r\n",
        "\xEF\xBB\xBF\r\nMSH|^~\\&|A\r\r\nEVN|A01\n\nPID|1",
        "MSH|^~\\&|A\rEVN|A01\r\n\r\nPID|1\r\r",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        parse_ok(variants[i]);
        assert_int_equal(hl7_segment_count(M), 3);
        assert_true(hl7_segment_is(M, 0, "MSH"));
        assert_true(hl7_segment_is(M, 1, "EVN"));
        assert_true(hl7_segment_is(M, 2, "PID"));
        assert_string_equal(val(0, 3, 0, 0, 0), "A");
        assert_string_equal(val(1, 1, 0, 0, 0), "A01");
    }
}

static void empty_null_and_missing(void **state)
{
    (void)state;
    parse_ok("MSH|^~\\&|A\rPID|||\"\"||^^||\r");
    hl7_span_t v;
    assert_int_equal(hl7_get(M, 1, 2, 1, 0, 0, &v), 0);
    assert_int_equal(v.n, 0);
    assert_int_equal(hl7_get(M, 1, 3, 1, 0, 0, &v), 0);
    assert_true(hl7_is_null(v));
    assert_int_equal(hl7_repetitions(M, 1, 2), 0);
    assert_int_equal(hl7_repetitions(M, 1, 3), 1);
    assert_string_equal(val(1, 5, 1, 3, 0), "");
    assert_string_equal(val(1, 5, 1, 4, 0), "<absent>");
    assert_string_equal(val(1, 7, 1, 0, 0), "");
    assert_string_equal(val(1, 8, 1, 0, 0), "<absent>");
    assert_int_equal(hl7_get(M, 1, 0, 1, 0, 0, &v), -1);
    assert_int_equal(hl7_version(M), 0);
}

static void refuse(const char *s, size_t n, const char *why)
{
    char err[200] = "";
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    assert_int_equal(hl7_parse(M, copy, n, err, sizeof err), -1);
    if (strstr(err, why) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", why, err);
    /* whatever was read, nothing may be read out of bounds after a refusal */
    hl7_span_t v;
    (void)hl7_get(M, 0, 10, 1, 1, 1, &v);
    (void)hl7_repetitions(M, 0, 3);
    free(copy);
}

static void malformed_headers_are_refused(void **state)
{
    (void)state;
    refuse("", 0, "does not begin with an MSH");
    refuse("MSH", 3, "does not begin with an MSH");
    refuse("PID|1\rMSH|^~\\&|A\r", 17, "does not begin with an MSH");
    refuse("MSHA^~\\&|", 9, "field separator");
    refuse("MSH|^~\\&^|A\r", 12, "are the same");
    refuse("MSH|^~\\&#!|A\r", 13, "at most 5");
    refuse("MSH|^1\\&|A\r", 11, "cannot be a delimiter");
    refuse("MSH\r^~\\&|A\r", 11, "field separator");
    /* the header's MSH-10 is still readable after an encoding error, for the ACK */
    static const char bad[] = "MSH|^^|A|B|C|D|E||ADT|CTRL9|P|2.5\r";
    char err[200];
    assert_int_equal(hl7_parse(M, bad, sizeof bad - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "are the same"));
    assert_true(hl7_has_msh(M));
    hl7_span_t v;
    assert_int_equal(hl7_get(M, 0, 10, 0, 0, 0, &v), 0);
    assert_int_equal(v.n, 5);
    assert_memory_equal(v.p, "CTRL9", 5);
}

static void too_many_segments(void **state)
{
    (void)state;
    hl7_msg_t *m = hl7_msg_new(3);
    char err[100];
    assert_int_equal(hl7_parse(m, "MSH|^~\\&\rA|1\rB|2\r", 17, err, sizeof err), 0);
    assert_int_equal(hl7_parse(m, "MSH|^~\\&\rA|1\rB|2\rC|3\r", 21, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 3 segments"));
    hl7_msg_destroy(&m);
    assert_null(hl7_msg_new(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standard_delimiters_fields_components_repetitions),
        cmocka_unit_test(odd_delimiters_from_msh),
        cmocka_unit_test(fewer_encoding_characters),
        cmocka_unit_test(escapes),
        cmocka_unit_test(segment_terminators_and_blank_lines),
        cmocka_unit_test(empty_null_and_missing),
        cmocka_unit_test(malformed_headers_are_refused),
        cmocka_unit_test(too_many_segments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
