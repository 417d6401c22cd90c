/* test_hl7_build.c - what Joinery sends a trust (A31, A28, A40) as exact texts, read back by the
 * project's own parser and ADT mapping (the Person must come back as it went), and the trust's
 * ACKs read: AA, AE and AR with their reasons, and answers to the wrong message refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/hl7.h"
#include "health/hl7_ack.h"
#include "health/hl7_build.h"
#include "health/hl7_map.h"

static hl7_msg_t *M;
static hl7_mapped_t *R;
static char OUT[16384];
static size_t LEN;
static char ERR[256];

static const hl7_build_opts_t OPTS = {.sending_facility = "LCC",
                                      .receiving_app = "PAS",
                                      .trust_ods = "RR8",
                                      .timestamp = "20240301093000+0000",
                                      .control_id = "J-42"};
static const hl7_map_opts_t MAP = {.trust_ods = "RR8", .today = "2024-06-01"};

#define MSH_A31                                                                                    \
    "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093000+0000||ADT^A31^ADT_A05|J-42|P|2.5||||||"          \
    "UNICODE UTF-8\rEVN|A31|20240301093000+0000\r"

static int setup(void **state)
{
    (void)state;
    M = hl7_msg_new(64);
    R = calloc(1, sizeof *R);
    return M && R ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hl7_msg_destroy(&M);
    free(R);
    return 0;
}

/* What was built, parsed and mapped as if the trust had sent it to us. */
static int map_back(void)
{
    char err[256];
    assert_int_equal(hl7_parse(M, OUT, LEN, err, sizeof err), 0);
    return hl7_map_adt(M, &MAP, R, err, sizeof err);
}

static int nulled(const char *field)
{
    for (size_t i = 0; i < R->n_nulled; i++)
        if (strcmp(R->nulled[i], field) == 0)
            return 1;
    return 0;
}

/* A golden record with everything the trust can be sent. */
typedef struct {
    Joinery__V1__Person p;
    Joinery__V1__HumanName name, maiden;
    char *given[3], *maiden_given[1];
    Joinery__V1__Address home, *addrs[1];
    char *lines[2];
    Joinery__V1__ContactPoint tel[3], *tels[3];
    Joinery__V1__HumanName *others[1];
} golden_t;

static void golden(golden_t *g)
{
    memset(g, 0, sizeof *g);
    joinery__v1__person__init(&g->p);
    joinery__v1__human_name__init(&g->name);
    joinery__v1__human_name__init(&g->maiden);
    joinery__v1__address__init(&g->home);
    g->p.nhs_number = "9449305552";
    g->p.nhs_number_verification =
        JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED;
    g->given[0] = "Siân";
    g->given[1] = "Zoë";
    g->name.use = "official";
    g->name.family = "O'Brien-Jones";
    g->name.given = g->given;
    g->name.n_given = 2;
    g->name.prefix = "Ms";
    g->p.name = &g->name;
    g->maiden_given[0] = "Siân";
    g->maiden.use = "maiden";
    g->maiden.family = "Byrne";
    g->maiden.given = g->maiden_given;
    g->maiden.n_given = 1;
    g->others[0] = &g->maiden;
    g->p.other_names = g->others;
    g->p.n_other_names = 1;
    g->p.birth_date = "1984-02-29";
    g->p.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    g->lines[0] = "Flat 2 & 3";
    g->lines[1] = "12 Park Row";
    g->home.use = "home";
    g->home.lines = g->lines;
    g->home.n_lines = 2;
    g->home.town = "Leeds";
    g->home.district = "West Yorkshire";
    g->home.postcode = "LS1 5AB";
    g->addrs[0] = &g->home;
    g->p.addresses = g->addrs;
    g->p.n_addresses = 1;
    static const char *const tel[3][3] = {{"phone", "0113 496 0000", "home"},
                                          {"phone", "07700 900123", "mobile"},
                                          {"email", "sian@example.org", "home"}};
    for (size_t i = 0; i < 3; i++) {
        joinery__v1__contact_point__init(&g->tel[i]);
        g->tel[i].system = (char *)tel[i][0];
        g->tel[i].value = (char *)tel[i][1];
        g->tel[i].use = (char *)tel[i][2];
        g->tels[i] = &g->tel[i];
    }
    g->p.telecom = g->tels;
    g->p.n_telecom = 3;
    g->p.death_date = "2024-05-01";
}

static void assert_str(const char *a, const char *b)
{
    assert_string_equal(a ? a : "", b ? b : "");
}

/* Given names compare as the hub holds them: one text, space separated. */
static void assert_given(const Joinery__V1__HumanName *a, const Joinery__V1__HumanName *b)
{
    char x[256] = "", y[256] = "";
    for (size_t i = 0; i < a->n_given; i++)
        (void)snprintf(x + strlen(x), sizeof x - strlen(x), "%s%s", i ? " " : "", a->given[i]);
    for (size_t i = 0; i < b->n_given; i++)
        (void)snprintf(y + strlen(y), sizeof y - strlen(y), "%s%s", i ? " " : "", b->given[i]);
    assert_string_equal(x, y);
}

static void assert_name(const Joinery__V1__HumanName *a, const Joinery__V1__HumanName *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_str(a->use, b->use);
    assert_str(a->family, b->family);
    assert_str(a->prefix, b->prefix);
    assert_given(a, b);
}

/* Everything but the identifiers, which the mapping fills from PID-3 (checked on their own). */
static void assert_person(const Joinery__V1__Person *a, const Joinery__V1__Person *b)
{
    assert_str(a->nhs_number, b->nhs_number);
    assert_int_equal(a->nhs_number_verification, b->nhs_number_verification);
    assert_name(a->name, b->name);
    assert_int_equal(a->n_other_names, b->n_other_names);
    for (size_t i = 0; i < a->n_other_names; i++)
        assert_name(a->other_names[i], b->other_names[i]);
    assert_str(a->birth_date, b->birth_date);
    assert_int_equal(a->sex, b->sex);
    assert_str(a->death_date, b->death_date);
    assert_int_equal(a->n_addresses, b->n_addresses);
    for (size_t i = 0; i < a->n_addresses; i++) {
        const Joinery__V1__Address *x = a->addresses[i], *y = b->addresses[i];
        assert_str(x->use, y->use);
        assert_int_equal(x->n_lines, y->n_lines);
        for (size_t k = 0; k < x->n_lines; k++)
            assert_str(x->lines[k], y->lines[k]);
        assert_str(x->town, y->town);
        assert_str(x->district, y->district);
        assert_str(x->postcode, y->postcode);
    }
    assert_int_equal(a->n_telecom, b->n_telecom);
    for (size_t i = 0; i < a->n_telecom; i++) {
        assert_str(a->telecom[i]->system, b->telecom[i]->system);
        assert_str(a->telecom[i]->value, b->telecom[i]->value);
        assert_str(a->telecom[i]->use, b->telecom[i]->use);
    }
}

/* Outbound --------------------------------------------------------------------------------- */

static void test_a31_changed_fields_exact(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    /* as the hub sends it: only the changed fields, the address cleared */
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    name.family = "O'Brien";
    Joinery__V1__ContactPoint tel = JOINERY__V1__CONTACT_POINT__INIT, *tels[] = {&tel};
    tel.system = "phone";
    tel.value = "07700 900123";
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.nhs_number = "9449305552";
    p.name = &name;
    p.birth_date = "1984-03-07";
    p.telecom = tels;
    p.n_telecom = 1;
    char *changed[] = {"nhs_number", "name.family", "birth_date", "address.home", "telecom.phone"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.master_id = "P01HZX";
    pc.version = 7;
    pc.local_id = "RR8123456";
    pc.changed_fields = changed;
    pc.n_changed_fields = 5;
    pc.person = &p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_string_equal(OUT, MSH_A31 "PID|1||RR8123456^^^RR8^MR~9449305552^^^NHS^NH||"
                                     "O'Brien^^^^^^L||19840307||||\"\"||07700 900123^PRN^PH\r");
    assert_int_equal(LEN, strlen(OUT));

    /* read back: the changed fields, the address nulled, nothing else touched */
    assert_int_equal(map_back(), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_UPDATED);
    assert_string_equal(R->source_record_id, "RR8123456");
    assert_string_equal(R->person.nhs_number, "9449305552");
    assert_string_equal(R->person.name->family, "O'Brien");
    assert_int_equal(R->person.name->n_given, 0);
    assert_string_equal(R->person.birth_date, "1984-03-07");
    assert_int_equal(R->person.sex, 0);
    assert_int_equal(R->person.n_addresses, 0);
    assert_true(nulled("address.lines"));
    assert_int_equal(R->person.n_telecom, 1);
    assert_string_equal(R->person.telecom[0]->value, "07700 900123");
    assert_int_equal(R->ack, HL7_AA);
}

/* A field changed to empty is HL7's "" (delete); one not changed is left empty (keep). */
static void test_a31_cleared_fields_are_explicit_nulls(void **state)
{
    (void)state;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    name.family = "";
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT; /* every value empty */
    p.name = &name;
    char *changed[] = {"nhs_number",           "nhs_number_verification",
                       "name.family",          "name.given",
                       "birth_date",           "sex",
                       "death_date",           "telecom.email",
                       "address.home.postcode"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "RR8123456";
    pc.changed_fields = changed;
    pc.n_changed_fields = sizeof changed / sizeof changed[0];
    pc.person = &p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_string_equal(OUT, MSH_A31 "PID|1||RR8123456^^^RR8^MR~\"\"^^^NHS^NH||\"\"^\"\"^^^^^L||"
                                     "\"\"|\"\"|||^^^^\"\"^^H||^NET^Internet^\"\"||||||||||||||||"
                                     "\"\"|N||\"\"\r");
    assert_int_equal(map_back(), 0);
    static const char *const want[] = {"nhs_number", "name.family", "name.given", "birth_date",
                                       "sex",        "telecom",     "death_date"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!nulled(want[i]))
            fail_msg("%s was not read back as nulled", want[i]);
    }
    assert_string_equal(R->person.nhs_number, "");
}

/* The hub's changed_fields may name a whole group ("name"): every field under it is known. */
static void test_a31_group_path(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    char *changed[] = {"name"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "RR8123456";
    pc.changed_fields = changed;
    pc.n_changed_fields = 1;
    pc.person = &g.p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_string_equal(OUT, MSH_A31 "PID|1||RR8123456^^^RR8^MR||O'Brien-Jones^Siân^Zoë^^Ms^^L\r");
}

/* A change that lists no fields sends none: only the patient's id. */
static void test_a31_no_changed_fields(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "RR8123456";
    pc.person = &g.p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_string_equal(OUT, MSH_A31 "PID|1||RR8123456^^^RR8^MR\r");
}

static void test_escapes_round_trip(void **state)
{
    (void)state;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    name.family = "A|B^C&D~E\\F";
    char *given[] = {"\"\""}; /* the text "", not a null */
    name.given = given;
    name.n_given = 1;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.name = &name;
    char *changed[] = {"name.family", "name.given"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "RR8|1^2";
    pc.changed_fields = changed;
    pc.n_changed_fields = 2;
    pc.person = &p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_non_null(strstr(OUT, "PID|1||RR8\\F\\1\\S\\2^^^RR8^MR||A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F"
                                "^\\X22\\\"^^^^^L\r"));
    assert_int_equal(map_back(), 0);
    assert_string_equal(R->source_record_id, "RR8|1^2");
    assert_string_equal(R->person.name->family, "A|B^C&D~E\\F");
    assert_int_equal(R->person.name->n_given, 1);
    assert_string_equal(R->person.name->given[0], "\"\"");
    assert_false(nulled("name.given"));
}

static void test_whole_person_round_trip(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    assert_int_equal(hl7_build_person(&g.p, "RR8123456", HL7_BUILD_A28, &OPTS, OUT, sizeof OUT,
                                      &LEN, ERR, sizeof ERR),
                     0);
    assert_string_equal(
        OUT, "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093000+0000||ADT^A28^ADT_A05|J-42|P|2.5||||||"
             "UNICODE UTF-8\rEVN|A28|20240301093000+0000\r"
             "PID|1||RR8123456^^^RR8^MR~9449305552^^^NHS^NH||"
             "O'Brien-Jones^Siân^Zoë^^Ms^^L~Byrne^Siân^^^^^M||19840229|F|||"
             "Flat 2 \\T\\ 3^12 Park Row^Leeds^West Yorkshire^LS1 5AB^^H||"
             "0113 496 0000^PRN^PH~07700 900123^PRN^CP~^NET^Internet^sian@example.org"
             "||||||||||||||||20240501|Y||01\r");
    assert_int_equal(map_back(), 0);
    assert_int_equal(R->ack, HL7_AA);
    assert_string_equal(R->source_record_id, "RR8123456");
    assert_person(&g.p, &R->person);
    assert_int_equal(R->person.n_identifiers, 1);
    assert_string_equal(R->person.identifiers[0]->system, "MR");
    assert_string_equal(R->person.identifiers[0]->value, "RR8123456");
    assert_string_equal(R->person.identifiers[0]->assigner_ods, "RR8");
}

/* Name uses HL7 2.5 has no code for go as U (unspecified), and come back without a use. */
static void test_name_types(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    g.name.use = ""; /* the name, saying nothing: legal */
    g.maiden.use = "temp";
    assert_int_equal(hl7_build_person(&g.p, "RR8123456", HL7_BUILD_A31, &OPTS, OUT, sizeof OUT,
                                      &LEN, ERR, sizeof ERR),
                     0);
    assert_non_null(strstr(OUT, "|O'Brien-Jones^Siân^Zoë^^Ms^^L~Byrne^Siân^^^^^U|"));
    assert_int_equal(map_back(), 0);
    assert_string_equal(R->person.name->use, "official");
    assert_string_equal(R->person.other_names[0]->use, "");
    g.name.use = "usual";
    g.maiden.use = "anonymous";
    assert_int_equal(hl7_build_person(&g.p, "RR8123456", HL7_BUILD_A31, &OPTS, OUT, sizeof OUT,
                                      &LEN, ERR, sizeof ERR),
                     0);
    assert_non_null(strstr(OUT, "|O'Brien-Jones^Siân^Zoë^^Ms^^D~Byrne^Siân^^^^^S|"));
}

/* Three or more given names: HL7's second component takes the further ones, space separated,
 * so the hub's text for name.given is the same after the round trip. */
static void test_further_given_names(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    char *given[] = {"Mary", "Anne", "Louise"};
    g.name.given = given;
    g.name.n_given = 3;
    assert_int_equal(hl7_build_person(&g.p, "RR8123456", HL7_BUILD_A31, &OPTS, OUT, sizeof OUT,
                                      &LEN, ERR, sizeof ERR),
                     0);
    assert_non_null(strstr(OUT, "|O'Brien-Jones^Mary^Anne Louise^^Ms^^L~"));
    assert_int_equal(map_back(), 0);
    assert_given(&g.name, R->person.name);
}

static void test_a28_new_to_trust(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    char *changed[] = {"name.family"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.master_id = "P01HZX";
    pc.local_id = ""; /* the trust has no id for this person yet */
    pc.changed_fields = changed;
    pc.n_changed_fields = 1;
    pc.person = &g.p;
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), -1);
    assert_non_null(strstr(ERR, "no id for this person"));
    assert_string_equal(OUT, "");
    assert_int_equal(
        hl7_build_changed(&pc, HL7_BUILD_A28, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_non_null(strstr(OUT, "|ADT^A28^ADT_A05|"));
    assert_non_null(strstr(OUT, "\rEVN|A28|"));
    assert_non_null(strstr(OUT, "\rPID|1||P01HZX^^^LCC^PI||O'Brien-Jones^^^^^^L\r"));
}

static void test_a40_exact_and_mapped(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    Joinery__V1__PersonMerged pm = JOINERY__V1__PERSON_MERGED__INIT;
    pm.survivor_master_id = "P01A";
    pm.retired_master_id = "P01B";
    pm.survivor_local_id = "RR8123456";
    pm.retired_local_id = "RR8999999";
    pm.reason = "steward decision";
    assert_int_equal(hl7_build_merged(&pm, NULL, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_string_equal(
        OUT, "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093000+0000||ADT^A40^ADT_A39|J-42|P|2.5||||||"
             "UNICODE UTF-8\rEVN|A40|20240301093000+0000\r"
             "PID|1||RR8123456^^^RR8^MR\rMRG|RR8999999^^^RR8^MR\r");
    assert_int_equal(map_back(), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_MERGED);
    assert_string_equal(R->source_record_id, "RR8123456");
    assert_string_equal(R->retired_id, "RR8999999");

    /* with the survivor's record: PID as for an A28 */
    assert_int_equal(hl7_build_merged(&pm, &g.p, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR), 0);
    assert_int_equal(map_back(), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_MERGED);
    assert_person(&g.p, &R->person);
    assert_string_equal(R->retired_id, "RR8999999");

    pm.retired_local_id = "RR8123456";
    assert_int_equal(hl7_build_merged(&pm, NULL, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
                     -1);
    assert_non_null(strstr(ERR, "same id"));
    pm.retired_local_id = "";
    assert_int_equal(hl7_build_merged(&pm, NULL, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
                     -1);
}

static void test_refusals(void **state)
{
    (void)state;
    golden_t g;
    golden(&g);
    hl7_build_opts_t o = OPTS;
    o.control_id = NULL;
    assert_int_equal(
        hl7_build_person(&g.p, "X1", HL7_BUILD_A31, &o, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
        -1);
    assert_non_null(strstr(ERR, "MSH-10"));
    o = OPTS;
    o.timestamp = "yesterday";
    assert_int_equal(
        hl7_build_person(&g.p, "X1", HL7_BUILD_A31, &o, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
        -1);
    assert_non_null(strstr(ERR, "MSH-7"));
    o = OPTS;
    o.processing_id = 'X';
    assert_int_equal(
        hl7_build_person(&g.p, "X1", HL7_BUILD_A31, &o, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
        -1);
    /* a date the hub could not hold is never sent as a date */
    g.p.birth_date = "1984-02-30";
    assert_int_equal(
        hl7_build_person(&g.p, "X1", HL7_BUILD_A31, &OPTS, OUT, sizeof OUT, &LEN, ERR, sizeof ERR),
        -1);
    assert_non_null(strstr(ERR, "birth_date"));
    assert_string_equal(OUT, "");
    golden(&g);
    /* too small: nothing half-written is left behind */
    char small[64];
    memset(small, 'x', sizeof small);
    assert_int_equal(hl7_build_person(&g.p, "X1", HL7_BUILD_A31, &OPTS, small, sizeof small, &LEN,
                                      ERR, sizeof ERR),
                     -1);
    assert_string_equal(small, "");
    assert_non_null(strstr(ERR, "does not fit"));
}

/* The trust's ACK ------------------------------------------------------------------------------ */

static int read_ack(const char *text, const char *expected, hl7_ack_code_t *code, char *reason,
                    size_t cap)
{
    return hl7_build_read_ack(M, text, strlen(text), expected, code, reason, cap);
}

#define TRUST_MSH "MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093001+0000||ACK^A31^ACK|RR8-77|P|2.5\r"

static void test_ack_accepted(void **state)
{
    (void)state;
    hl7_ack_code_t code = HL7_AR;
    char reason[256];
    assert_int_equal(read_ack(TRUST_MSH "MSA|AA|J-42\r", "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AA);
    assert_string_equal(reason, "");
    /* enhanced mode's commit accept is an accept too */
    assert_int_equal(read_ack(TRUST_MSH "MSA|CA|J-42\r", "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AA);
}

static void test_ack_error_reason(void **state)
{
    (void)state;
    hl7_ack_code_t code = HL7_AA;
    char reason[512];
    const char *ae = TRUST_MSH "MSA|AE|J-42\r"
                               "ERR||PID^1^3^2^1|102^Data type error^HL70357|E||||"
                               "NHS number not known to PDS\r"
                               "ERR||PID^1^7|102^Data type error^HL70357|E||||Birth date "
                               "\\T\\ NHS number disagree\r";
    assert_int_equal(read_ack(ae, "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AE);
    assert_string_equal(
        reason, "PID-3: NHS number not known to PDS; PID-7: Birth date & NHS number disagree");

    /* before 2.5: MSA-3 says it */
    const char *ar = "MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301||ACK|9|P|2.3\r"
                     "MSA|AR|J-42|Unknown patient RR8123456\r";
    assert_int_equal(read_ack(ar, "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AR);
    assert_string_equal(reason, "Unknown patient RR8123456");

    /* only the code's text: that, located */
    const char *coded = TRUST_MSH "MSA|CE|J-42\rERR||PID^1^8|103^Table value not found^HL70357|E\r";
    assert_int_equal(read_ack(coded, "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AE);
    assert_string_equal(reason, "PID-8: Table value not found");

    assert_int_equal(read_ack(TRUST_MSH "MSA|AE|J-42\r", "J-42", &code, reason, sizeof reason), 0);
    assert_string_equal(reason, "the trust gave no reason");
}

/* The trust's words reach the hub's dead letters as one line of UTF-8, cut whole. */
static void test_ack_reason_is_clean_text(void **state)
{
    (void)state;
    hl7_ack_code_t code;
    char reason[14];
    memset(reason, '#', sizeof reason); /* a cut reason must still end where it ends */
    const char *ae = TRUST_MSH "MSA|AE|J-42|caf\xe9\\.br\\Zoë Zoë\r";
    assert_int_equal(read_ack(ae, "J-42", &code, reason, sizeof reason), 0);
    /* Latin-1 é is not UTF-8: '?'; the line break a blank; the second ë does not fit whole */
    assert_string_equal(reason, "caf? Zoë Zo");
}

static void test_ack_not_ours(void **state)
{
    (void)state;
    hl7_ack_code_t code = HL7_AA;
    char reason[256];
    assert_int_equal(read_ack(TRUST_MSH "MSA|AA|J-41\r", "J-42", &code, reason, sizeof reason), -1);
    assert_string_equal(reason, "MSA-2 answers message \"J-41\", not \"J-42\"");
    assert_int_equal(read_ack(TRUST_MSH "MSA|XX|J-42\r", "J-42", &code, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "MSA-1"));
    assert_int_equal(read_ack(TRUST_MSH, "J-42", &code, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "no MSA"));
    assert_int_equal(read_ack("HTTP/1.1 200 OK\r\n", "J-42", &code, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "not an HL7 message"));
    assert_int_equal(code, HL7_AA); /* untouched */
}

/* Our own ACK writer's AE, as a trust running Joinery would send it, reads back with its ERR-8. */
static void test_ack_from_hl7_ack_build(void **state)
{
    (void)state;
    const char *in = "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093000+0000||ADT^A31^ADT_A05|J-42|P|"
                     "2.5\rPID|1||RR8123456^^^RR8^MR~9449305553^^^NHS^NH\r";
    char err[256], ack[4096];
    assert_int_equal(hl7_parse(M, in, strlen(in), err, sizeof err), 0);
    assert_int_equal(hl7_map_adt(M, &MAP, R, err, sizeof err), 0);
    hl7_ack_t a = hl7_mapped_ack(R);
    a.timestamp = "20240301093001+0000";
    a.control_id = "RR8-1";
    size_t n;
    assert_int_equal(hl7_ack_build(M, &a, ack, sizeof ack, &n, err, sizeof err), 0);
    hl7_ack_code_t code;
    char reason[512];
    assert_int_equal(hl7_build_read_ack(M, ack, n, "J-42", &code, reason, sizeof reason), 0);
    assert_int_equal(code, HL7_AE);
    assert_non_null(strstr(reason, "PID-3: PID-3 repetition 2: NHS number fails the modulus 11"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a31_changed_fields_exact),
        cmocka_unit_test(test_a31_cleared_fields_are_explicit_nulls),
        cmocka_unit_test(test_a31_group_path),
        cmocka_unit_test(test_a31_no_changed_fields),
        cmocka_unit_test(test_escapes_round_trip),
        cmocka_unit_test(test_whole_person_round_trip),
        cmocka_unit_test(test_further_given_names),
        cmocka_unit_test(test_name_types),
        cmocka_unit_test(test_a28_new_to_trust),
        cmocka_unit_test(test_a40_exact_and_mapped),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_ack_accepted),
        cmocka_unit_test(test_ack_error_reason),
        cmocka_unit_test(test_ack_reason_is_clean_text),
        cmocka_unit_test(test_ack_not_ours),
        cmocka_unit_test(test_ack_from_hl7_ack_build),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
