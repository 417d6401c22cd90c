/* test_hl7_map.c - ADT to Joinery and the ACKs, on UK messages written here (NHS numbers valid
 * and not, 29 February, merges, admissions) and on named samples from tests/data/hl7v2, whose
 * values are asserted as the files give them. */
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
#include "health/hl7_map.h"

static hl7_msg_t *M;
static hl7_mapped_t *R;
static char BUF[65536];
static const hl7_map_opts_t OPTS = {.trust_ods = "RR8", .today = "2024-06-01"};

static int setup(void **state)
{
    (void)state;
    M = hl7_msg_new(256);
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

/* A UK trust's message: MSH for TYPE (e.g. "ADT^A28^ADT_A05"), then the segments given. */
static const char *msg(const char *type, const char *segments)
{
    (void)snprintf(BUF, sizeof BUF,
                   "MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000+0000||%s|RR8-0001|P|2.5\r%s", type,
                   segments);
    return BUF;
}

static int map(const char *text, const hl7_map_opts_t *o)
{
    char err[256];
    assert_int_equal(hl7_parse(M, text, strlen(text), err, sizeof err), 0);
    return hl7_map_adt(M, o, R, err, sizeof err);
}

static const char *ack(void)
{
    static char out[4096];
    hl7_ack_t a = hl7_mapped_ack(R);
    a.timestamp = "20240301093001+0000";
    a.control_id = "J-1";
    size_t n;
    char err[100];
    assert_int_equal(hl7_ack_build(M, &a, out, sizeof out, &n, err, sizeof err), 0);
    assert_int_equal(strlen(out), n);
    return out;
}

#define PID_UK                                                                                     \
    "PID|1||RR8123456^^^RR8^MR~%s^^^NHS^NH||O'BRIEN^Siobhan^Mary^^Ms^^L~BYRNE^Siobhan^^^^^M||"     \
    "%s|F|||Flat 2\\T\\3^12 Park Row^Leeds^West Yorkshire^ls1 5ab^GBR^H||"                         \
    "07700 900123^PRN^CP~^NET^Internet^siobhan@example.org||||||||||||||||\"\"|||01\r"

static const char *uk(const char *type, const char *nhs, const char *birth)
{
    static char pid[1024];
    (void)snprintf(pid, sizeof pid, PID_UK, nhs, birth);
    return msg(type, pid);
}

static void uk_patient_is_mapped_whole(void **state)
{
    (void)state;
    assert_int_equal(map(uk("ADT^A28^ADT_A05", "9449305552", "19840229"), &OPTS), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_UPDATED);
    assert_string_equal(hl7_event_name(R->event), "person.updated");
    assert_int_equal(R->ack, HL7_AA);
    assert_int_equal(R->n_issues, 0);
    assert_string_equal(R->source_record_id, "RR8123456");
    const Joinery__V1__Person *p = &R->person;
    assert_string_equal(p->nhs_number, "9449305552");
    assert_int_equal(p->nhs_number_verification,
                     JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED);
    assert_string_equal(p->name->family, "O'BRIEN");
    assert_int_equal(p->name->n_given, 2);
    assert_string_equal(p->name->given[0], "Siobhan");
    assert_string_equal(p->name->given[1], "Mary");
    assert_string_equal(p->name->prefix, "Ms");
    assert_string_equal(p->name->use, "official");
    assert_int_equal(p->n_other_names, 1);
    assert_string_equal(p->other_names[0]->family, "BYRNE");
    assert_string_equal(p->other_names[0]->use, "maiden");
    assert_string_equal(p->birth_date, "1984-02-29");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE);
    assert_int_equal(p->n_addresses, 1);
    const Joinery__V1__Address *a = p->addresses[0];
    assert_int_equal(a->n_lines, 2);
    assert_string_equal(a->lines[0], "Flat 2&3"); /* \T\ is the subcomponent separator */
    assert_string_equal(a->lines[1], "12 Park Row");
    assert_string_equal(a->town, "Leeds");
    assert_string_equal(a->district, "West Yorkshire");
    assert_string_equal(a->postcode, "LS1 5AB");
    assert_string_equal(a->use, "home");
    assert_int_equal(p->n_telecom, 2);
    assert_string_equal(p->telecom[0]->system, "phone");
    assert_string_equal(p->telecom[0]->value, "07700 900123");
    assert_string_equal(p->telecom[0]->use, "mobile");
    assert_string_equal(p->telecom[1]->system, "email");
    assert_string_equal(p->telecom[1]->value, "siobhan@example.org");
    assert_int_equal(p->n_identifiers, 1);
    assert_string_equal(p->identifiers[0]->system, "MR");
    assert_string_equal(p->identifiers[0]->value, "RR8123456");
    assert_string_equal(p->identifiers[0]->assigner_ods, "RR8");
    assert_string_equal(p->death_date, "");
    assert_int_equal(R->n_nulled, 1); /* PID-29 "" */
    assert_string_equal(R->nulled[0], "death_date");
    /* it packs, and unpacks to the same person */
    uint8_t wire[2048];
    size_t n = joinery__v1__person__get_packed_size(p);
    assert_true(n < sizeof wire);
    assert_int_equal(joinery__v1__person__pack(p, wire), n);
    Joinery__V1__Person *back = joinery__v1__person__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_string_equal(back->nhs_number, "9449305552");
    assert_string_equal(back->addresses[0]->postcode, "LS1 5AB");
    joinery__v1__person__free_unpacked(back, NULL);
    assert_string_equal(ack(),
                        "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093001+0000||ACK^A28^ACK|J-1|P|2.5\r"
                        "MSA|AA|RR8-0001\r");
}

/* A wrong check digit drops the NHS number only: the rest is published, the ACK is AE, names
 * the field and the reason, and the original bytes are kept. */
static void bad_nhs_check_digit_refuses_that_field_only(void **state)
{
    (void)state;
    assert_int_equal(map(uk("ADT^A31^ADT_A05", "9449305553", "19840229"), &OPTS), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_UPDATED);
    assert_int_equal(R->ack, HL7_AE);
    assert_string_equal(R->person.nhs_number, "");
    assert_string_equal(R->person.name->family, "O'BRIEN");
    assert_string_equal(R->person.birth_date, "1984-02-29");
    assert_string_equal(R->person.addresses[0]->postcode, "LS1 5AB");
    assert_int_equal(R->n_issues, 1);
    const hl7_issue_t *e = &R->issues[0];
    assert_string_equal(e->person_field, "nhs_number");
    assert_string_equal(e->segment, "PID");
    assert_int_equal(e->field, 3);
    assert_int_equal(e->rep, 2);
    assert_int_equal(e->code, HL7_ERR_DATA_TYPE);
    assert_int_equal(e->raw_len, 10);
    assert_memory_equal(e->raw, "9449305553", 10);
    assert_string_equal(
        ack(), "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093001+0000||ACK^A31^ACK|J-1|P|2.5\r"
               "MSA|AE|RR8-0001\r"
               "ERR||PID^1^3^2^1|102^Data type error^HL70357|E||||PID-3 repetition 2: NHS "
               "number fails the modulus 11 check: the last digit does not match the check "
               "digit computed from the first nine, so the number is mistyped. The NHS number "
               "was dropped; the rest of the patient was taken\r");
    /* a check value of 10 and a wrong length are refused the same way */
    assert_int_equal(map(uk("ADT^A31^ADT_A05", "944930555", "19840229"), &OPTS), 0);
    assert_int_equal(R->ack, HL7_AE);
    assert_non_null(strstr(R->issues[0].text, "has 9 digits"));
}

static void february_29th(void **state)
{
    (void)state;
    assert_int_equal(map(uk("ADT^A28^ADT_A05", "9449305552", "20230229"), &OPTS), 0);
    assert_int_equal(R->ack, HL7_AE);
    assert_string_equal(R->person.birth_date, "");
    assert_string_equal(R->person.nhs_number, "9449305552");
    assert_int_equal(R->n_issues, 1);
    assert_string_equal(R->issues[0].person_field, "birth_date");
    assert_int_equal(R->issues[0].field, 7);
    assert_memory_equal(R->issues[0].raw, "20230229", 8);
    assert_non_null(strstr(R->issues[0].text, "PID-7 birth date is not a real date"));
    assert_int_equal(map(uk("ADT^A28^ADT_A05", "9449305552", "202402291030+0100"), &OPTS), 0);
    assert_int_equal(R->ack, HL7_AA);
    assert_string_equal(R->person.birth_date, "2024-02-29");
    /* in the future, or a date without its day: refused too */
    assert_int_equal(map(uk("ADT^A28^ADT_A05", "9449305552", "20240602"), &OPTS), 0);
    assert_int_equal(R->ack, HL7_AE);
    assert_non_null(strstr(R->issues[0].text, "in the future"));
    assert_int_equal(map(uk("ADT^A28^ADT_A05", "9449305552", "1984"), &OPTS), 0);
    assert_int_equal(R->ack, HL7_AE);
    assert_non_null(strstr(R->issues[0].text, "whole date"));
}

static void local_id_is_the_trusts_mr(void **state)
{
    (void)state;
    const char *m = msg("ADT^A08^ADT_A01", "PID|1||X1^^^OTHER^MR~RR8777^^^RR8^MR||DOE^JO\r");
    assert_int_equal(map(m, &OPTS), 0);
    assert_string_equal(R->source_record_id, "RR8777");
    hl7_map_opts_t none = {.today = "2024-06-01"};
    assert_int_equal(map(m, &none), 0);
    assert_string_equal(R->source_record_id, "X1");
    assert_int_equal(R->person.n_identifiers, 2);
    /* no MR at all: nothing to publish under, AE */
    assert_int_equal(map(msg("ADT^A08^ADT_A01", "PID|1||9449305552^^^NHS^NH||DOE^JO\r"), &OPTS),
                     -1);
    assert_int_equal(R->ack, HL7_AE);
    assert_int_equal(R->event, HL7_EVENT_NONE);
    assert_int_equal(R->issues[0].code, HL7_ERR_REQUIRED_MISSING);
}

static void missing_pid_is_ae(void **state)
{
    (void)state;
    assert_int_equal(map(msg("ADT^A08^ADT_A01", "EVN|A08|20240301\r"), &OPTS), -1);
    assert_int_equal(R->ack, HL7_AE);
    assert_string_equal(ack(),
                        "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093001+0000||ACK^A08^ACK|J-1|P|2.5\r"
                        "MSA|AE|RR8-0001\r"
                        "ERR||PID^1|100^Segment sequence error^HL70357|E||||the message "
                        "has no PID segment: there is no patient\r");
}

static void unsupported_header_is_ar(void **state)
{
    (void)state;
    const char *pid = "PID|1||RR81^^^RR8^MR\r";
    char text[512];
    (void)snprintf(text, sizeof text, "MSH|^~\\&|PAS|RR8|J|LCC|20240301||ADT^A08|C7|P|2.2\r%s",
                   pid);
    assert_int_equal(map(text, &OPTS), -1);
    assert_int_equal(R->ack, HL7_AR);
    assert_int_equal(R->issues[0].code, HL7_ERR_UNSUPPORTED_VERSION);
    (void)snprintf(text, sizeof text, "MSH|^~\\&|PAS|RR8|J|LCC|20240301||ADT^A08|C7|D|2.4\r%s",
                   pid);
    assert_int_equal(map(text, &OPTS), -1);
    assert_int_equal(R->ack, HL7_AR);
    assert_int_equal(R->issues[0].code, HL7_ERR_UNSUPPORTED_PROCESSING_ID);
    /* before 2.5 the ERR is ERR-1 and MSA-3 says why */
    assert_string_equal(ack(), "MSH|^~\\&|J|LCC|PAS|RR8|20240301093001+0000||ACK^A08|J-1|D|2.4\r"
                               "MSA|AR|C7|MSH-11 processing id is not one this interface takes "
                               "(PT)\r"
                               "ERR|MSH^1^11^202&Unsupported processing id&HL70357\r");
    hl7_map_opts_t prod = OPTS;
    prod.processing_ids = "P";
    (void)snprintf(text, sizeof text, "MSH|^~\\&|PAS|RR8|J|LCC|20240301||ADT^A08|C7|T|2.4\r%s",
                   pid);
    assert_int_equal(map(text, &prod), -1);
    assert_int_equal(map(text, &OPTS), 0);
}

static void unmapped_types_per_configuration(void **state)
{
    (void)state;
    const char *oru = msg("ORU^R01^ORU_R01", "PID|1||RR81^^^RR8^MR\rOBX|1|NM|x\r");
    assert_int_equal(map(oru, &OPTS), 1);
    assert_int_equal(R->ack, HL7_AA);
    assert_int_equal(R->event, HL7_EVENT_NONE);
    assert_string_equal(R->type, "ORU");
    assert_string_equal(ack(),
                        "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093001+0000||ACK^R01^ACK|J-1|P|2.5\r"
                        "MSA|AA|RR8-0001\r");
    hl7_map_opts_t reject = OPTS;
    reject.unmapped = HL7_UNMAPPED_REJECT;
    assert_int_equal(map(oru, &reject), 1);
    assert_int_equal(R->ack, HL7_AR);
    assert_string_equal(ack(),
                        "MSH|^~\\&|JOINERY|LCC|PAS|RR8|20240301093001+0000||ACK^R01^ACK|J-1|P|2.5\r"
                        "MSA|AR|RR8-0001\r"
                        "ERR||MSH^1^9|200^Unsupported message type^HL70357|E||||ORU\\S\\R01 is "
                        "not a message type this interface takes\r");
    assert_int_equal(map(msg("ADT^A02^ADT_A02", "PID|1||RR81^^^RR8^MR\r"), &reject), 1);
    assert_int_equal(R->ack, HL7_AR);
    assert_int_equal(R->issues[0].code, HL7_ERR_UNSUPPORTED_EVENT);
}

static void merge_a40(void **state)
{
    (void)state;
    assert_int_equal(map(msg("ADT^A40^ADT_A39", "PID|1||RR8200^^^RR8^MR~9449305552^^^NHS^NH||"
                                                "SMITH^ANN\rMRG|RR8100^^^RR8^MR~OLD9^^^X^PI\r"),
                         &OPTS),
                     0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_MERGED);
    assert_string_equal(R->source_record_id, "RR8200");
    assert_string_equal(R->retired_id, "RR8100");
    assert_string_equal(R->merged.survivor_local_id, "RR8200");
    assert_string_equal(R->merged.retired_local_id, "RR8100");
    assert_string_equal(R->merged.reason, "HL7 ADT^A40 from trust RR8");
    assert_string_equal(R->person.nhs_number, "9449305552");
    assert_int_equal(map(msg("ADT^A40^ADT_A39", "PID|1||RR8200^^^RR8^MR\r"), &OPTS), -1);
    assert_int_equal(R->ack, HL7_AE);
    assert_string_equal(R->issues[0].segment, "MRG");
}

static void admission_and_discharge(void **state)
{
    (void)state;
    assert_int_equal(map(msg("ADT^A01^ADT_A01",
                             "PID|1||RR8300^^^RR8^MR~9449305552^^^NHS^NH||LEE^AMY||19500101|F\r"
                             "PV1|1|I|WARD7^B2^3||||C123^HOUSE^G|||GERI||||19|||||V0042^^^RR8^VN|"
                             "||||||||||||||||||||||||202402291030+0000\r"),
                         &OPTS),
                     0);
    assert_int_equal(R->event, HL7_EVENT_ADMISSION);
    assert_string_equal(hl7_event_name(R->event), "health.admission");
    assert_ptr_equal(R->admission.encounter, &R->encounter);
    assert_string_equal(R->encounter.encounter_id, "V0042");
    assert_string_equal(R->encounter.patient_class, "inpatient");
    assert_string_equal(R->encounter.ward, "WARD7");
    assert_string_equal(R->encounter.consultant, "C123");
    assert_string_equal(R->encounter.specialty, "GERI");
    assert_string_equal(R->encounter.start_at, "2024-02-29T10:30:00+00:00");
    assert_string_equal(R->encounter.nhs_number, "9449305552");
    assert_string_equal(R->encounter.trust_ods, "RR8");
    assert_string_equal(R->admission.source_of_admission, "19");
    assert_int_equal(map(msg("ADT^A03^ADT_A03", "PID|1||RR8300^^^RR8^MR\r"), &OPTS), -1);
    assert_int_equal(R->ack, HL7_AE);
    assert_string_equal(R->issues[0].segment, "PV1");
}

/* Named samples, as the files say. */
static const char *sample(const char *name, size_t *len)
{
    char path[1024];
    const char *src = getenv("JOINERY_SOURCE_DIR");
    (void)snprintf(path, sizeof path, "%s/tests/data/hl7v2/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(BUF, 1, sizeof BUF, f);
    fclose(f);
    return BUF;
}

static int map_sample(const char *name)
{
    size_t n;
    const char *text = sample(name, &n);
    char err[256];
    assert_int_equal(hl7_parse(M, text, n, err, sizeof err), 0);
    return hl7_map_adt(M, &OPTS, R, err, sizeof err);
}

static void sample_adt_a01_01(void **state)
{
    (void)state;
    assert_int_equal(map_sample("ADT-A01-01.hl7"), 0);
    assert_int_equal(R->event, HL7_EVENT_ADMISSION);
    assert_int_equal(R->ack, HL7_AA);
    assert_string_equal(R->source_record_id, "PATID1234");
    const Joinery__V1__Person *p = &R->person;
    /* PID-5: the second repetition is the legal name (L), the first a display name (D) */
    assert_string_equal(p->name->family, "Josh");
    assert_string_equal(p->name->given[0], "stanley");
    assert_string_equal(p->name->use, "official");
    assert_string_equal(p->other_names[0]->family, "EVERYMAN");
    assert_string_equal(p->other_names[0]->given[0], "ADAM");
    assert_string_equal(p->other_names[0]->given[1], "A");
    assert_string_equal(p->other_names[0]->prefix, "Dr.");
    assert_string_equal(p->other_names[0]->use, "usual");
    assert_string_equal(p->birth_date, "1988-08-18");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE);
    const Joinery__V1__Address *a = p->addresses[0];
    assert_string_equal(a->lines[0], "1000 Hospital Lane");
    assert_string_equal(a->lines[1], "Ste. 123");
    assert_string_equal(a->lines[2], "99999"); /* USA: a ZIP code, not a UK postcode */
    assert_string_equal(a->lines[3], "USA");
    assert_string_equal(a->town, "Ann Arbor");
    assert_string_equal(a->district, "MI");
    assert_string_equal(a->postcode, "");
    assert_string_equal(p->telecom[0]->value, "78788788");
    assert_string_equal(p->telecom[0]->use, "mobile");
    assert_string_equal(R->encounter.patient_class, "preadmit");
    assert_string_equal(R->encounter.ward, "HUH AE OMU");
    assert_string_equal(R->encounter.encounter_id, "40007716");
}

static void sample_adt_a40_01(void **state)
{
    (void)state;
    assert_int_equal(map_sample("ADT-A40-01.hl7"), 0);
    assert_int_equal(R->event, HL7_EVENT_PERSON_MERGED);
    assert_string_equal(R->source_record_id, "12345");
    assert_string_equal(R->retired_id, "56789");
    assert_string_equal(R->person.name->family, "Test");
    assert_string_equal(R->person.name->given[0], "Test");
    assert_string_equal(R->person.name->given[1], "A");
    assert_string_equal(R->person.birth_date, "2018-02-05");
    assert_int_equal(R->person.sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE);
    assert_string_equal(R->person.addresses[0]->lines[0], "123 Any Street");
    assert_string_equal(R->person.addresses[0]->town, "Raleigh");
    assert_string_equal(R->person.telecom[0]->value, "(111)111-1111");
    /* "27615" with no country is taken for a UK postcode, and is not one */
    assert_int_equal(R->ack, HL7_AE);
    assert_int_equal(R->n_issues, 1);
    assert_string_equal(R->issues[0].person_field, "address.postcode");
    assert_memory_equal(R->issues[0].raw, "27615", 5);
    /* the ACK answers MSH-10 8919-40 in version 2.8 */
    assert_non_null(strstr(ack(), "|ACK^A40^ACK|J-1|P|2.8\rMSA|AE|8919-40\rERR||PID^1^11^1^5|"));
}

static void sample_adt01_23(void **state)
{
    (void)state;
    assert_int_equal(map_sample("ADT01-23.hl7"), 0); /* BOM, \n, trailing blanks, version 2.3 */
    assert_int_equal(R->event, HL7_EVENT_ADMISSION);
    assert_string_equal(R->source_record_id, "10006579");
    assert_string_equal(R->person.name->family, "DUCK");
    assert_string_equal(R->person.name->given[0], "DONALD");
    assert_string_equal(R->person.birth_date, "1924-10-10");
    assert_string_equal(R->encounter.patient_class, "inpatient");
    assert_string_equal(R->encounter.ward, "PREOP");
    assert_string_equal(R->encounter.start_at, "2005-01-10T04:55:02+07:00");
    assert_non_null(strstr(ack(), "MSA|AE|599102|"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uk_patient_is_mapped_whole),
        cmocka_unit_test(bad_nhs_check_digit_refuses_that_field_only),
        cmocka_unit_test(february_29th),
        cmocka_unit_test(local_id_is_the_trusts_mr),
        cmocka_unit_test(missing_pid_is_ae),
        cmocka_unit_test(unsupported_header_is_ar),
        cmocka_unit_test(unmapped_types_per_configuration),
        cmocka_unit_test(merge_a40),
        cmocka_unit_test(admission_and_discharge),
        cmocka_unit_test(sample_adt_a01_01),
        cmocka_unit_test(sample_adt_a40_01),
        cmocka_unit_test(sample_adt01_23),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
