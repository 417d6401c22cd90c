/* test_entity.c - cmocka tests for golden addresses and cases (hub/master/entity.c).
 *
 * Most tests use a capturing sink (no database). The person engine runs
 * beside it, as in the hub, so that a case can name its person by the
 * sender's own id. The last test writes the rows into a real PostgreSQL
 * (JOINERY_NEEDS_PG) and loads them back with entity_load.
 *
 * Configuration: socialcare owns an address's lines, town and postcode, and a
 * case's person, status and team; a case's lead_worker is socialcare's too,
 * with on_conflict: propose. crm and socialcare subscribe to addresses and
 * cases, agresso only to case.changed, health to persons only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include "base/config.h"
#include "master/entity.h"
#include "master/master.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "support_sink.h"
#include "testdb.h"

/* JOINERY_NEEDS_PG: the last test uses the ctest "pg" fixture. */

#define WHY_LEN 512
#define T0 1717200000000000LL /* 2024-06-01 */

typedef struct {
    char dir[256];
    config_t *cfg;
    master_t *m;
    entity_t *e;
    capture_t cap;
    master_sink_t sink;
    master_result_t res;
    char why[WHY_LEN];
    unsigned next_person;
    int64_t clock;
    unsigned next_event;
} fixture_t;

static const char CONFIG_TEXT[] = "security: {curve: false}\n"
                                  "adapters:\n"
                                  "  - name: health\n"
                                  "    subscribe: [\"person.*\"]\n"
                                  "  - name: socialcare\n"
                                  "    subscribe: [\"person.*\", \"address.*\", \"case.*\"]\n"
                                  "  - name: crm\n"
                                  "    subscribe: [\"person.*\", \"address.*\", \"case.*\"]\n"
                                  "  - name: agresso\n"
                                  "    subscribe: [\"case.changed\"]\n"
                                  "  - name: steward\n"
                                  "master_data:\n"
                                  "  person:\n"
                                  "    fields:\n"
                                  "      nhs_number: {owner: health}\n"
                                  "  address:\n"
                                  "    fields:\n"
                                  "      lines:    {owner: socialcare}\n"
                                  "      town:     {owner: socialcare}\n"
                                  "      postcode: {owner: socialcare}\n"
                                  "    survivorship: [socialcare, crm]\n"
                                  "  case:\n"
                                  "    fields:\n"
                                  "      person:      {owner: socialcare}\n"
                                  "      status:      {owner: socialcare}\n"
                                  "      team:        {owner: socialcare}\n"
                                  "      lead_worker: {owner: socialcare, on_conflict: propose}\n";

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg = fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-entity-XXXXXX", CONFIG_TEXT);
    char err[512] = "";
    fx->m = master_new(fx->cfg, err, sizeof err);
    fx->e = entity_new(fx->cfg, err, sizeof err);
    if (fx->m == NULL || fx->e == NULL)
        fail_msg("new: %s", err);
    master_set_id_generator(fx->m, fixture_counter_ids, &fx->next_person);
    fx->sink = sink_capture(&fx->cap);
    fx->clock = T0;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    sink_free(&fx->cap);
    master_destroy(&fx->m);
    entity_destroy(&fx->e);
    config_destroy(&fx->cfg);
    fixture_remove_dir(fx->dir);
    free(fx);
    return 0;
}

/* Events ------------------------------------------------------------------------ */

typedef struct {
    const char *type, *source, *local_id, *master_id;
    uint64_t base_version;
} evspec_t;

static int apply_msg(fixture_t *fx, const evspec_t *s, const char *payload_type,
                     const uint8_t *payload, size_t len)
{
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++fx->next_event);
    fx->clock += 1000000;
    master_event_t ev = {.source = s->source,
                         .event_id = event_id,
                         .type = s->type,
                         .local_id = s->local_id,
                         .master_id = s->master_id,
                         .base_version = s->base_version,
                         .occurred_at_us = fx->clock,
                         .received_at_us = fx->clock,
                         .payload_type = payload_type,
                         .payload = payload,
                         .payload_len = len};
    sink_clear(&fx->cap);
    if (strncmp(s->type, "address.", 8) == 0 || strncmp(s->type, "case.", 5) == 0)
        return entity_apply(fx->e, fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
    return master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
}

static int apply_pb(fixture_t *fx, const evspec_t *s, const ProtobufCMessage *msg)
{
    uint8_t buf[4096];
    assert_true(protobuf_c_message_get_packed_size(msg) <= sizeof buf);
    size_t len = protobuf_c_message_pack(msg, buf);
    return apply_msg(fx, s, msg->descriptor->name, buf, len);
}

static void person(fixture_t *fx, const char *source, const char *local_id, const char *nhs,
                   const char *family)
{
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[1] = {"Mary"};
    name.n_given = 1;
    name.given = given;
    name.family = (char *)family;
    p.name = &name;
    p.nhs_number = (char *)nhs;
    p.birth_date = "1950-02-03";
    evspec_t s = {"person.updated", source, local_id, NULL, 0};
    assert_int_equal(apply_pb(fx, &s, (const ProtobufCMessage *)&p), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
}

typedef struct {
    const char *uprn, *line1, *town, *district, *postcode;
} aspec_t;

static int address(fixture_t *fx, const char *source, const char *local_id, const aspec_t *a)
{
    Joinery__V1__Address pb = JOINERY__V1__ADDRESS__INIT;
    char *lines[1] = {(char *)a->line1};
    if (a->line1) {
        pb.n_lines = 1;
        pb.lines = lines;
    }
    pb.uprn = (char *)a->uprn;
    pb.town = (char *)a->town;
    pb.district = (char *)a->district;
    pb.postcode = (char *)a->postcode;
    evspec_t s = {"address.updated", source, local_id, NULL, 0};
    return apply_pb(fx, &s, (const ProtobufCMessage *)&pb);
}

typedef struct {
    const char *person_local, *person_master, *opened, *team, *lead, *closure_reason;
    int status;
    const char *master_id; /* envelope's */
    uint64_t base_version;
} cspec_t;

static int kase(fixture_t *fx, const char *source, const char *type, const char *local_id,
                const cspec_t *k)
{
    Joinery__V1__Case pb = JOINERY__V1__CASE__INIT;
    pb.person_local_id = (char *)k->person_local;
    pb.person_master_id = (char *)k->person_master;
    pb.status = (Joinery__V1__CaseStatus)k->status;
    pb.opened_on = (char *)k->opened;
    pb.team = (char *)k->team;
    pb.lead_worker = (char *)k->lead;
    pb.closure_reason = (char *)k->closure_reason;
    evspec_t s = {type, source, local_id, k->master_id, k->base_version};
    return apply_pb(fx, &s, (const ProtobufCMessage *)&pb);
}

static void assert_refused(fixture_t *fx, const char *why_part)
{
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    if (strstr(fx->why, why_part) == NULL)
        fail_msg("reason '%s' does not mention '%s'", fx->why, why_part);
    assert_int_equal(fx->cap.nemits, 0);
    assert_int_equal(fx->cap.nstmts, 0);
}

static const aspec_t FLAT_SC = {"10023336956", "Flat 2,  14  Park Row", "leeds", NULL, "ls1 5ab"};

/* Addresses ------------------------------------------------------------------------ */

static void test_address_by_uprn_from_two_systems_is_one_golden_address(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(address(fx, "socialcare", "SA-1", &FLAT_SC), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    assert_int_equal(id[0], 'A');
    assert_int_equal(strlen(id), 27);
    assert_int_equal(fx->res.version, 1);
    assert_int_equal(fx->res.changed, 3);
    assert_string_equal(entity_value(fx->e, id, "town", NULL), "LEEDS");
    assert_string_equal(entity_value(fx->e, id, "postcode", NULL), "LS1 5AB");
    assert_string_equal(entity_value(fx->e, id, "lines", NULL), "Flat 2, 14 Park Row");
    /* crm hears of it in no id of its own: it has none yet. */
    const emitted_t *ch = sink_find_emit(&fx->cap, "address.changed", "crm");
    assert_non_null(ch);
    assert_null(sink_find_emit(&fx->cap, "address.changed", "socialcare"));
    assert_null(sink_find_emit(&fx->cap, "address.changed", "health"));
    Joinery__V1__AddressChanged *ac =
        joinery__v1__address_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(ac);
    assert_string_equal(ac->master_id, id);
    assert_string_equal(ac->local_id, "");
    assert_string_equal(ac->address->uprn, "10023336956");
    assert_string_equal(ac->address->postcode, "LS1 5AB");
    joinery__v1__address_changed__free_unpacked(ac, NULL);

    /* The same property from crm, written with leading zeros: the same record. */
    aspec_t crm = {"010023336956", NULL, NULL, "West Yorkshire", NULL};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &crm), 0);
    assert_string_equal(fx->res.master_id, id);
    assert_int_equal(fx->res.version, 2);
    assert_int_equal(entity_count(fx->e, ENTITY_ADDRESS), 1);
    char got[MASTER_ID_MAX];
    assert_non_null(entity_lookup(fx->e, ENTITY_ADDRESS, "socialcare", "SA-1", got));
    assert_string_equal(got, id);
    assert_non_null(entity_lookup(fx->e, ENTITY_ADDRESS, "crm", "CRM-ADDR-9", got));
    assert_string_equal(got, id);
    assert_null(entity_lookup(fx->e, ENTITY_ADDRESS, "crm", "SA-1", got));
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO address_xref", 0);
    assert_non_null(x);
    assert_string_equal(x->params[0], "crm");
    assert_string_equal(x->params[1], "CRM-ADDR-9");
    assert_string_equal(x->params[2], id);
    /* socialcare now hears the district, in its own id. */
    ch = sink_find_emit(&fx->cap, "address.changed", "socialcare");
    assert_non_null(ch);
    assert_string_equal(ch->local_id, "SA-1");
    const stmt_t *audit = sink_find_sql(&fx->cap, "INSERT INTO master_audit", 0);
    assert_non_null(audit);
    assert_string_equal(audit->params[4], "link");
}

static void test_address_without_or_with_invalid_uprn_is_refused(void **state)
{
    fixture_t *fx = *state;
    aspec_t none = {NULL, "1 High St", "Leeds", NULL, "LS1 5AB"};
    assert_int_equal(address(fx, "crm", "C-A1", &none), 0);
    assert_refused(fx, "needs address.uprn");
    aspec_t letters = {"12AB", "1 High St", "Leeds", NULL, "LS1 5AB"};
    assert_int_equal(address(fx, "crm", "C-A1", &letters), 0);
    assert_refused(fx, "address.uprn is not valid");
    aspec_t zero = {"000000000000", NULL, NULL, NULL, NULL};
    assert_int_equal(address(fx, "crm", "C-A1", &zero), 0);
    assert_refused(fx, "address.uprn is not valid");
    aspec_t postcode = {"10023336956", NULL, NULL, NULL, "NOT A CODE"};
    assert_int_equal(address(fx, "crm", "C-A1", &postcode), 0);
    assert_refused(fx, "address.postcode is not valid");
    aspec_t control = {"10023336956", "1 High St", "Leeds\x01", NULL, NULL};
    assert_int_equal(address(fx, "crm", "C-A1", &control), 0);
    assert_refused(fx, "address.town is not clean UTF-8");
    aspec_t overlong = {"10023336956", "1 High St\xc0\xaf", NULL, NULL, NULL};
    assert_int_equal(address(fx, "crm", "C-A1", &overlong), 0);
    assert_refused(fx, "address.lines is not clean UTF-8");
    /* Undecodable bytes, and a payload of the wrong type. */
    evspec_t s = {"address.updated", "crm", "C-A1", NULL, 0};
    const uint8_t junk[] = {0x0a, 0xff, 0x01};
    assert_int_equal(apply_msg(fx, &s, "joinery.v1.Address", junk, sizeof junk), 0);
    assert_refused(fx, "does not decode");
    assert_int_equal(apply_msg(fx, &s, "joinery.v1.Person", junk, 0), 0);
    assert_refused(fx, "must carry a joinery.v1.Address payload");
    assert_int_equal(entity_count(fx->e, ENTITY_ADDRESS), 0);
    assert_null(entity_lookup(fx->e, ENTITY_ADDRESS, "crm", "C-A1", NULL));
}

static void test_address_non_owner_change_is_refused_for_that_field_and_corrected(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(address(fx, "socialcare", "SA-1", &FLAT_SC), 0);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    aspec_t crm = {"10023336956", NULL, NULL, "West Yorkshire", "LS2 7UE"};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &crm), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_int_equal(fx->res.changed, 1);
    assert_int_equal(fx->res.refused, 1);
    assert_string_equal(entity_value(fx->e, id, "postcode", NULL), "LS1 5AB");
    const char *src = NULL;
    assert_string_equal(entity_value(fx->e, id, "district", &src), "West Yorkshire");
    assert_string_equal(src, "crm");
    const emitted_t *corr = sink_find_emit(&fx->cap, "address.correction", "crm");
    assert_non_null(corr);
    assert_string_equal(corr->payload_type, "joinery.v1.FieldCorrection");
    Joinery__V1__FieldCorrection *fc =
        joinery__v1__field_correction__unpack(NULL, corr->len, corr->payload);
    assert_non_null(fc);
    assert_string_equal(fc->field, "postcode");
    assert_string_equal(fc->owner, "socialcare");
    assert_string_equal(fc->refused_value, "LS2 7UE");
    assert_string_equal(fc->current_value, "LS1 5AB");
    assert_string_equal(fc->local_id, "CRM-ADDR-9");
    assert_string_equal(fc->master_id, id);
    joinery__v1__field_correction__free_unpacked(fc, NULL);
    /* The owner hears only what changed. */
    assert_null(sink_find_emit(&fx->cap, "address.correction", "socialcare"));
    const emitted_t *ch = sink_find_emit(&fx->cap, "address.changed", "socialcare");
    assert_non_null(ch);
    Joinery__V1__AddressChanged *ac =
        joinery__v1__address_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(ac);
    assert_int_equal(ac->n_changed_fields, 1);
    assert_string_equal(ac->changed_fields[0], "district");
    assert_string_equal(ac->address->postcode, "");
    assert_int_equal(ac->version, 2);
    joinery__v1__address_changed__free_unpacked(ac, NULL);
    /* History: old and new value, who, which event. */
    const stmt_t *h = sink_find_sql(&fx->cap, "INSERT INTO golden_address_history", 0);
    assert_non_null(h);
    assert_string_equal(h->params[1], "2");
    assert_string_equal(h->params[2], "crm");
    assert_string_equal(h->params[3], "E0002");
    assert_string_equal(h->params[5], "{\"district\":{\"n\":\"West Yorkshire\"}}");
    const stmt_t *refuse = sink_find_sql(&fx->cap, "INSERT INTO master_audit", 1);
    assert_non_null(refuse);
    assert_string_equal(refuse->params[4], "refuse");
    assert_non_null(strstr(refuse->params[5], "\"field\": \"postcode\""));
    assert_null(strstr(refuse->params[5], "LS2")); /* audit names fields, never values */
}

/* While the owner has given no value anyone's is taken; then the owner's stands. Fields
 * without an owner follow survivorship: [socialcare, crm], then the more recent. */
static void test_address_survivorship_and_the_owners_first_value(void **state)
{
    fixture_t *fx = *state;
    aspec_t crm = {"10023336956", NULL, NULL, "Leeds District", "LS2 7UE"};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &crm), 0);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    const char *src = NULL;
    assert_string_equal(entity_value(fx->e, id, "postcode", &src), "LS2 7UE");
    assert_string_equal(src, "crm");
    /* The owner's value replaces it, and crm hears of it. */
    aspec_t sc = {"10023336956", NULL, NULL, "West Yorkshire", "LS1 5AB"};
    assert_int_equal(address(fx, "socialcare", "SA-1", &sc), 0);
    assert_int_equal(fx->res.changed, 2);
    assert_string_equal(entity_value(fx->e, id, "postcode", &src), "LS1 5AB");
    assert_string_equal(src, "socialcare");
    assert_string_equal(entity_value(fx->e, id, "district", &src), "West Yorkshire");
    assert_non_null(sink_find_emit(&fx->cap, "address.changed", "crm"));
    /* crm ranks below socialcare for district: not taken, nobody told. */
    aspec_t crm2 = {"10023336956", NULL, NULL, "Elsewhere", NULL};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &crm2), 0);
    assert_int_equal(fx->res.changed, 0);
    assert_int_equal(fx->res.refused, 0);
    assert_int_equal(fx->res.version, 2);
    assert_int_equal(fx->cap.nemits, 0);
    assert_null(sink_find_sql(&fx->cap, "INSERT INTO golden_address", 0));
    assert_string_equal(entity_value(fx->e, id, "district", NULL), "West Yorkshire");
    /* socialcare's own newer value is. */
    aspec_t sc2 = {"10023336956", NULL, NULL, "W. Yorks", NULL};
    assert_int_equal(address(fx, "socialcare", "SA-1", &sc2), 0);
    assert_int_equal(fx->res.changed, 1);
    assert_int_equal(fx->res.version, 3);
    assert_string_equal(entity_value(fx->e, id, "district", NULL), "W. Yorks");
}

/* Cases ------------------------------------------------------------------------------- */

/* Mary: socialcare S1 and crm C1 share an NHS number, so one golden person. */
static void mary(fixture_t *fx)
{
    person(fx, "socialcare", "S1", "9434765919", "Smith");
    person(fx, "crm", "C1", "9434765919", "Smith");
    char pid[MASTER_ID_MAX];
    assert_non_null(master_lookup(fx->m, "crm", "C1", pid));
    assert_string_equal(pid, "P0001");
}

static const cspec_t CASE_SC = {.person_local = "S1",
                                .opened = "2024-05-30",
                                .team = "Hospital Discharge Team",
                                .lead = "J. Bloggs",
                                .status = JOINERY__V1__CASE_STATUS__CASE_OPEN};

static void test_case_from_socialcare_reaches_crm_in_crms_own_person_id(void **state)
{
    fixture_t *fx = *state;
    mary(fx);
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &CASE_SC), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    assert_int_equal(id[0], 'C');
    assert_int_equal(fx->res.version, 1);
    assert_string_equal(entity_value(fx->e, id, "person", NULL), "P0001");
    assert_string_equal(entity_value(fx->e, id, "status", NULL), "open");
    const emitted_t *ch = sink_find_emit(&fx->cap, "case.changed", "crm");
    assert_non_null(ch);
    assert_string_equal(ch->master_id, id);
    assert_string_equal(ch->payload_type, "joinery.v1.CaseChanged");
    Joinery__V1__CaseChanged *cc = joinery__v1__case_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(cc);
    assert_string_equal(cc->master_id, id);
    assert_int_equal(cc->version, 1);
    assert_string_equal(cc->case_->person_local_id, "C1");
    assert_string_equal(cc->case_->person_master_id, "P0001");
    assert_string_equal(cc->case_->case_id, "");
    assert_int_equal(cc->case_->status, JOINERY__V1__CASE_STATUS__CASE_OPEN);
    assert_string_equal(cc->case_->team, "Hospital Discharge Team");
    assert_int_equal(cc->n_changed_fields, 5);
    joinery__v1__case_changed__free_unpacked(cc, NULL);
    /* agresso holds no id for Mary: it is told her master id only. */
    ch = sink_find_emit(&fx->cap, "case.changed", "agresso");
    assert_non_null(ch);
    cc = joinery__v1__case_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(cc);
    assert_string_equal(cc->case_->person_local_id, "");
    assert_string_equal(cc->case_->person_master_id, "P0001");
    joinery__v1__case_changed__free_unpacked(cc, NULL);
    assert_null(sink_find_emit(&fx->cap, "case.changed", "socialcare"));
    assert_null(sink_find_emit(&fx->cap, "case.changed", "health"));
    const stmt_t *g = sink_find_sql(&fx->cap, "INSERT INTO golden_case ", 0);
    assert_non_null(g);
    assert_string_equal(g->params[1], "P0001");
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO case_xref", 0);
    assert_non_null(x);
    assert_string_equal(x->params[1], "CASE-1");
    const stmt_t *a = sink_find_sql(&fx->cap, "INSERT INTO master_audit", 0);
    assert_non_null(a);
    assert_string_equal(a->params[4], "create");
}

static void test_case_for_an_unknown_person_is_refused(void **state)
{
    fixture_t *fx = *state;
    mary(fx);
    cspec_t k = CASE_SC;
    k.person_local = "S999";
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &k), 0);
    assert_refused(fx, "'S999' is not a person socialcare has sent");
    /* crm's id for Mary is not socialcare's. */
    k.person_local = "C1";
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &k), 0);
    assert_refused(fx, "'C1' is not a person socialcare has sent");
    k.person_local = NULL;
    k.person_master = "P0099";
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &k), 0);
    assert_refused(fx, "'P0099' is not a golden person");
    k.person_master = NULL;
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &k), 0);
    assert_refused(fx, "needs the person it is about");
    assert_int_equal(kase(fx, "socialcare", "case.created", "", &CASE_SC), 0);
    assert_refused(fx, "needs source_record_id");
    k = CASE_SC;
    k.master_id = "C-NOT-A-CASE";
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-77", &k), 0);
    assert_refused(fx, "is not a golden case");
    assert_int_equal(entity_count(fx->e, ENTITY_CASE), 0);
}

static void test_case_by_person_master_id_follows_a_merge(void **state)
{
    fixture_t *fx = *state;
    mary(fx);
    person(fx, "health", "H7", "4010232137", "Jones"); /* P0002 */
    cspec_t before = CASE_SC;
    before.person_local = NULL;
    before.person_master = "P0002";
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-0", &before), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    char old_case[MASTER_ID_MAX];
    (void)snprintf(old_case, sizeof old_case, "%s", fx->res.master_id);
    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.master_id_a = "P0001";
    d.master_id_b = "P0002";
    evspec_t s = {"steward.merge", "steward", "", NULL, 0};
    assert_int_equal(apply_pb(fx, &s, (const ProtobufCMessage *)&d), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    /* The case made before the merge names P0002; crm, which does not own the
     * person field, naming its survivor P0001 names the same person: no refusal. */
    cspec_t same = {.person_master = "P0001", .master_id = old_case, .team = NULL};
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-0", &same), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_int_equal(fx->res.refused, 0);
    assert_null(sink_find_emit(&fx->cap, "case.correction", "crm"));
    /* and what others hear names the survivor */
    same.person_master = NULL;
    same.master_id = NULL;
    same.closure_reason = "merged records";
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-0", &same), 0);
    const emitted_t *ch = sink_find_emit(&fx->cap, "case.changed", "socialcare");
    assert_non_null(ch);
    Joinery__V1__CaseChanged *cc = joinery__v1__case_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(cc);
    assert_string_equal(cc->case_->person_master_id, "P0001");
    assert_string_equal(cc->case_->person_local_id, "S1");
    joinery__v1__case_changed__free_unpacked(cc, NULL);
    cspec_t k = CASE_SC;
    k.person_local = NULL;
    k.person_master = "P0002"; /* retired: the case is about the survivor */
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-2", &k), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_string_equal(entity_value(fx->e, fx->res.master_id, "person", NULL), "P0001");
    /* Both ids given and disagreeing: refused. */
    k.person_local = "S1";
    k.person_master = "P0001";
    assert_int_equal(kase(fx, "socialcare", "case.updated", "CASE-2", &k), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    person(fx, "health", "H8", "9876543210", "Brown"); /* P0003 */
    k.person_master = "P0003";
    assert_int_equal(kase(fx, "socialcare", "case.updated", "CASE-2", &k), 0);
    assert_refused(fx, "but person_master_id says P0003");
}

static void test_non_owner_case_change_is_refused_for_that_field_and_corrected(void **state)
{
    fixture_t *fx = *state;
    mary(fx);
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &CASE_SC), 0);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    /* crm learnt the master id from case.changed and sends its view of the case. */
    cspec_t k = {.master_id = id,
                 .status = JOINERY__V1__CASE_STATUS__CASE_CLOSED,
                 .closure_reason = "moved out of area",
                 .lead = "A. Other"};
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-77", &k), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_string_equal(fx->res.master_id, id);
    assert_int_equal(fx->res.version, 2);
    assert_int_equal(fx->res.changed, 1);
    assert_int_equal(fx->res.refused, 2);
    assert_string_equal(entity_value(fx->e, id, "status", NULL), "open");
    assert_string_equal(entity_value(fx->e, id, "closure_reason", NULL), "moved out of area");
    assert_string_equal(entity_value(fx->e, id, "lead_worker", NULL), "J. Bloggs");
    char got[MASTER_ID_MAX];
    assert_non_null(entity_lookup(fx->e, ENTITY_CASE, "crm", "CRM-77", got));
    assert_string_equal(got, id);
    /* status: corrected, to crm, with socialcare's value. */
    const emitted_t *corr = sink_find_emit(&fx->cap, "case.correction", "crm");
    assert_non_null(corr);
    Joinery__V1__FieldCorrection *fc =
        joinery__v1__field_correction__unpack(NULL, corr->len, corr->payload);
    assert_non_null(fc);
    assert_string_equal(fc->field, "status");
    assert_string_equal(fc->current_value, "open");
    assert_string_equal(fc->refused_value, "closed");
    assert_string_equal(fc->local_id, "CRM-77");
    assert_non_null(strstr(fc->reason, "owned by socialcare"));
    joinery__v1__field_correction__free_unpacked(fc, NULL);
    /* lead_worker: proposed to its owner, in the owner's own id for the case. */
    const emitted_t *prop = sink_find_emit(&fx->cap, "case.proposed", "socialcare");
    assert_non_null(prop);
    Joinery__V1__FieldProposal *fp =
        joinery__v1__field_proposal__unpack(NULL, prop->len, prop->payload);
    assert_non_null(fp);
    assert_string_equal(fp->field, "lead_worker");
    assert_string_equal(fp->local_id, "CASE-1");
    assert_string_equal(fp->proposed_value, "A. Other");
    assert_string_equal(fp->proposed_by, "crm");
    joinery__v1__field_proposal__free_unpacked(fp, NULL);
    /* socialcare hears of the closure reason in its ids. */
    const emitted_t *ch = sink_find_emit(&fx->cap, "case.changed", "socialcare");
    assert_non_null(ch);
    Joinery__V1__CaseChanged *cc = joinery__v1__case_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(cc);
    assert_string_equal(cc->local_id, "CASE-1");
    assert_string_equal(cc->case_->case_id, "CASE-1");
    assert_string_equal(cc->case_->person_local_id, "S1");
    assert_int_equal(cc->n_changed_fields, 1);
    assert_string_equal(cc->changed_fields[0], "closure_reason");
    assert_int_equal(cc->case_->status, JOINERY__V1__CASE_STATUS__CASE_STATUS_UNSPECIFIED);
    joinery__v1__case_changed__free_unpacked(cc, NULL);
    const stmt_t *h = sink_find_sql(&fx->cap, "INSERT INTO golden_case_history", 0);
    assert_non_null(h);
    assert_string_equal(h->params[1], "2");
    assert_string_equal(h->params[5], "{\"closure_reason\":{\"n\":\"moved out of area\"}}");
    assert_non_null(
        sink_find_sql(&fx->cap, "INSERT INTO master_audit", 2)); /* link, refuse, propose */

    /* The owner itself may change status; crm hears it in its ids. */
    cspec_t close = {.status = JOINERY__V1__CASE_STATUS__CASE_CLOSED};
    assert_int_equal(kase(fx, "socialcare", "case.updated", "CASE-1", &close), 0);
    assert_int_equal(fx->res.version, 3);
    ch = sink_find_emit(&fx->cap, "case.changed", "crm");
    assert_non_null(ch);
    cc = joinery__v1__case_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(cc);
    assert_string_equal(cc->local_id, "CRM-77");
    assert_string_equal(cc->case_->person_local_id, "C1");
    assert_int_equal(cc->case_->status, JOINERY__V1__CASE_STATUS__CASE_CLOSED);
    joinery__v1__case_changed__free_unpacked(cc, NULL);
    /* A stale base_version is refused with the current value. */
    cspec_t stale = {.closure_reason = "deceased", .base_version = 1};
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-77", &stale), 0);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.version, 3);
    corr = sink_find_emit(&fx->cap, "case.correction", "crm");
    assert_non_null(corr);
    fc = joinery__v1__field_correction__unpack(NULL, corr->len, corr->payload);
    assert_non_null(fc);
    assert_string_equal(fc->current_value, "moved out of area");
    assert_non_null(strstr(fc->reason, "after your base_version 1"));
    joinery__v1__field_correction__free_unpacked(fc, NULL);
}

/* A sink that fails at any call leaves the engine exactly as it was. */
static void test_a_failing_sink_changes_nothing(void **state)
{
    fixture_t *fx = *state;
    mary(fx);
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &CASE_SC), 0);
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    char *before = NULL;
    assert_int_equal(entity_dump(fx->e, &before, NULL), 0);
    for (int at = 1; at < 30; at++) {
        cspec_t k = {.master_id = id,
                     .status = JOINERY__V1__CASE_STATUS__CASE_CLOSED,
                     .closure_reason = "moved"};
        Joinery__V1__Case pb = JOINERY__V1__CASE__INIT;
        pb.status = (Joinery__V1__CaseStatus)k.status;
        pb.closure_reason = (char *)k.closure_reason;
        uint8_t buf[256];
        size_t len = joinery__v1__case__pack(&pb, buf);
        char event_id[16];
        (void)snprintf(event_id, sizeof event_id, "F%02d", at);
        master_event_t ev = {.source = "crm",
                             .event_id = event_id,
                             .type = "case.updated",
                             .local_id = "CRM-77",
                             .master_id = id,
                             .occurred_at_us = fx->clock,
                             .received_at_us = fx->clock,
                             .payload_type = "joinery.v1.Case",
                             .payload = buf,
                             .payload_len = len};
        sink_clear(&fx->cap);
        fx->cap.fail_at = at;
        int rc = entity_apply(fx->e, fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
        if (rc == 0) { /* fewer calls than AT: it went through */
            assert_true(at > 1);
            break;
        }
        char *after = NULL;
        assert_int_equal(entity_dump(fx->e, &after, NULL), 0);
        assert_string_equal(after, before);
        free(after);
    }
    free(before);
    assert_string_equal(entity_value(fx->e, id, "closure_reason", NULL), "moved");
}

/* With PostgreSQL: the rows written load back into the same state. */
static void test_rows_load_back_into_the_same_state(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    char *conninfo = testdb_fresh("test_entity_load", err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    PGconn *conn = testdb_connect(conninfo);
    free(conninfo);
    assert_non_null(conn);
    if (migrate_apply(conn, migrate_default_dir(), err, sizeof err) < 6)
        fail_msg("migrate_apply: %s", err);
    fx->cap.conn = conn;
    mary(fx);
    assert_int_equal(address(fx, "socialcare", "SA-1", &FLAT_SC), 0);
    aspec_t crm = {"10023336956", NULL, NULL, "West Yorkshire", "LS2 7UE"};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &crm), 0);
    assert_int_equal(kase(fx, "socialcare", "case.created", "CASE-1", &CASE_SC), 0);
    cspec_t k = {.master_id = fx->res.master_id, .closure_reason = "moved", .status = 3};
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", fx->res.master_id);
    k.master_id = id;
    assert_int_equal(kase(fx, "crm", "case.updated", "CRM-77", &k), 0);
    /* The UPRN moves: crm's local id now names another property. */
    aspec_t moved = {"10002", "1 New St", "Leeds", NULL, NULL};
    assert_int_equal(address(fx, "crm", "CRM-ADDR-9", &moved), 0);
    assert_int_equal(entity_count(fx->e, ENTITY_ADDRESS), 2);
    char first[MASTER_ID_MAX], now[MASTER_ID_MAX];
    assert_non_null(entity_lookup(fx->e, ENTITY_ADDRESS, "socialcare", "SA-1", first));
    assert_non_null(entity_lookup(fx->e, ENTITY_ADDRESS, "crm", "CRM-ADDR-9", now));
    assert_string_not_equal(first, now);
    assert_string_equal(entity_value(fx->e, now, "uprn", NULL), "10002");
    fx->cap.conn = NULL;

    entity_t *again = entity_new(fx->cfg, err, sizeof err);
    assert_non_null(again);
    if (entity_load(again, conn, err, sizeof err) != 0)
        fail_msg("entity_load: %s", err);
    char *a = NULL, *b = NULL;
    assert_int_equal(entity_dump(fx->e, &a, NULL), 0);
    assert_int_equal(entity_dump(again, &b, NULL), 0);
    assert_string_equal(b, a);
    assert_non_null(strstr(b, "address_xref crm CRM-ADDR-9"));
    assert_int_equal(entity_count(again, ENTITY_CASE), 1);
    free(a);
    free(b);
    /* A broken table stops the load, and the engine then refuses work. */
    PGresult *r = PQexec(conn, "UPDATE golden_case SET fields = '{\"nope\": 1}'");
    PQclear(r);
    assert_int_equal(entity_load(again, conn, err, sizeof err), -1);
    assert_int_equal(entity_count(again, ENTITY_CASE), 0);
    assert_int_equal(kase(fx, "socialcare", "case.updated", "CASE-1", &CASE_SC), 0);
    master_event_t ev = {.source = "socialcare", .type = "case.updated", .local_id = "X"};
    assert_int_equal(entity_apply(again, fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why),
                     -1);
    entity_destroy(&again);
    assert_null(again);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_address_by_uprn_from_two_systems_is_one_golden_address,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_without_or_with_invalid_uprn_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_address_non_owner_change_is_refused_for_that_field_and_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_survivorship_and_the_owners_first_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_case_from_socialcare_reaches_crm_in_crms_own_person_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_for_an_unknown_person_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_case_by_person_master_id_follows_a_merge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_non_owner_case_change_is_refused_for_that_field_and_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_sink_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_load_back_into_the_same_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
