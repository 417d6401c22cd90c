/* test_pbarena.c - the protobuf bump allocator: messages decoded through it are
 * the messages decoded with malloc, memory is aligned, a large message gets a
 * block of its own and a reset gives everything back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <joinery/v1/person.pb-c.h>

#include "base/pbarena.h"

static size_t pack_person(const char *family, size_t given_count, uint8_t **out)
{
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[64];
    for (size_t i = 0; i < given_count && i < 64; i++)
        given[i] = "Alexandra";
    name.family = (char *)family;
    name.given = given;
    name.n_given = given_count;
    p.name = &name;
    p.birth_date = "1984-03-07";
    size_t len = joinery__v1__person__get_packed_size(&p);
    *out = malloc(len);
    assert_non_null(*out);
    joinery__v1__person__pack(&p, *out);
    return len;
}

static void test_decodes_the_same_message_as_malloc(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len = pack_person("Featherstonehaugh", 3, &buf);
    pbarena_t *a = pbarena_new(4096);
    assert_non_null(a);
    for (int round = 0; round < 3; round++) {
        Joinery__V1__Person *x = joinery__v1__person__unpack(pbarena_allocator(a), len, buf);
        Joinery__V1__Person *y = joinery__v1__person__unpack(NULL, len, buf);
        assert_non_null(x);
        assert_non_null(y);
        assert_string_equal(x->name->family, y->name->family);
        assert_int_equal(x->name->n_given, 3);
        assert_string_equal(x->name->given[2], "Alexandra");
        assert_string_equal(x->birth_date, "1984-03-07");
        assert_true(((uintptr_t)x % sizeof(max_align_t)) == 0);
        assert_true(pbarena_used(a) > sizeof *x);
        joinery__v1__person__free_unpacked(y, NULL);
        pbarena_reset(a);
        assert_int_equal(pbarena_used(a), 0);
    }
    pbarena_destroy(&a);
    assert_null(a);
    free(buf);
}

static void test_a_message_larger_than_a_block_still_decodes(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len = pack_person("Smith", 64, &buf); /* 64 pointers alone fill the block */
    pbarena_t *a = pbarena_new(256);
    Joinery__V1__Person *x = joinery__v1__person__unpack(pbarena_allocator(a), len, buf);
    assert_non_null(x);
    assert_int_equal(x->name->n_given, 64);
    assert_string_equal(x->name->given[63], "Alexandra");
    assert_true(pbarena_used(a) > 256);
    pbarena_reset(a);
    assert_int_equal(pbarena_used(a), 0);
    x = joinery__v1__person__unpack(pbarena_allocator(a), len, buf);
    assert_non_null(x);
    assert_string_equal(x->name->family, "Smith");
    pbarena_destroy(&a);
    free(buf);
}

static void test_a_truncated_payload_is_refused_and_the_arena_stays_usable(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len = pack_person("Jones", 2, &buf);
    pbarena_t *a = pbarena_new(1024);
    assert_null(joinery__v1__person__unpack(pbarena_allocator(a), len - 3, buf));
    pbarena_reset(a);
    assert_non_null(joinery__v1__person__unpack(pbarena_allocator(a), len, buf));
    pbarena_destroy(&a);
    pbarena_destroy(&a); /* twice is harmless */
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_the_same_message_as_malloc),
        cmocka_unit_test(test_a_message_larger_than_a_block_still_decodes),
        cmocka_unit_test(test_a_truncated_payload_is_refused_and_the_arena_stays_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
