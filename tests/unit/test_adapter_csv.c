/* test_adapter_csv.c - adapters/common/adapter_csv: RFC 4180 as files are really written (quotes,
 * doubled quotes, CRLF and LF, line breaks inside quotes, a byte order mark, another delimiter);
 * rows carry the line they start on; a bad row (NUL, invalid UTF-8, a stray quote, text after a
 * closing quote, an unclosed quote, over the limits) is reported with line and column and the
 * rows after it are still read; the writer quotes only when it must, and what it writes reads
 * back the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/adapter_csv.h"

typedef struct {
    int rc;
    adapter_csv_row_t row;
    adapter_csv_error_t e;
} step_t;

static adapter_csv_t *reader(const char *text, size_t len, char delim)
{
    adapter_csv_opts_t o = {.delimiter = delim, .max_field = 32, .max_fields = 8, .max_row = 128};
    adapter_csv_t *r = adapter_csv_new(&o, text, len);
    assert_non_null(r);
    return r;
}

static step_t next(adapter_csv_t *r)
{
    step_t s;
    memset(&s, 0, sizeof s);
    s.rc = adapter_csv_next(r, &s.row, &s.e);
    return s;
}

static void expect_row(adapter_csv_t *r, unsigned long line, size_t n, ...)
{
    step_t s = next(r);
    if (s.rc != 1)
        fail_msg("expected a row at line %lu, got rc %d (%s at %lu:%lu)", line, s.rc, s.e.reason,
                 s.e.line, s.e.column);
    assert_int_equal(s.row.line, line);
    assert_int_equal(s.row.nfields, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        assert_string_equal(s.row.field[i], want);
        assert_int_equal(s.row.len[i], strlen(want));
    }
    va_end(ap);
}

static void expect_error(adapter_csv_t *r, unsigned long line, unsigned long column, size_t field,
                         const char *reason_part)
{
    step_t s = next(r);
    assert_int_equal(s.rc, -1);
    if (s.e.line != line || s.e.column != column || s.e.field != field ||
        strstr(s.e.reason, reason_part) == NULL)
        fail_msg("error at %lu:%lu field %zu '%s'; expected %lu:%lu field %zu '%s'", s.e.line,
                 s.e.column, s.e.field, s.e.reason, line, column, field, reason_part);
}

static void quoting_and_line_ends(void **state)
{
    (void)state;
    const char text[] = "\xEF\xBB\xBF"
                        "id,name,note\r\n"
                        "1,\"Smith, Ann\",\"said \"\"hi\"\"\"\r\n"
                        "\n"
                        "2,\"two\nlines\",x\n"
                        "3,,\r"
                        "4,\"\",\"caf\xC3\xA9\"";
    adapter_csv_t *r = reader(text, sizeof text - 1, 0);
    expect_row(r, 1, 3, "id", "name", "note");
    expect_row(r, 2, 3, "1", "Smith, Ann", "said \"hi\"");
    expect_row(r, 4, 3, "2", "two\nlines", "x");
    expect_row(r, 6, 3, "3", "", "");
    expect_row(r, 7, 3, "4", "", "caf\xC3\xA9");
    assert_int_equal(next(r).rc, 0);
    assert_int_equal(next(r).rc, 0);
    adapter_csv_destroy(&r);
    assert_null(r);
}

static void other_delimiter(void **state)
{
    (void)state;
    const char text[] = "a;b,c;\"d;e\"\n";
    adapter_csv_t *r = reader(text, sizeof text - 1, ';');
    expect_row(r, 1, 3, "a", "b,c", "d;e");
    assert_int_equal(next(r).rc, 0);
    adapter_csv_destroy(&r);
    assert_null(adapter_csv_new(&(adapter_csv_opts_t){.delimiter = '"'}, "", 0));
}

static void bad_rows_are_reported_and_skipped(void **state)
{
    (void)state;
    const char text[] = "ok,1\n"
                        "nul,a\0b\n"
                        "utf,\xC3\x28x\n"
                        "stray,ab\"c\n"
                        "after,\"q\"x\n"
                        "long,0123456789012345678901234567890123456789\n"
                        "many,1,2,3,4,5,6,7,8\n"
                        "ok,2\r\n"
                        "open,\"never closed\n"
                        "ok,3\n";
    adapter_csv_t *r = reader(text, sizeof text - 1, 0);
    expect_row(r, 1, 2, "ok", "1");
    expect_error(r, 2, 6, 2, "NUL");
    expect_error(r, 3, 5, 2, "not valid UTF-8");
    expect_error(r, 4, 9, 2, "quote inside an unquoted field");
    expect_error(r, 5, 10, 2, "after the closing quote");
    expect_error(r, 6, 38, 2, "longer than 32 bytes");
    expect_error(r, 7, 21, 9, "more than 8 fields");
    expect_row(r, 8, 2, "ok", "2");
    /* The runaway quote is reported where it opened; reading goes on after that line. */
    expect_error(r, 9, 6, 2, "never closed");
    expect_row(r, 10, 2, "ok", "3");
    assert_int_equal(next(r).rc, 0);
    adapter_csv_destroy(&r);
}

static void error_keeps_the_raw_row(void **state)
{
    (void)state;
    const char text[] = "a,b\"c,d\r\nnext\n";
    adapter_csv_t *r = reader(text, sizeof text - 1, 0);
    step_t s = next(r);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.e.raw_len, 7);
    assert_memory_equal(s.e.raw, "a,b\"c,d", 7);
    expect_row(r, 2, 1, "next");
    adapter_csv_destroy(&r);
}

static void row_too_long(void **state)
{
    (void)state;
    char text[400];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "abcdefghi,");
    n += (size_t)snprintf(text + n, sizeof text - n, "z\nok\n");
    adapter_csv_opts_t o = {.max_field = 32, .max_fields = 64, .max_row = 128};
    adapter_csv_t *r = adapter_csv_new(&o, text, n);
    step_t s = next(r);
    assert_int_equal(s.rc, -1);
    assert_non_null(strstr(s.e.reason, "row is longer than 128"));
    expect_row(r, 2, 1, "ok");
    adapter_csv_destroy(&r);
}

static void writer_round_trip(void **state)
{
    (void)state;
    const char *fields[] = {"plain", "a,b", "say \"x\"", "two\nlines", " pad", "", NULL, "é"};
    char out[256];
    size_t used = 0;
    assert_int_equal(adapter_csv_write_row(out, sizeof out, &used, fields, 8, ','), 0);
    const char want[] = "plain,\"a,b\",\"say \"\"x\"\"\",\"two\nlines\",\" pad\",,,é\r\n";
    assert_int_equal(used, sizeof want - 1);
    assert_memory_equal(out, want, used);
    adapter_csv_t *r = reader(out, used, 0);
    expect_row(r, 1, 8, "plain", "a,b", "say \"x\"", "two\nlines", " pad", "", "", "é");
    adapter_csv_destroy(&r);
    /* A first field that begins with U+FEFF is quoted, or a reader would take it for a byte
     * order mark and drop it (found by fuzz_csv). */
    const char *bom[] = {"\xEF\xBB\xBFx", "y"};
    used = 0;
    assert_int_equal(adapter_csv_write_row(out, sizeof out, &used, bom, 2, ','), 0);
    assert_memory_equal(out, "\"\xEF\xBB\xBFx\",y\r\n", used);
    r = reader(out, used, 0);
    expect_row(r, 1, 2, "\xEF\xBB\xBFx", "y");
    adapter_csv_destroy(&r);
    /* No room: nothing written, *used unchanged. */
    size_t small = 3;
    assert_int_equal(adapter_csv_write_row(out, 10, &small, fields, 3, ','), -1);
    assert_int_equal(small, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoting_and_line_ends),
        cmocka_unit_test(other_delimiter),
        cmocka_unit_test(bad_rows_are_reported_and_skipped),
        cmocka_unit_test(error_keeps_the_raw_row),
        cmocka_unit_test(row_too_long),
        cmocka_unit_test(writer_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
