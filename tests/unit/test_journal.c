/* test_journal.c - the in-memory side of the journal (hub/store/journal.h).
 *
 * The engine's rows in a batch: their text is kept whole across text blocks, a
 * failed event's rows are dropped back to a mark (and their room reused), and
 * dropping them all leaves an empty batch that takes rows again. A typed row
 * is kept as its binary COPY tuple, exactly.
 *
 * The window: it keeps the newest batches up to window_events (but always the
 * newest batch, however large), holds a reference to each batch it keeps and
 * drops it on eviction, and never serves an entry the store found to be a
 * duplicate. A batch's entries are found by seq, also across gaps.
 *
 * The dedup table: exactly the newest CAPACITY keys, 128 bits compared, and a
 * deleted key does not hide a key that collided with it. */
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

/* ---- batches and the window ---- */

/* A committed batch of events with these seqs. */
static jbatch_t *batch_of(const uint64_t *seqs, size_t n)
{
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        (void)snprintf(id, sizeof id, "E%llu", (unsigned long long)seqs[i]);
        assert_non_null(jbatch_add(b, seqs[i], "crm.contact.updated", 19, "crm", 3, id, strlen(id),
                                   "r:crm/c-1", 9, (const uint8_t *)"\x0a\x01x", 3, 1000));
    }
    b->status = JB_COMMITTED;
    return b;
}

static jbatch_t *batch_range(uint64_t first, size_t n)
{
    uint64_t seqs[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        seqs[i] = first + i;
    return batch_of(seqs, n);
}

static void test_window_keeps_the_newest_events(void **state)
{
    (void)state;
    window_t *w = window_new(10);
    assert_non_null(w);
    assert_int_equal(window_first(w), 0);
    jbatch_t *b1 = batch_range(1, 4), *b2 = batch_range(5, 4), *b3 = batch_range(9, 4);
    assert_int_equal(window_push(w, b1), 0);
    assert_int_equal(b1->refs, 2); /* ours and the window's */
    assert_int_equal(window_push(w, b2), 0);
    assert_int_equal(window_events(w), 8);
    assert_int_equal(window_first(w), 1);

    /* Twelve events: the oldest batch goes, and with it the window's reference. */
    assert_int_equal(window_push(w, b3), 0);
    assert_int_equal(window_events(w), 8);
    assert_int_equal(window_first(w), 5);
    assert_int_equal(window_last(w), 12);
    assert_int_equal(b1->refs, 1);
    assert_int_equal(b2->refs, 2);
    jbatch_t *in = NULL;
    assert_null(window_find(w, 4, &in));
    jentry_t *e = window_find(w, 5, &in);
    assert_non_null(e);
    assert_ptr_equal(in, b2);
    assert_int_equal(e->seq, 5);
    e = window_find(w, 12, &in);
    assert_non_null(e);
    assert_ptr_equal(in, b3);
    assert_null(window_find(w, 13, &in));

    /* Many more batches: the window stays within its size. */
    for (uint64_t first = 13; first < 413; first += 4) {
        jbatch_t *b = batch_range(first, 4);
        assert_int_equal(window_push(w, b), 0);
        jbatch_release(&b);
        assert_true(window_events(w) <= 10);
    }
    assert_int_equal(window_last(w), 412);
    assert_int_equal(window_first(w), 405);
    assert_int_equal(b2->refs, 1);
    assert_int_equal(b3->refs, 1);
    jbatch_release(&b1);
    jbatch_release(&b2);
    jbatch_release(&b3);
    window_destroy(&w);
    assert_null(w);
}

static void test_window_keeps_a_batch_larger_than_itself(void **state)
{
    (void)state;
    window_t *w = window_new(3);
    jbatch_t *big = batch_range(1, 5);
    assert_int_equal(window_push(w, big), 0);
    assert_int_equal(window_events(w), 5);
    assert_int_equal(window_first(w), 1);
    jbatch_t *in = NULL;
    assert_non_null(window_find(w, 3, &in));
    assert_ptr_equal(in, big);

    jbatch_t *next = batch_range(6, 2);
    assert_int_equal(window_push(w, next), 0);
    assert_int_equal(window_first(w), 6);
    assert_int_equal(big->refs, 1);
    jbatch_release(&big);
    jbatch_release(&next);
    window_destroy(&w);
}

static void test_window_never_serves_a_duplicate(void **state)
{
    (void)state;
    window_t *w = window_new(100);
    jbatch_t *b = batch_range(1, 3);
    b->e[1].state = JE_DUPLICATE; /* the store found it journaled before */
    b->e[1].dup_seq = 0;
    window_push(w, b);
    jbatch_t *in = NULL;
    assert_non_null(window_find(w, 1, &in));
    assert_null(window_find(w, 2, &in));
    assert_non_null(window_find(w, 3, &in));
    jbatch_release(&b);
    window_destroy(&w);
}

static void test_find_across_gaps(void **state)
{
    (void)state;
    /* A journal read: seqs with gaps (failed commits leave them). */
    const uint64_t seqs[] = {10, 12, 13, 20, 21, 30};
    jbatch_t *b = batch_of(seqs, 6);
    for (size_t i = 0; i < 6; i++) {
        jentry_t *e = jbatch_find(b, seqs[i]);
        assert_non_null(e);
        assert_int_equal(e->seq, seqs[i]);
    }
    const uint64_t absent[] = {9, 11, 14, 19, 22, 29, 31};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        assert_null(jbatch_find(b, absent[i]));
    jbatch_release(&b);
}

/* ---- the dedup table ---- */

static dedup_key_t key_of(unsigned i)
{
    char id[32];
    (void)snprintf(id, sizeof id, "01HZZZZZZZZZZZZZZZ%06u", i);
    return dedup_key("crm", 3, id, strlen(id));
}

static void test_dedup_holds_the_newest_keys(void **state)
{
    (void)state;
    enum { CAP = 4, TOTAL = 10 };
    dedup_t *d = dedup_new(CAP);
    assert_non_null(d);
    uint64_t seq = 0;
    for (unsigned i = 0; i < TOTAL; i++)
        dedup_put(d, key_of(i), 100 + i);
    assert_int_equal(dedup_count(d), CAP);
    for (unsigned i = 0; i < TOTAL; i++) {
        int want = i >= TOTAL - CAP;
        if (dedup_get(d, key_of(i), &seq) != want)
            fail_msg("key %u: expected %s", i, want ? "present" : "evicted");
        if (want)
            assert_int_equal(seq, 100 + i);
    }
    /* Updating a present key keeps its place and takes the new seq. */
    dedup_put(d, key_of(TOTAL - 1), 7);
    assert_int_equal(dedup_count(d), CAP);
    assert_true(dedup_get(d, key_of(TOTAL - 1), &seq));
    assert_int_equal(seq, 7);
    dedup_destroy(&d);
    assert_null(d);
}

static void test_dedup_long_churn_is_exact(void **state)
{
    (void)state;
    enum { CAP = 300, TOTAL = 20000 };
    dedup_t *d = dedup_new(CAP);
    uint64_t seq;
    /* Every seventh step deletes a recent key (a failed commit's events):
     * deletions in the middle of probe runs, evictions of deleted keys. */
    for (unsigned i = 0; i < TOTAL; i++) {
        dedup_put(d, key_of(i), i + 1);
        if (i % 7 == 0 && i >= 3)
            dedup_del(d, key_of(i - 3));
        /* Checked as it goes, so a broken table fails here rather than
         * filling up (a full table would probe for ever). */
        if (dedup_count(d) > CAP)
            fail_msg("after %u keys the table holds %zu, more than %d", i + 1, dedup_count(d), CAP);
        if (i % 50 == 0)
            for (unsigned k = i >= CAP ? i - CAP + 1 : 0; k <= i; k++)
                if (!((k + 3) % 7 == 0 && k + 3 <= i) && !dedup_get(d, key_of(k), &seq))
                    fail_msg("after %u keys, key %u is lost", i + 1, k);
    }
    size_t present = 0;
    for (unsigned i = 0; i < TOTAL; i++) {
        bool deleted = (i + 3) % 7 == 0 && i + 3 < TOTAL;
        bool want = i >= TOTAL - CAP && !deleted;
        if (dedup_get(d, key_of(i), &seq) != want)
            fail_msg("key %u: expected %s", i, want ? "present" : "absent");
        if (want) {
            assert_int_equal(seq, i + 1);
            present++;
        }
    }
    assert_int_equal(dedup_count(d), present);
    dedup_destroy(&d);
}

static void test_dedup_compares_all_128_bits(void **state)
{
    (void)state;
    dedup_t *d = dedup_new(16);
    dedup_key_t a = {0x1001, 1}, b = {0x1001, 2};
    dedup_put(d, a, 5);
    uint64_t seq = 0;
    assert_false(dedup_get(d, b, &seq));
    dedup_put(d, b, 6);
    assert_int_equal(dedup_count(d), 2);
    assert_true(dedup_get(d, a, &seq));
    assert_int_equal(seq, 5);
    assert_true(dedup_get(d, b, &seq));
    assert_int_equal(seq, 6);
    /* The key is the pair: ("crm", "E1") is not ("crmE", "1"). */
    dedup_key_t x = dedup_key("crm", 3, "E1", 2), y = dedup_key("crmE", 4, "1", 1);
    assert_false(x.h1 == y.h1 && x.h2 == y.h2);
    dedup_destroy(&d);
}

/* Keys whose first hash puts them in the same slot: deleting the first must
 * leave the others findable (backward-shift deletion), also where the probe
 * run wraps round the end of the table. */
static void test_dedup_delete_keeps_colliding_keys(void **state)
{
    (void)state;
    dedup_t *d = dedup_new(16); /* 1024 slots: the home slot is h1 & 1023 */
    const dedup_key_t a = {5, 1}, b = {5 + 1024, 2}, c = {6 + 1024 + 1, 3};
    dedup_put(d, a, 1);
    dedup_put(d, b, 2); /* home 5, in slot 6 */
    dedup_put(d, c, 3); /* home 7 */
    dedup_del(d, a);
    uint64_t seq = 0;
    assert_false(dedup_get(d, a, &seq));
    assert_true(dedup_get(d, b, &seq));
    assert_int_equal(seq, 2);
    assert_true(dedup_get(d, c, &seq));
    assert_int_equal(seq, 3);
    assert_int_equal(dedup_count(d), 2);

    const dedup_key_t w1 = {1023, 4}, w2 = {1023 + 1024, 5}, w3 = {1 + 2048, 6};
    dedup_put(d, w1, 4);
    dedup_put(d, w2, 5); /* home 1023, wraps to slot 0 */
    dedup_put(d, w3, 6); /* home 1, after it */
    dedup_del(d, w1);
    assert_true(dedup_get(d, w2, &seq));
    assert_int_equal(seq, 5);
    assert_true(dedup_get(d, w3, &seq));
    assert_int_equal(seq, 6);
    dedup_del(d, w2);
    assert_true(dedup_get(d, w3, &seq));
    assert_false(dedup_get(d, w2, &seq));
    dedup_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_typed_row_is_its_copy_tuple),
        cmocka_unit_test(test_rows_keep_their_text_across_blocks),
        cmocka_unit_test(test_truncating_to_a_mark_drops_later_rows_only),
        cmocka_unit_test(test_window_keeps_the_newest_events),
        cmocka_unit_test(test_window_keeps_a_batch_larger_than_itself),
        cmocka_unit_test(test_window_never_serves_a_duplicate),
        cmocka_unit_test(test_find_across_gaps),
        cmocka_unit_test(test_dedup_holds_the_newest_keys),
        cmocka_unit_test(test_dedup_long_churn_is_exact),
        cmocka_unit_test(test_dedup_compares_all_128_bits),
        cmocka_unit_test(test_dedup_delete_keeps_colliding_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
