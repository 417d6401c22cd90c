/* test_hl7_fhir_patient.c - a trust's UK Core Patient read into a Person (UK examples, refused
 * fields with their FHIRPath locations, hostile documents: bad JSON, other resources, deep
 * nesting, huge arrays, wrong types), the golden record written back as a Patient (exact text,
 * and read again to the same Person), the OperationOutcome and the CapabilityStatement.
 * (Named test_hl7_* so that it links joinery_hl7, where the FHIR module lives.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health/fhir_patient.h"

#define LOCAL "https://fhir.rr8.nhs.uk/Id/local-patient-identifier"

static fhir_patient_t *P;
static const fhir_read_opts_t OPTS = {.local_system = LOCAL, .today = "2024-06-01"};
static char OUT[65536];

static int setup(void **state)
{
    (void)state;
    P = calloc(1, sizeof *P);
    return P ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(P);
    return 0;
}

static fhir_read_t rd(const char *json)
{
    return fhir_patient_read(json, strlen(json), &OPTS, P);
}

/* The problem at LOC, failing the test when there is none. */
static const fhir_problem_t *problem_at(const char *loc)
{
    for (size_t i = 0; i < P->n_problems; i++)
        if (strcmp(P->problems[i].location, loc) == 0)
            return &P->problems[i];
    for (size_t i = 0; i < P->n_problems; i++)
        print_message("problem %zu: %s: %s\n", i, P->problems[i].location, P->problems[i].reason);
    fail_msg("no problem at %s", loc);
    return NULL;
}

#define IDS(nhs)                                                                                   \
    "\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"" nhs "\","     \
    "\"extension\":[{\"url\":\"https://fhir.hl7.org.uk/StructureDefinition/"                       \
    "Extension-UKCore-NHSNumberVerificationStatus\",\"valueCodeableConcept\":{\"coding\":[{"       \
    "\"system\":\"https://fhir.hl7.org.uk/CodeSystem/"                                             \
    "UKCore-NHSNumberVerificationStatusEngland\",\"code\":\"01\"}]}}]},"                           \
    "{\"system\":\"" LOCAL "\",\"value\":\"RR8123456\"}]"

/* A UK Core Patient as a trust's EPR would POST it. */
static const char *patient(const char *nhs)
{
    static char buf[4096];
    (void)snprintf(
        buf, sizeof buf,
        "{\"resourceType\":\"Patient\",\"id\":\"rr8-123456\","
        "\"meta\":{\"profile\":[\"https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient\"]},"
        "\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"%s\","
        "\"extension\":[{\"url\":\"https://fhir.hl7.org.uk/StructureDefinition/"
        "Extension-UKCore-NHSNumberVerificationStatus\",\"valueCodeableConcept\":{\"coding\":[{"
        "\"system\":\"https://fhir.hl7.org.uk/CodeSystem/"
        "UKCore-NHSNumberVerificationStatusEngland\",\"code\":\"01\"}]}}]},"
        "{\"system\":\"" LOCAL "\",\"value\":\"RR8123456\"}],"
        "\"name\":[{\"use\":\"maiden\",\"family\":\"Byrne\",\"given\":[\"Siân\"]},"
        "{\"use\":\"official\",\"family\":\"O'Brien\",\"given\":[\"Siân\",\"Zo\\u00eb\"],"
        "\"prefix\":[\"Ms\"]}],"
        "\"telecom\":[{\"system\":\"phone\",\"value\":\"0113 496 0000\",\"use\":\"home\"},"
        "{\"system\":\"email\",\"value\":\"sian@example.org\"},"
        "{\"system\":\"fax\",\"value\":\"0113 496 0001\"}],"
        "\"gender\":\"female\",\"birthDate\":\"1984-02-29\","
        "\"deceasedDateTime\":\"2024-05-01T10:30:00+01:00\","
        "\"address\":[{\"use\":\"home\",\"line\":[\"Flat 2\",\"12  "
        "Park\\tRow\"],\"city\":\"Leeds\","
        "\"district\":\"West Yorkshire\",\"postalCode\":\"ls1 5ab\",\"country\":\"GB\"}],"
        "\"generalPractitioner\":[{\"identifier\":{\"system\":"
        "\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"B86001\"}}]}",
        nhs);
    return buf;
}

/* Reading ------------------------------------------------------------------------------------ */

static void test_read_uk_core_patient(void **state)
{
    (void)state;
    assert_int_equal(rd(patient("9449305552")), FHIR_READ_OK);
    /* the fax is not kept, and says so */
    assert_int_equal(P->n_problems, 1);
    assert_int_equal(problem_at("Patient.telecom[2].system")->severity, FHIR_WARNING);
    const Joinery__V1__Person *p = &P->person;
    assert_string_equal(P->local_id, "RR8123456");
    assert_string_equal(P->id, "rr8-123456");
    assert_string_equal(p->nhs_number, "9449305552");
    assert_int_equal(p->nhs_number_verification,
                     JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED);
    /* the official name is the name, wherever it is; names kept byte for byte */
    assert_string_equal(p->name->use, "official");
    assert_string_equal(p->name->family, "O'Brien");
    assert_int_equal(p->name->n_given, 2);
    assert_string_equal(p->name->given[0], "Si\xc3\xa2n");
    assert_string_equal(p->name->given[1], "Zo\xc3\xab");
    assert_string_equal(p->name->prefix, "Ms");
    assert_int_equal(p->n_other_names, 1);
    assert_string_equal(p->other_names[0]->use, "maiden");
    assert_string_equal(p->other_names[0]->family, "Byrne");
    assert_string_equal(p->birth_date, "1984-02-29");
    assert_string_equal(p->death_date, "2024-05-01");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE);
    assert_int_equal(p->n_addresses, 1);
    assert_string_equal(p->addresses[0]->use, "home");
    assert_int_equal(p->addresses[0]->n_lines, 2);
    assert_string_equal(p->addresses[0]->lines[1], "12 Park Row"); /* blanks as the hub has them */
    assert_string_equal(p->addresses[0]->town, "Leeds");
    assert_string_equal(p->addresses[0]->district, "West Yorkshire");
    assert_string_equal(p->addresses[0]->postcode, "LS1 5AB");
    assert_int_equal(p->n_telecom, 2);
    assert_string_equal(p->telecom[0]->system, "phone");
    assert_string_equal(p->telecom[0]->use, "home");
    assert_string_equal(p->telecom[1]->value, "sian@example.org");
    assert_string_equal(p->gp_practice_ods, "B86001");
    assert_int_equal(p->n_identifiers, 1);
    assert_string_equal(p->identifiers[0]->system, LOCAL);
    assert_string_equal(p->identifiers[0]->value, "RR8123456");
    /* and it packs: nothing in it is dangling */
    size_t n = joinery__v1__person__get_packed_size(p);
    uint8_t *wire = malloc(n);
    assert_non_null(wire);
    assert_int_equal(joinery__v1__person__pack(p, wire), n);
    free(wire);
}

/* 9449305553 fails the check digit: that field alone is refused, located. */
static void test_invalid_nhs_number_refused_alone(void **state)
{
    (void)state;
    assert_int_equal(rd(patient("9449305553")), FHIR_READ_OK);
    const fhir_problem_t *pr = problem_at("Patient.identifier[0].value");
    assert_int_equal(pr->severity, FHIR_ERROR);
    assert_int_equal(pr->code, FHIR_ISSUE_VALUE);
    assert_string_equal(pr->person_field, "nhs_number");
    assert_non_null(strstr(pr->reason, "check digit"));
    assert_null(strstr(pr->reason, "9449305553")); /* reasons quote no NHS number */
    assert_string_equal(P->person.nhs_number, "");
    assert_string_equal(P->person.name->family, "O'Brien");
    assert_string_equal(P->local_id, "RR8123456");
}

static void test_verification_status(void **state)
{
    (void)state;
    char doc[4096];
    const char *p = patient("9449305552");
    const char *code = strstr(p, "\"code\":\"01\"");
    assert_non_null(code);
    (void)snprintf(doc, sizeof doc, "%.*s\"code\":\"09\"%s", (int)(code - p), p, code + 11);
    assert_int_equal(rd(doc), FHIR_READ_OK);
    const fhir_problem_t *pr =
        problem_at("Patient.identifier[0].extension[0].valueCodeableConcept.coding[0].code");
    assert_string_equal(pr->person_field, "nhs_number_verification");
    assert_int_equal(P->person.nhs_number_verification, 0);
    assert_string_equal(P->person.nhs_number, "9449305552");
}

static void test_unreadable(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "not json",
        "[]",
        "\"Patient\"",
        "{\"resourceType\":\"Observation\",\"id\":\"x\"}",
        "{\"resourceType\":7}",
        "{\"id\":\"no-type\"}",
        "{\"resourceType\":\"Patient\",\"resourceType\":\"Patient\"}", /* duplicate key */
        "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\\u0000\"}]}",
        "{\"resourceType\":\"Patient\",\"x\":\"\xff\"}", /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rd(bad[i]) != FHIR_READ_UNREADABLE)
            fail_msg("read as a Patient: %s", bad[i]);
        assert_true(P->n_problems >= 1);
        assert_int_equal(P->problems[0].severity, FHIR_ERROR);
    }
    assert_int_equal(rd("{\"resourceType\":\"Observation\"}"), FHIR_READ_UNREADABLE);
    assert_int_equal(P->problems[0].code, FHIR_ISSUE_INVALID);
    assert_non_null(strstr(P->problems[0].reason, "not a Patient"));
    assert_int_equal(rd("{\"resourceType\":"), FHIR_READ_UNREADABLE);
    assert_int_equal(P->problems[0].code, FHIR_ISSUE_STRUCTURE);
}

static void test_no_identity(void **state)
{
    (void)state;
    assert_int_equal(rd("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Jones\"}]}"),
                     FHIR_READ_INVALID);
    const fhir_problem_t *pr = problem_at("Patient.identifier");
    assert_int_equal(pr->code, FHIR_ISSUE_REQUIRED);
    /* an NHS number alone does not name the trust's record */
    assert_int_equal(rd("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":"
                        "\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9449305552\"}]}"),
                     FHIR_READ_INVALID);
    /* the trust's id with a number for a value */
    assert_int_equal(rd("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"" LOCAL
                        "\",\"value\":123456}]}"),
                     FHIR_READ_INVALID);
    assert_int_equal(problem_at("Patient.identifier[0].value")->code, FHIR_ISSUE_STRUCTURE);
    /* an identifier that is not an array */
    assert_int_equal(rd("{\"resourceType\":\"Patient\",\"identifier\":{\"system\":\"" LOCAL
                        "\",\"value\":\"1\"}}"),
                     FHIR_READ_INVALID);
    assert_int_equal(problem_at("Patient.identifier")->code, FHIR_ISSUE_STRUCTURE);
    /* without a configured system: the first identifier that is not an NHS number */
    const char *doc =
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":"
        "\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9449305552\"},"
        "{\"system\":\"urn:oid:2.16.840.1.113883.2.1.3.2.4.18.24\",\"value\":\"X9\"}]}";
    fhir_read_opts_t any = {.today = "2024-06-01"};
    assert_int_equal(fhir_patient_read(doc, strlen(doc), &any, P), FHIR_READ_OK);
    assert_string_equal(P->local_id, "X9");
    assert_int_equal(fhir_patient_read(doc, strlen(doc), &OPTS, P), FHIR_READ_INVALID);
}

/* A number where a string belongs, an object where an array does: that element is refused. */
static void test_wrong_types(void **state)
{
    (void)state;
    const char *doc = "{\"resourceType\":\"Patient\"," IDS(
        "9449305552") ","
                      "\"birthDate\":19840307,\"gender\":true,\"name\":{\"family\":\"Jones\"},"
                      "\"address\":[\"1 High St\",{\"line\":[\"2 High St\",42],"
                      "\"postalCode\":[\"LS1 5AB\"]}],\"telecom\":[{\"system\":\"phone\","
                      "\"value\":{\"v\":1}}],\"deceasedBoolean\":\"yes\",\"id\":\"bad id!\"}";
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_int_equal(problem_at("Patient.birthDate")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.gender")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.name")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.address[0]")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.address[1].line[1]")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.address[1].postalCode")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.telecom[0].value")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.deceasedBoolean")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(problem_at("Patient.id")->code, FHIR_ISSUE_VALUE);
    assert_null(P->id);
    /* what was right is kept */
    assert_string_equal(P->person.nhs_number, "9449305552");
    assert_int_equal(P->person.n_addresses, 1);
    assert_int_equal(P->person.addresses[0]->n_lines, 1);
    assert_string_equal(P->person.addresses[0]->lines[0], "2 High St");
    assert_string_equal(P->person.birth_date, "");
    assert_int_equal(P->person.n_telecom, 0);
}

static void test_dates_and_codes(void **state)
{
    (void)state;
    const char *doc = "{\"resourceType\":\"Patient\"," IDS(
        "9449305552") ","
                      "\"birthDate\":\"1984-03\",\"gender\":\"F\",\"deceasedDateTime\":\"2023-02-"
                      "29\","
                      "\"name\":[{\"use\":\"legal\",\"family\":\"Jones\",\"given\":[\"Zo\\u00eb\"]}"
                      "],"
                      "\"address\":[{\"postalCode\":\"Q1 1AA\",\"city\":\"Leeds\"},"
                      "{\"line\":[\"1 Rue de "
                      "Rivoli\"],\"postalCode\":\"75001\",\"country\":\"FR\"}]}";
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_non_null(strstr(problem_at("Patient.birthDate")->reason, "whole date"));
    assert_string_equal(problem_at("Patient.gender")->person_field, "sex");
    assert_string_equal(problem_at("Patient.deceasedDateTime")->person_field, "death_date");
    assert_null(problem_at("Patient.name[0].use")->person_field);
    assert_string_equal(problem_at("Patient.address[0].postalCode")->person_field,
                        "address.postcode");
    assert_string_equal(P->person.name->family, "Jones");
    assert_string_equal(P->person.name->use, "");
    assert_string_equal(P->person.name->given[0], "Zoë");
    assert_int_equal(P->person.n_addresses, 2);
    assert_string_equal(P->person.addresses[0]->town, "Leeds");
    assert_string_equal(P->person.addresses[0]->postcode, "");
    /* a foreign postcode is kept as a line, with its country */
    assert_int_equal(P->person.addresses[1]->n_lines, 3);
    assert_string_equal(P->person.addresses[1]->lines[1], "75001");
    assert_string_equal(P->person.addresses[1]->lines[2], "FR");
    /* born in the future, died before birth */
    doc = "{\"resourceType\":\"Patient\"," IDS(
        "9449305552") ","
                      "\"birthDate\":\"1990-01-01\",\"deceasedDateTime\":\"1989-12-31\"}";
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_string_equal(P->person.birth_date, "1990-01-01");
    problem_at("Patient.deceasedDateTime");
    doc = "{\"resourceType\":\"Patient\"," IDS("9449305552") ",\"birthDate\":\"2030-01-01\","
                                                             "\"deceasedBoolean\":true}";
    assert_int_equal(rd(doc), FHIR_READ_OK);
    problem_at("Patient.birthDate");
    assert_int_equal(problem_at("Patient.deceasedBoolean")->code, FHIR_ISSUE_NOT_SUPPORTED);
}

static void test_control_characters_and_long_text(void **state)
{
    (void)state;
    char *doc = malloc(8192);
    assert_non_null(doc);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    (void)snprintf(
        doc, 8192,
        "{\"resourceType\":\"Patient\"," IDS(
            "9449305552") ","
                          "\"name\":[{\"family\":\"Jo\\u0007nes\",\"given\":[\"%s\",\"Ann\"]}]}",
        big);
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_string_equal(problem_at("Patient.name[0].family")->person_field, "name.family");
    assert_int_equal(problem_at("Patient.name[0].given[0]")->code, FHIR_ISSUE_TOO_LONG);
    assert_int_equal(P->person.name->n_given, 1);
    assert_string_equal(P->person.name->given[0], "Ann");
    free(doc);
}

/* Nesting deeper than anyone writes: jansson stops it, or it is simply not where a value is. */
static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *doc = malloc(2 * depth + 256);
    assert_non_null(doc);
    memset(doc, '[', depth);
    memset(doc + depth, ']', depth);
    doc[2 * depth] = '\0';
    assert_int_equal(rd(doc), FHIR_READ_UNREADABLE);
    int n = snprintf(doc, 1024, "{\"resourceType\":\"Patient\"," IDS("9449305552") ",\"name\":");
    memset(doc + n, '[', 1000);
    memset(doc + n + 1000, ']', 1000);
    (void)snprintf(doc + n + 2000, 64, ",\"gender\":\"male\"}");
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_int_equal(problem_at("Patient.name[0]")->code, FHIR_ISSUE_STRUCTURE);
    assert_int_equal(P->person.sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE);
    free(doc);
}

/* Thirty thousand identifiers: the first FHIR_MAX_ITEMS are read, the rest reported. */
static void test_huge_arrays(void **state)
{
    (void)state;
    size_t n = 30000, cap = n * 24 + 4096;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t k = (size_t)snprintf(doc, cap,
                                "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"" LOCAL
                                "\",\"value\":\"RR8123456\"}");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(doc + k, cap - k, ",{\"value\":\"%zu\"}", i);
    k += (size_t)snprintf(doc + k, cap - k, "],\"name\":[{\"family\":\"Jones\",\"given\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(doc + k, cap - k, "%s\"G\"", i ? "," : "");
    (void)snprintf(doc + k, cap - k, "]}]}");
    assert_true(strlen(doc) < FHIR_MAX_BYTES);
    assert_int_equal(rd(doc), FHIR_READ_OK);
    assert_string_equal(P->local_id, "RR8123456");
    assert_int_equal(problem_at("Patient.identifier")->code, FHIR_ISSUE_TOO_LONG);
    assert_int_equal(problem_at("Patient.name[0].given")->severity, FHIR_WARNING);
    assert_int_equal(P->person.name->n_given, FHIR_MAX_GIVEN);
    free(doc);
    /* and a document over the limit is not parsed at all */
    doc = malloc(FHIR_MAX_BYTES + 2);
    assert_non_null(doc);
    memset(doc, ' ', FHIR_MAX_BYTES + 1);
    memcpy(doc, "{\"resourceType\":\"Patient\"}", 26);
    doc[FHIR_MAX_BYTES + 1] = '\0';
    assert_int_equal(rd(doc), FHIR_READ_UNREADABLE);
    assert_int_equal(P->problems[0].code, FHIR_ISSUE_TOO_LONG);
    free(doc);
}

/* Hundreds of refusals: the first FHIR_MAX_PROBLEMS listed, the rest counted. */
static void test_many_problems(void **state)
{
    (void)state;
    char doc[8192];
    size_t k = (size_t)snprintf(doc, sizeof doc,
                                "{\"resourceType\":\"Patient\"," IDS("9449305552") ","
                                                                                   "\"telecom\":[");
    for (int i = 0; i < 40; i++)
        k += (size_t)snprintf(doc + k, sizeof doc - k, "%s{\"system\":1,\"use\":2}", i ? "," : "");
    (void)snprintf(doc + k, sizeof doc - k, "]}");
    assert_int_equal(rd(doc), FHIR_READ_OK);
    /* "only the first 32 of 40 read", then 32 refusals: 33, one too many to list */
    assert_int_equal(P->n_problems, FHIR_MAX_PROBLEMS);
    assert_int_equal(P->problems_lost, 1);
    assert_string_equal(P->problems[0].location, "Patient.telecom");
    assert_string_equal(P->problems[FHIR_MAX_PROBLEMS - 1].location, "Patient.telecom[30].system");
}

/* Long values in many identifiers fill the Patient's text store: what does not fit is refused
 * and said so, and here that is the trust's id itself. */
static void test_text_store_full(void **state)
{
    (void)state;
    size_t cap = 80000;
    char *doc = malloc(cap), big[1001], filler[641];
    assert_non_null(doc);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memset(filler, 'y', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    /* 16 identifiers of 2006 bytes, then 647: 25 of the 32768 left, too few for the system */
    size_t k = (size_t)snprintf(doc, cap, "{\"resourceType\":\"Patient\",\"identifier\":[");
    for (int i = 0; i < 16; i++)
        k += (size_t)snprintf(doc + k, cap - k, "{\"system\":\"urn:%s\",\"value\":\"%s\"},", big,
                              big);
    k += (size_t)snprintf(doc + k, cap - k, "{\"system\":\"urn:x\",\"value\":\"%s\"},", filler);
    (void)snprintf(doc + k, cap - k, "{\"system\":\"" LOCAL "\",\"value\":\"RR8123456\"}]}");
    assert_int_equal(rd(doc), FHIR_READ_INVALID);
    assert_non_null(strstr(problem_at("Patient.identifier[17].system")->reason, "more text"));
    assert_int_equal(P->person.n_identifiers, FHIR_MAX_IDS);
    free(doc);
}

/* Writing ------------------------------------------------------------------------------------ */

static const char *const GOLDEN_JSON =
    "{\"resourceType\":\"Patient\",\"id\":\"P01HZX\",\"meta\":{\"versionId\":\"7\","
    "\"lastUpdated\":\"2024-03-01T09:30:00Z\",\"profile\":["
    "\"https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient\"]},"
    "\"identifier\":[{\"extension\":[{\"url\":\"https://fhir.hl7.org.uk/StructureDefinition/"
    "Extension-UKCore-NHSNumberVerificationStatus\",\"valueCodeableConcept\":{\"coding\":[{"
    "\"system\":\"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland\","
    "\"code\":\"01\",\"display\":\"Number present and verified\"}]}}],"
    "\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9449305552\"},"
    "{\"system\":\"" LOCAL "\",\"value\":\"RR8123456\"}],"
    "\"name\":[{\"use\":\"official\",\"family\":\"O'Brien\",\"given\":[\"Siân\",\"Zoë\"],"
    "\"prefix\":[\"Ms\"]},{\"use\":\"maiden\",\"family\":\"Byrne\",\"given\":[\"Siân\"]}],"
    "\"telecom\":[{\"system\":\"phone\",\"value\":\"0113 496 0000\",\"use\":\"home\"},"
    "{\"system\":\"email\",\"value\":\"sian@example.org\"}],"
    "\"gender\":\"female\",\"birthDate\":\"1984-02-29\",\"deceasedDateTime\":\"2024-05-01\","
    "\"address\":[{\"use\":\"home\",\"line\":[\"Flat 2\",\"12 Park Row\"],\"city\":\"Leeds\","
    "\"district\":\"West Yorkshire\",\"postalCode\":\"LS1 5AB\"}],"
    "\"generalPractitioner\":[{\"identifier\":{\"system\":"
    "\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"B86001\"}}]}";

static const fhir_view_t VIEW = {.master_id = "P01HZX",
                                 .version = 7,
                                 .local_id = "RR8123456",
                                 .local_system = LOCAL,
                                 .last_updated = "2024-03-01T09:30:00Z"};

static void test_write_exact_and_round_trip(void **state)
{
    (void)state;
    /* the Person read from the trust's document, less its fax, written as the golden record */
    assert_int_equal(rd(patient("9449305552")), FHIR_READ_OK);
    size_t len;
    char err[128];
    assert_int_equal(fhir_patient_write(&P->person, &VIEW, OUT, sizeof OUT, &len, err, sizeof err),
                     0);
    assert_string_equal(OUT, GOLDEN_JSON);
    assert_int_equal(len, strlen(OUT));
    /* read again: the same Person, field for field (the official name now comes first) */
    Joinery__V1__Person *a = &P->person;
    size_t na = joinery__v1__person__get_packed_size(a);
    uint8_t *wa = malloc(na);
    assert_non_null(wa);
    assert_int_equal(joinery__v1__person__pack(a, wa), na);
    assert_int_equal(rd(OUT), FHIR_READ_OK);
    assert_int_equal(P->n_problems, 0);
    assert_string_equal(P->id, "P01HZX");
    assert_string_equal(P->local_id, "RR8123456");
    size_t nb = joinery__v1__person__get_packed_size(&P->person);
    uint8_t *wb = malloc(nb);
    assert_non_null(wb);
    assert_int_equal(joinery__v1__person__pack(&P->person, wb), nb);
    assert_int_equal(na, nb);
    assert_memory_equal(wa, wb, na);
    free(wa);
    free(wb);
}

static void test_write_minimal_and_refusals(void **state)
{
    (void)state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    fhir_view_t v = {.master_id = "P01A", .version = 1};
    size_t len;
    char err[128];
    assert_int_equal(fhir_patient_write(&p, &v, OUT, sizeof OUT, &len, err, sizeof err), 0);
    assert_string_equal(OUT,
                        "{\"resourceType\":\"Patient\",\"id\":\"P01A\",\"meta\":{\"versionId\":"
                        "\"1\",\"profile\":[\"" FHIR_UKCORE_PATIENT "\"]}}");
    char small[40];
    assert_int_equal(fhir_patient_write(&p, &v, small, sizeof small, &len, err, sizeof err), -1);
    assert_string_equal(small, "");
    assert_non_null(strstr(err, "does not fit"));
    p.birth_date = "1984-\xff";
    assert_int_equal(fhir_patient_write(&p, &v, OUT, sizeof OUT, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "UTF-8"));
    v.master_id = NULL;
    assert_int_equal(fhir_patient_write(&p, &v, OUT, sizeof OUT, &len, err, sizeof err), -1);
}

static void test_operation_outcome(void **state)
{
    (void)state;
    assert_int_equal(rd(patient("9449305553")), FHIR_READ_OK);
    size_t len;
    assert_int_equal(fhir_outcome_write(P->problems, P->n_problems, OUT, sizeof OUT, &len), 0);
    json_error_t e;
    json_t *root = json_loads(OUT, 0, &e);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "resourceType")),
                        "OperationOutcome");
    json_t *issues = json_object_get(root, "issue");
    assert_int_equal(json_array_size(issues), P->n_problems);
    json_t *first = json_array_get(issues, 0);
    assert_string_equal(json_string_value(json_object_get(first, "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(first, "code")), "value");
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "expression"), 0)),
                        "Patient.identifier[0].value");
    json_decref(root);

    fhir_problem_t one = {.severity = FHIR_ERROR, .code = FHIR_ISSUE_NOT_FOUND};
    (void)snprintf(one.reason, sizeof one.reason, "no Patient \"P01X\"");
    assert_int_equal(fhir_outcome_write(&one, 1, OUT, sizeof OUT, &len), 0);
    assert_string_equal(OUT, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":"
                             "\"error\",\"code\":\"not-found\",\"diagnostics\":"
                             "\"no Patient \\\"P01X\\\"\"}]}");
    assert_int_equal(fhir_outcome_write(NULL, 0, OUT, sizeof OUT, &len), 0);
    assert_non_null(strstr(OUT, "\"informational\""));
    char small[16];
    assert_int_equal(fhir_outcome_write(&one, 1, small, sizeof small, &len), -1);
}

static void test_capability_statement(void **state)
{
    (void)state;
    fhir_capability_t c = {.date = "2024-06-01",
                           .version = "1.4.0",
                           .base_url = "https://joinery.example/fhir",
                           .local_system = LOCAL};
    size_t len;
    assert_int_equal(fhir_capability_write(&c, OUT, sizeof OUT, &len), 0);
    json_error_t e;
    json_t *root = json_loads(OUT, 0, &e);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "resourceType")),
                        "CapabilityStatement");
    assert_string_equal(json_string_value(json_object_get(root, "fhirVersion")), "4.0.1");
    assert_string_equal(json_string_value(json_object_get(root, "kind")), "instance");
    assert_string_equal(json_string_value(json_array_get(json_object_get(root, "format"), 1)),
                        "json");
    json_t *res = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "rest"), 0), "resource"), 0);
    assert_string_equal(json_string_value(json_object_get(res, "type")), "Patient");
    assert_string_equal(json_string_value(json_object_get(res, "profile")), FHIR_UKCORE_PATIENT);
    const char *want[] = {"read", "search-type", "create", "update"};
    json_t *inter = json_object_get(res, "interaction");
    assert_int_equal(json_array_size(inter), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(inter, i), "code")),
                            want[i]);
    json_t *sp = json_array_get(json_object_get(res, "searchParam"), 0);
    assert_string_equal(json_string_value(json_object_get(sp, "name")), "identifier");
    assert_string_equal(json_string_value(json_object_get(sp, "type")), "token");
    assert_non_null(strstr(json_string_value(json_object_get(sp, "documentation")), LOCAL));
    json_decref(root);
    c.date = NULL;
    assert_int_equal(fhir_capability_write(&c, OUT, sizeof OUT, &len), -1);
}

static void test_search_token(void **state)
{
    (void)state;
    char nhs[11];
    fhir_problem_t why;
    assert_int_equal(
        fhir_search_nhs_number("https://fhir.nhs.uk/Id/nhs-number|9449305552", nhs, &why), 0);
    assert_string_equal(nhs, "9449305552");
    assert_int_equal(
        fhir_search_nhs_number("https://fhir.nhs.uk/Id/nhs-number|9449305553", nhs, &why), -1);
    assert_string_equal(why.location, "identifier");
    assert_non_null(strstr(why.reason, "check digit"));
    assert_int_equal(fhir_search_nhs_number(LOCAL "|RR8123456", nhs, &why), -1);
    assert_non_null(strstr(why.reason, "nhs-number|"));
    assert_int_equal(fhir_search_nhs_number("9449305552", nhs, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_uk_core_patient),
        cmocka_unit_test(test_invalid_nhs_number_refused_alone),
        cmocka_unit_test(test_verification_status),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_no_identity),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_dates_and_codes),
        cmocka_unit_test(test_control_characters_and_long_text),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_arrays),
        cmocka_unit_test(test_many_problems),
        cmocka_unit_test(test_text_store_full),
        cmocka_unit_test(test_write_exact_and_round_trip),
        cmocka_unit_test(test_write_minimal_and_refusals),
        cmocka_unit_test(test_operation_outcome),
        cmocka_unit_test(test_capability_statement),
        cmocka_unit_test(test_search_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
