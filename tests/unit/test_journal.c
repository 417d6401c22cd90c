/* test_journal.c - the engine's rows in a batch: their text is kept whole across
 * text blocks, a failed event's rows are dropped back to a mark (and their room
 * reused), and dropping them all leaves an empty batch that takes rows again. A
 * typed row is kept as its binary COPY tuple, exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/journal.h"

static const char STMT[] = "INSERT INTO t VALUES ($1, $2, $3)";

static void add_row(jbatch_t *b, size_t i, size_t pad)
{
    char id[32], *text = malloc(pad + 1);
    assert_non_null(text);
    memset(text, 'x', pad);
    text[pad] = '\0';
    (void)snprintf(id, sizeof id, "row-%zu", i);
    const char *p[] = {id, NULL, text};
    assert_int_equal(jbatch_add_sql(b, STMT, 3, p), 0);
    free(text);
}

static void assert_row(const jbatch_t *b, size_t i, size_t pad)
{
    char id[32];
    (void)snprintf(id, sizeof id, "row-%zu", i);
    assert_true(i < b->nsql);
    assert_ptr_equal(b->sql[i].stmt, STMT);
    assert_int_equal(b->sql[i].nparams, 3);
    assert_string_equal(b->sql[i].params[0], id);
    assert_null(b->sql[i].params[1]);
    assert_int_equal(strlen(b->sql[i].params[2]), pad);
    assert_true(pad == 0 || b->sql[i].params[2][pad - 1] == 'x');
}

static void test_rows_keep_their_text_across_blocks(void **state)
{
    (void)state;
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    /* Enough rows to fill several blocks, and one larger than a block. */
    for (size_t i = 0; i < 3000; i++)
        add_row(b, i, i == 1500 ? 3 * JTEXT_BLOCK : i % 97);
    for (size_t i = 0; i < 3000; i++)
        assert_row(b, i, i == 1500 ? 3 * JTEXT_BLOCK : i % 97);
    jbatch_release(&b);
    assert_null(b);
}

static void test_truncating_to_a_mark_drops_later_rows_only(void **state)
{
    (void)state;
    jbatch_t *b = jbatch_new(JB_COMMIT);
    for (size_t i = 0; i < 1000; i++)
        add_row(b, i, 40);
    size_t mark = b->nsql;
    for (size_t i = 1000; i < 2500; i++) /* a failed event's rows, across a block boundary */
        add_row(b, i, i == 2000 ? 2 * JTEXT_BLOCK : 40);
    jbatch_truncate_sql(b, mark);
    assert_int_equal(b->nsql, mark);
    for (size_t i = 0; i < mark; i++)
        assert_row(b, i, 40);
    for (size_t i = 1000; i < 1100; i++) /* the next event's rows take the room */
        add_row(b, i, 7);
    for (size_t i = 0; i < mark; i++)
        assert_row(b, i, 40);
    for (size_t i = 1000; i < 1100; i++)
        assert_row(b, i, 7);
    jbatch_truncate_sql(b, b->nsql + 5); /* beyond the end: nothing to drop */
    assert_int_equal(b->nsql, 1100);
    jbatch_truncate_sql(b, 0);
    assert_int_equal(b->nsql, 0);
    assert_null(b->sqltext);
    add_row(b, 0, 3);
    assert_row(b, 0, 3);
    jbatch_release(&b);
}

static const row_desc_t ROW = {
    "t", 5, {{"a", ROW_TEXT}, {"b", ROW_INT8}, {"c", ROW_JSONB}, {"d", ROW_INT4}, {"e", ROW_BOOL}}};

static void test_a_typed_row_is_its_copy_tuple(void **state)
{
    (void)state;
    jbatch_t *b = jbatch_new(JB_COMMIT);
    const row_val_t v[] = {row_text("hi"), row_int(-2), row_text("{}"), row_null(), row_bool(true)};
    assert_int_equal(jbatch_add_row(b, &ROW, v), 0);
    static const uint8_t want[] = {0,    5,                           /* fields */
                                   0,    0,    0,    2,    'h',  'i', /* text */
                                   0,    0,    0,    8,    0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xfe,            /* bigint */
                                   0,    0,    0,    3,    1,    '{',  '}', /* jsonb: version 1 */
                                   0xff, 0xff, 0xff, 0xff,                  /* NULL */
                                   0,    0,    0,    1,    1};              /* boolean */
    assert_int_equal(b->nsql, 1);
    assert_null(b->sql[0].stmt);
    assert_ptr_equal(b->sql[0].row, &ROW);
    assert_null(b->sql[0].upsert);
    assert_int_equal(b->sql[0].tuple_len, sizeof want);
    assert_memory_equal(b->sql[0].tuple, want, sizeof want);
    /* Rows and statements drop back to a mark together. */
    add_row(b, 1, 10);
    size_t mark = b->nsql;
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(jbatch_add_row(b, &ROW, v), 0);
        add_row(b, (size_t)i, 10);
    }
    jbatch_truncate_sql(b, mark);
    assert_int_equal(b->nsql, mark);
    assert_memory_equal(b->sql[0].tuple, want, sizeof want);
    assert_row(b, 1, 10);
    const row_val_t wide[] = {row_text("x"), row_int(0), row_text("{}"), row_int(INT64_C(1) << 40),
                              row_bool(false)};
    assert_int_equal(jbatch_add_row(b, &ROW, wide), -1);
    assert_int_equal(b->nsql, mark);
    jbatch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_typed_row_is_its_copy_tuple),
        cmocka_unit_test(test_rows_keep_their_text_across_blocks),
        cmocka_unit_test(test_truncating_to_a_mark_drops_later_rows_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
