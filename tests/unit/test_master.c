/* test_master.c - cmocka tests for the master-data engine (hub/master/master*.c)
 * with a capturing sink: no database. Each test names the behaviour it pins.
 *
 * The configuration is the one docs/master-data.md shows (socialcare owns
 * names and birth date, health owns the NHS number, crm owns contact details
 * and proposes address changes), loaded through config_load from a temporary
 * file so the master_data parser is exercised too. Master ids come from a
 * counter (P0001, P0002, ...) so tests can name records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include "base/config.h"
#include "master/master.h"
#include "match/match.h"
#include "support_fixture.h"
#include "support_sink.h"

#define WHY_LEN 512
#define T0 1717200000000000LL /* 2024-06-01, hub time of the first event */

/* Fixture -------------------------------------------------------------------- */

typedef struct {
    char dir[256];
    config_t *cfg;
    master_t *m;
    capture_t cap;
    master_sink_t sink;
    master_result_t res;
    char why[WHY_LEN];
    unsigned next_id;
    int64_t clock; /* hub time of the next event */
    unsigned next_event;
} fixture_t;

static const char CONFIG_TEXT[] =
    "security: {curve: false}\n"
    "adapters:\n"
    "  - name: health\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: socialcare\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: crm\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: agresso\n"
    "    subscribe: [\"person.changed\"]\n"
    "  - name: steward\n"
    "master_data:\n"
    "  person:\n"
    "    fields:\n"
    "      nhs_number:    {owner: health}\n"
    "      name.given:    {owner: socialcare, fallback: [health, crm]}\n"
    "      name.family:   {owner: socialcare, fallback: [health, crm]}\n"
    "      birth_date:    {owner: socialcare, fallback: [health]}\n"
    "      sex:           {owner: health}\n"
    "      death_date:    {owner: health}\n"
    "      address.home:  {owner: crm, on_conflict: propose}\n"
    "      telecom.phone: {owner: crm}\n"
    "      telecom.email: {owner: crm}\n"
    "    survivorship: [health, socialcare, crm, agresso]\n"
    "  matching:\n"
    "    upper: 32.0\n"
    "    lower: 16.0\n";

/* No master_data at all: no owners, trust in the order of the adapters. */
static const char PLAIN_CONFIG_TEXT[] = "security: {curve: false}\n"
                                        "adapters:\n"
                                        "  - name: health\n"
                                        "    subscribe: [\"person.*\"]\n"
                                        "  - name: socialcare\n"
                                        "    subscribe: [\"person.*\"]\n"
                                        "  - name: crm\n"
                                        "    subscribe: [\"person.*\"]\n";

static int setup_with(void **state, const char *text)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg = fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-master-XXXXXX", text);
    char err[512] = "";
    fx->m = master_new(fx->cfg, err, sizeof err);
    if (fx->m == NULL)
        fail_msg("master_new: %s", err);
    master_set_id_generator(fx->m, fixture_counter_ids, &fx->next_id);
    fx->sink = sink_capture(&fx->cap);
    fx->clock = T0;
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, CONFIG_TEXT);
}

static int setup_plain(void **state)
{
    return setup_with(state, PLAIN_CONFIG_TEXT);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    master_destroy(&fx->m);
    config_destroy(&fx->cfg);
    sink_free(&fx->cap);
    fixture_remove_dir(fx->dir);
    free(fx);
    return 0;
}

/* Events ------------------------------------------------------------------------ */

typedef struct {
    const char *nhs, *ni, *given, *family, *birth, *death;
    const char *line1, *town, *postcode, *uprn;
    const char *phone, *email, *lang;
    int sex; /* Joinery__V1__AdministrativeSex */
    uint64_t base_version;
    int64_t occurred; /* 0: the hub time */
} spec_t;

static int apply_raw(fixture_t *fx, const char *source, const char *type, const char *local_id,
                     const char *payload_type, const uint8_t *payload, size_t len,
                     uint64_t base_version, int64_t occurred)
{
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++fx->next_event);
    fx->clock += 1000000;
    master_event_t ev = {.source = source,
                         .event_id = event_id,
                         .type = type,
                         .local_id = local_id,
                         .base_version = base_version,
                         .occurred_at_us = occurred ? occurred : fx->clock,
                         .received_at_us = fx->clock,
                         .payload_type = payload_type,
                         .payload = payload,
                         .payload_len = len};
    sink_clear(&fx->cap);
    return master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
}

static int apply_person(fixture_t *fx, const char *source, const char *local_id, const spec_t *s)
{
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address *addrs[1];
    Joinery__V1__ContactPoint tel[2] = {JOINERY__V1__CONTACT_POINT__INIT,
                                        JOINERY__V1__CONTACT_POINT__INIT};
    Joinery__V1__ContactPoint *tels[2];
    char *given[1] = {(char *)s->given};
    char *lines[1] = {(char *)s->line1};
    if (s->nhs)
        p.nhs_number = (char *)s->nhs;
    if (s->ni)
        p.ni_number = (char *)s->ni;
    if (s->given || s->family) {
        if (s->given) {
            name.n_given = 1;
            name.given = given;
        }
        if (s->family)
            name.family = (char *)s->family;
        p.name = &name;
    }
    if (s->birth)
        p.birth_date = (char *)s->birth;
    if (s->death)
        p.death_date = (char *)s->death;
    p.sex = (Joinery__V1__AdministrativeSex)s->sex;
    if (s->line1 || s->town || s->postcode || s->uprn) {
        addr.use = "home";
        if (s->line1) {
            addr.n_lines = 1;
            addr.lines = lines;
        }
        if (s->town)
            addr.town = (char *)s->town;
        if (s->postcode)
            addr.postcode = (char *)s->postcode;
        if (s->uprn)
            addr.uprn = (char *)s->uprn;
        addrs[0] = &addr;
        p.n_addresses = 1;
        p.addresses = addrs;
    }
    if (s->phone) {
        tel[p.n_telecom].system = "phone";
        tel[p.n_telecom].value = (char *)s->phone;
        tels[p.n_telecom] = &tel[p.n_telecom];
        p.n_telecom++;
    }
    if (s->email) {
        tel[p.n_telecom].system = "email";
        tel[p.n_telecom].value = (char *)s->email;
        tels[p.n_telecom] = &tel[p.n_telecom];
        p.n_telecom++;
    }
    p.telecom = tels;
    if (s->lang)
        p.preferred_language = (char *)s->lang;
    uint8_t buf[4096];
    size_t len = joinery__v1__person__pack(&p, buf);
    return apply_raw(fx, source, "person.updated", local_id, "joinery.v1.Person", buf, len,
                     s->base_version, s->occurred);
}

/* Applies and insists the event was taken; returns the golden record's id. */
static const char *update(fixture_t *fx, const char *source, const char *local_id, const spec_t *s)
{
    if (apply_person(fx, source, local_id, s) != 0)
        fail_msg("master_apply: %s", fx->why);
    if (fx->res.outcome != MASTER_APPLIED)
        fail_msg("refused: %s", fx->why);
    return fx->res.master_id;
}

static int steward(fixture_t *fx, const char *type, const char *a, const char *b, uint64_t queue_id)
{
    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.master_id_a = (char *)(a ? a : "");
    d.master_id_b = (char *)(b ? b : "");
    d.queue_id = queue_id;
    d.decided_by = "steward@council.example";
    d.reason = "checked the paper file";
    uint8_t buf[1024];
    size_t len = joinery__v1__steward_decision__pack(&d, buf);
    return apply_raw(fx, "steward", type, "", "joinery.v1.StewardDecision", buf, len, 0, 0);
}

static void steward_ok(fixture_t *fx, const char *type, const char *a, const char *b,
                       uint64_t queue_id)
{
    if (steward(fx, type, a, b, queue_id) != 0)
        fail_msg("master_apply: %s", fx->why);
    if (fx->res.outcome != MASTER_APPLIED)
        fail_msg("refused: %s", fx->why);
}

/* Looking at what was captured -------------------------------------------------- */

static void assert_lookup(const fixture_t *fx, const char *system, const char *local_id,
                          const char *master_id, const char *state)
{
    char got[MASTER_ID_MAX] = "";
    const char *s = master_lookup(fx->m, system, local_id, got);
    if (s == NULL)
        fail_msg("%s:%s is not linked", system, local_id);
    assert_string_equal(got, master_id);
    assert_string_equal(s, state);
}

static void assert_value(const fixture_t *fx, const char *master_id, const char *field,
                         const char *value, const char *source)
{
    const char *src = NULL;
    const char *v = master_value(fx->m, master_id, field, &src);
    if (value == NULL) {
        assert_null(v);
        return;
    }
    if (v == NULL)
        fail_msg("%s has no %s", master_id, field);
    assert_string_equal(v, value);
    if (source != NULL)
        assert_string_equal(src, source);
}

static char *dump(const fixture_t *fx, unsigned flags)
{
    char *out = NULL;
    assert_int_equal(master_dump(fx->m, flags, &out, NULL), 0);
    return out;
}

static bool has_field(const Joinery__V1__PersonChanged *pc, const char *field)
{
    for (size_t i = 0; i < pc->n_changed_fields; i++)
        if (strcmp(pc->changed_fields[i], field) == 0)
            return true;
    return false;
}

/* People ----------------------------------------------------------------------------- */

static const spec_t ANNE = {.nhs = "9434765919",
                            .given = "Anne",
                            .family = "Jones",
                            .birth = "1984-03-07",
                            .sex = 2,
                            .postcode = "LS1 4AB"};
static const spec_t OMAR_HEALTH = {
    .given = "Omar", .family = "Haddad", .birth = "1975-11-30", .sex = 1, .postcode = "LS6 2QT"};
/* Same name and birth date, another address: a possible match, not a link. */
static const spec_t OMAR_CRM = {
    .given = "Omar", .family = "Haddad", .birth = "1975-11-30", .sex = 1, .postcode = "LS9 8AA"};
static const spec_t BOB = {.nhs = "4010232137",
                           .given = "Robert",
                           .family = "Ellison",
                           .birth = "1950-01-20",
                           .sex = 1,
                           .postcode = "LS2 7HY"};

/* Tests -------------------------------------------------------------------------------- */

static void test_new_person_creates_golden_and_xref_no_match(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(apply_person(fx, "health", "H1", &ANNE), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_string_equal(fx->res.master_id, "P0001");
    assert_int_equal(fx->res.version, 1);
    assert_int_equal(fx->res.changed, 7); /* the postcode makes address.home too */
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_lookup(fx, "health", "H1", "P0001", "NO_MATCH");
    assert_value(fx, "P0001", "nhs_number", "9434765919", "health");
    assert_value(fx, "P0001", "address.home", "||LS1 4AB|", "health");
    assert_value(fx, "P0001", "address.home.postcode", "LS1 4AB", "health");
    assert_null(master_value(fx->m, "P0001", "address.home.uprn", NULL));

    const stmt_t *g = sink_find_sql(&fx->cap, "INSERT INTO golden_person", 0);
    assert_non_null(g);
    assert_string_equal(g->params[0], "P0001");
    assert_string_equal(g->params[1], "1");
    assert_string_equal(g->params[2], "ACTIVE");
    assert_null(g->params[3]);
    assert_non_null(
        strstr(g->params[4], "\"birth_date\":{\"v\":\"1984-03-07\",\"s\":\"health\",\"n\":1,"));
    /* One history row holds all seven changes of version 1. */
    assert_int_equal(sink_count_sql(&fx->cap, "INSERT INTO golden_person_history"), 1);
    const stmt_t *h = sink_find_sql(&fx->cap, "INSERT INTO golden_person_history", 0);
    assert_string_equal(h->params[0], "P0001");
    assert_string_equal(h->params[1], "1");
    assert_string_equal(h->params[2], "health");
    assert_non_null(strstr(h->params[5], "\"birth_date\":{\"n\":\"1984-03-07\"}"));
    assert_non_null(strstr(h->params[5], "\"address.home.postcode\":{\"n\":\"LS1 4AB\"}"));
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO xref", 0);
    assert_non_null(x);
    assert_string_equal(x->params[0], "health");
    assert_string_equal(x->params[1], "H1");
    assert_string_equal(x->params[3], "NO_MATCH");
    /* One audit row says what the event did: a new record, with its link. */
    assert_int_equal(sink_count_sql(&fx->cap, "INSERT INTO master_audit"), 1);
    const stmt_t *a = sink_find_sql(&fx->cap, "INSERT INTO master_audit", 0);
    assert_string_equal(a->params[4], "create");
    assert_non_null(
        strstr(a->params[5], "\"link\": {\"system\": \"health\", \"local_id\": \"H1\""));

    /* Everyone but the sender hears of the new record; nobody has an id for it yet. */
    assert_null(sink_find_emit(&fx->cap, "person.changed", "health"));
    const emitted_t *e = sink_find_emit(&fx->cap, "person.changed", "crm");
    assert_non_null(e);
    assert_string_equal(e->local_id, "");
    assert_string_equal(e->payload_type, "joinery.v1.PersonChanged");
    assert_non_null(sink_find_emit(&fx->cap, "person.changed", "socialcare"));
    assert_non_null(sink_find_emit(&fx->cap, "person.changed", "agresso"));
    assert_null(sink_find_emit(&fx->cap, "person.changed", "steward"));
}

/* The score of the crm record's link decision (xref.score), after health's Omar. */
static double omar_score(fixture_t *fx)
{
    apply_person(fx, "health", "H1", &OMAR_HEALTH);
    apply_person(fx, "crm", "C1", &OMAR_CRM);
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO xref", 0);
    assert_non_null(x);
    assert_string_equal(x->params[1], "C1");
    assert_non_null(x->params[5]);
    return strtod(x->params[5], NULL);
}

/* m and u from master_data.matching.fields (as `joinery match train` writes them) replace the
 * built-in ones: with sex made worthless, the same pair scores an exact sex's weight less. */
static void test_configured_match_parameters_replace_the_defaults(void **state)
{
    fixture_t *fx = *state;
    double plain = omar_score(fx);
    teardown(state);
    char text[sizeof CONFIG_TEXT + 256];
    (void)snprintf(text, sizeof text,
                   "%s    fields:\n"
                   "      sex:\n"
                   "        exact: {m: 0.5, u: 0.5}\n"
                   "        different: {m: 0.5, u: 0.5}\n",
                   CONFIG_TEXT);
    setup_with(state, text);
    fx = *state;
    double trained = omar_score(fx);
    match_params_t d;
    match_params_default(&d);
    double exact_sex =
        log2(d.m[MATCH_FIELD_SEX][MATCH_BINARY_EXACT] / d.u[MATCH_FIELD_SEX][MATCH_BINARY_EXACT]);
    assert_true(exact_sex > 0.5);
    /* cmocka's assert_float_equal compares as float, too coarse for this. */
    assert_true(fabs(plain - trained - exact_sex) < 1e-9);
}

/* Candidates are scored on the preparation a record got when it was last indexed: a change of
 * name must re-prepare it, or the next system's record of the renamed person would be compared
 * with the old name. */
static void test_a_renamed_record_is_matched_under_its_new_name(void **state)
{
    fixture_t *fx = *state;
    spec_t omar = OMAR_HEALTH;
    char id[MASTER_ID_MAX];
    (void)snprintf(id, sizeof id, "%s", update(fx, "health", "H1", &omar));
    spec_t renamed = omar;
    renamed.given = "Yusuf";
    update(fx, "health", "H1", &renamed);
    assert_int_equal(fx->res.changed, 1);
    update(fx, "crm", "C1", &renamed); /* same name, birth date and home as the renamed record */
    assert_lookup(fx, "crm", "C1", id, "MATCH");
    /* And the old name no longer finds it as a link. */
    update(fx, "socialcare", "S1", &omar);
    char got[MASTER_ID_MAX] = "";
    assert_non_null(master_lookup(fx->m, "socialcare", "S1", got));
    assert_string_not_equal(got, id);
}

static void test_same_nhs_number_from_another_system_links_match(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H1", &ANNE);
    spec_t sc = {.nhs = "943 476 5919", .given = "Anne", .family = "Jones", .birth = "1984-03-07"};
    assert_string_equal(update(fx, "socialcare", "S1", &sc), "P0001");
    assert_int_equal(fx->res.changed, 0); /* it agrees with what health said */
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_lookup(fx, "socialcare", "S1", "P0001", "MATCH");
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO xref", 0);
    assert_non_null(x);
    assert_string_equal(x->params[2], "P0001");
    assert_string_equal(x->params[3], "MATCH");
    assert_string_equal(x->params[4], "rule");
    /* No second golden record; the first did not change, so is not rewritten. */
    assert_int_equal(sink_count_sql(&fx->cap, "INSERT INTO golden_person ("), 0);
    assert_int_equal(sink_count_emits(&fx->cap, NULL, NULL), 0);
    /* Equal values change nothing, not even who is recorded as saying them. */
    assert_value(fx, "P0001", "birth_date", "1984-03-07", "health");
    assert_value(fx, "P0001", "nhs_number", "9434765919", "health");
}

/* Links Anne in health, socialcare and crm; returns nothing, all on P0001. */
static void three_systems(fixture_t *fx)
{
    update(fx, "health", "H1", &ANNE);
    spec_t sc = {.nhs = "9434765919", .given = "Anne", .family = "Jones", .birth = "1984-03-07"};
    update(fx, "socialcare", "S1", &sc);
    spec_t crm = {
        .nhs = "9434765919", .family = "Jones", .birth = "1984-03-07", .phone = "07700 900123"};
    update(fx, "crm", "C1", &crm);
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_lookup(fx, "crm", "C1", "P0001", "MATCH");
}

static void test_non_owner_change_is_refused_with_correction_to_sender(void **state)
{
    fixture_t *fx = *state;
    three_systems(fx);
    spec_t sc = {.birth = "1984-03-08"};
    update(fx, "socialcare", "S1", &sc); /* the owner's value is now live */
    assert_value(fx, "P0001", "birth_date", "1984-03-08", "socialcare");

    spec_t crm = {.birth = "1990-01-01", .phone = "07700 900999"};
    update(fx, "crm", "C1", &crm);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.changed, 1);
    assert_value(fx, "P0001", "birth_date", "1984-03-08", "socialcare");
    assert_value(fx, "P0001", "telecom.phone", "07700900999", "crm");

    const emitted_t *e = sink_find_emit(&fx->cap, "person.correction", "crm");
    assert_non_null(e);
    assert_string_equal(e->local_id, "C1");
    Joinery__V1__PersonCorrection *pc =
        joinery__v1__person_correction__unpack(NULL, e->len, e->payload);
    assert_non_null(pc);
    assert_string_equal(pc->master_id, "P0001");
    assert_string_equal(pc->local_id, "C1");
    assert_string_equal(pc->field, "birth_date");
    assert_string_equal(pc->owner, "socialcare");
    assert_string_equal(pc->refused_value, "1990-01-01");
    assert_string_equal(pc->current_value, "1984-03-08");
    assert_string_equal(pc->refused_event_id, "E0005");
    assert_int_equal(pc->version, fx->res.version);
    joinery__v1__person_correction__free_unpacked(pc, NULL);
    assert_int_equal(sink_count_emits(&fx->cap, "person.correction", NULL), 1);

    /* socialcare hears nothing of the refused birth date: no correction, and
     * the change it receives (the phone) does not mention it. */
    assert_int_equal(sink_count_emits(&fx->cap, "person.correction", "socialcare"), 0);
    const emitted_t *ch = sink_find_emit(&fx->cap, "person.changed", "socialcare");
    assert_non_null(ch);
    Joinery__V1__PersonChanged *pch =
        joinery__v1__person_changed__unpack(NULL, ch->len, ch->payload);
    assert_non_null(pch);
    assert_int_equal(pch->n_changed_fields, 1);
    assert_true(has_field(pch, "telecom.phone"));
    assert_false(has_field(pch, "birth_date"));
    joinery__v1__person_changed__free_unpacked(pch, NULL);
    assert_null(sink_find_emit(&fx->cap, "person.changed", "crm"));

    const stmt_t *a = NULL;
    for (size_t i = 0; (a = sink_find_sql(&fx->cap, "INSERT INTO master_audit", i)) != NULL; i++)
        if (strcmp(a->params[4], "refuse") == 0)
            break;
    assert_non_null(a);
    assert_non_null(strstr(a->params[5], "\"owner\": \"socialcare\""));
}

static void test_owner_change_goes_to_others_in_their_own_ids(void **state)
{
    fixture_t *fx = *state;
    three_systems(fx);
    spec_t sc = {.birth = "1984-07-03"};
    update(fx, "socialcare", "S1", &sc);
    assert_int_equal(fx->res.changed, 1);
    uint64_t version = fx->res.version;

    assert_null(sink_find_emit(&fx->cap, "person.changed", "socialcare"));
    const char *targets[] = {"health", "crm", "agresso"};
    const char *ids[] = {"H1", "C1", ""};
    for (int i = 0; i < 3; i++) {
        const emitted_t *e = sink_find_emit(&fx->cap, "person.changed", targets[i]);
        assert_non_null(e);
        assert_string_equal(e->local_id, ids[i]);
        assert_string_equal(e->master_id, "P0001");
        Joinery__V1__PersonChanged *pc =
            joinery__v1__person_changed__unpack(NULL, e->len, e->payload);
        assert_non_null(pc);
        assert_string_equal(pc->master_id, "P0001");
        assert_string_equal(pc->local_id, ids[i]);
        assert_int_equal(pc->version, version);
        assert_int_equal(pc->n_changed_fields, 1);
        assert_string_equal(pc->changed_fields[0], "birth_date");
        assert_non_null(pc->person);
        assert_string_equal(pc->person->birth_date, "1984-07-03");
        assert_string_equal(pc->person->nhs_number, ""); /* only what changed */
        joinery__v1__person_changed__free_unpacked(pc, NULL);
    }
    assert_int_equal(sink_count_emits(&fx->cap, "person.changed", NULL), 3);
    /* Its history row has the old value and, since the value came from the
     * row's own source, no "s". */
    const stmt_t *h = sink_last_sql(&fx->cap, "INSERT INTO golden_person_history");
    assert_non_null(h);
    assert_string_equal(h->params[2], "socialcare");
    assert_string_equal(h->params[5],
                        "{\"birth_date\":{\"o\":\"1984-03-07\",\"n\":\"1984-07-03\"}}");
}

static void test_stale_base_version_is_refused_with_current_value(void **state)
{
    fixture_t *fx = *state;
    spec_t v1 = {.nhs = "4857773457", .family = "Kowalski", .lang = "en"};
    update(fx, "health", "H7", &v1);
    assert_int_equal(fx->res.version, 1);
    spec_t v2 = {.lang = "pl"};
    update(fx, "health", "H7", &v2);
    assert_int_equal(fx->res.version, 2);

    /* Written against version 1, after the language changed at version 2. */
    spec_t stale = {.lang = "de", .family = "Kowalska", .base_version = 1};
    update(fx, "health", "H7", &stale);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.changed, 1); /* the family name had not changed since */
    assert_value(fx, "P0001", "preferred_language", "pl", "health");
    assert_value(fx, "P0001", "name.family", "Kowalska", "health");
    const emitted_t *e = sink_find_emit(&fx->cap, "person.correction", "health");
    assert_non_null(e);
    Joinery__V1__PersonCorrection *pc =
        joinery__v1__person_correction__unpack(NULL, e->len, e->payload);
    assert_non_null(pc);
    assert_string_equal(pc->field, "preferred_language");
    assert_string_equal(pc->refused_value, "de");
    assert_string_equal(pc->current_value, "pl");
    assert_non_null(strstr(pc->reason, "base_version 1"));
    joinery__v1__person_correction__free_unpacked(pc, NULL);

    /* Written against the current version, it applies. */
    spec_t fresh = {.lang = "de", .base_version = fx->res.version};
    update(fx, "health", "H7", &fresh);
    assert_int_equal(fx->res.refused, 0);
    assert_value(fx, "P0001", "preferred_language", "de", "health");
}

static void test_possible_match_is_queued_with_evidence_and_keep_apart_stops_requeue(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H2", &OMAR_HEALTH);
    update(fx, "crm", "C2", &OMAR_CRM);
    assert_string_equal(fx->res.master_id, "P0002");
    assert_int_equal(master_golden_count(fx->m), 2);
    assert_int_equal(master_steward_count(fx->m), 1);
    assert_lookup(fx, "crm", "C2", "P0002", "POSSIBLE_MATCH");
    const stmt_t *q = sink_find_sql(&fx->cap, "INSERT INTO steward_queue", 0);
    assert_non_null(q);
    assert_string_equal(q->params[0], "1");
    assert_string_equal(q->params[1], "P0001"); /* the record that was there */
    assert_string_equal(q->params[2], "P0002"); /* the newcomer */
    assert_non_null(strstr(q->params[4], "\"decision\": \"possible\""));
    assert_non_null(strstr(q->params[4], "\"given\": {\"level\": \"exact\""));
    assert_non_null(strstr(q->params[4], "\"postcode\": {\"level\": "));

    steward_ok(fx, "steward.keep_apart", NULL, NULL, 1);
    assert_int_equal(master_steward_count(fx->m), 0);
    assert_lookup(fx, "crm", "C2", "P0002", "NO_MATCH");
    const stmt_t *k = sink_find_sql(&fx->cap, "INSERT INTO keep_apart", 0);
    assert_non_null(k);
    assert_string_equal(k->params[0], "P0001");
    assert_string_equal(k->params[1], "P0002");
    const stmt_t *d = sink_find_sql(&fx->cap, "UPDATE steward_queue", 0);
    assert_non_null(d);
    assert_string_equal(d->params[1], "KEPT_APART");
    assert_string_equal(d->params[3], "steward@council.example");

    /* crm moves Omar to the health record's address: now they agree on
     * everything, but a steward said they are two people. */
    spec_t moved = {.postcode = "LS6 2QT"};
    update(fx, "crm", "C2", &moved);
    assert_int_equal(fx->res.changed, 2); /* address.home and its postcode */
    assert_int_equal(master_steward_count(fx->m), 0);
    assert_int_equal(sink_count_sql(&fx->cap, "INSERT INTO steward_queue"), 0);

    /* Without a keep-apart decision, a change like that is queued. */
    spec_t stranger = {.given = "Xavier", .family = "Zed", .birth = "2001-01-01"};
    update(fx, "socialcare", "S3", &stranger);
    assert_string_equal(fx->res.master_id, "P0003");
    assert_int_equal(master_steward_count(fx->m), 0);
    update(fx, "socialcare", "S3", &OMAR_HEALTH);
    assert_true(sink_count_sql(&fx->cap, "INSERT INTO steward_queue") >= 1);
    assert_true(master_steward_count(fx->m) >= 1);
    assert_string_equal(sink_find_sql(&fx->cap, "INSERT INTO steward_queue", 0)->params[2],
                        "P0003");

    /* A decided item cannot be decided again. */
    assert_int_equal(steward(fx, "steward.keep_apart", NULL, NULL, 1), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_non_null(strstr(fx->why, "not open"));
}

/* The finding the last event left: its person.data_quality to SENDER names FIELD, a
 * person_data_quality row names it, and the reason for the CONFIRM says it was dropped. */
static void assert_dropped(const fixture_t *fx, const char *sender, const char *field,
                           const char *reason_part)
{
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    const emitted_t *e = sink_find_emit(&fx->cap, "person.data_quality", sender);
    assert_non_null(e);
    assert_int_equal(sink_count_emits(&fx->cap, "person.data_quality", NULL), 1);
    Joinery__V1__DataQuality *dq = joinery__v1__data_quality__unpack(NULL, e->len, e->payload);
    assert_non_null(dq);
    bool named = false;
    for (size_t i = 0; i < dq->n_dropped; i++)
        named = named || (strcmp(dq->dropped[i]->field, field) == 0 &&
                          strstr(dq->dropped[i]->reason, reason_part) != NULL);
    assert_true(named);
    assert_string_equal(dq->master_id, fx->res.master_id);
    joinery__v1__data_quality__free_unpacked(dq, NULL);
    const stmt_t *row = sink_find_sql(&fx->cap, "INSERT INTO person_data_quality", 0);
    assert_non_null(row);
    assert_string_equal(row->params[4], field);
    char want[96];
    (void)snprintf(want, sizeof want, "dropped %s:", field);
    assert_non_null(strstr(fx->why, want));
}

/* Issue 17: an invalid value drops THAT field; the rest of the Person is kept and matched. */
static void test_invalid_fields_are_dropped_not_the_person(void **state)
{
    fixture_t *fx = *state;
    spec_t bad = ANNE;
    bad.nhs = "9434765918"; /* check digit wrong */
    assert_int_equal(apply_person(fx, "health", "H1", &bad), 0);
    assert_dropped(fx, "health", "nhs_number", "check digit");
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_null(master_value(fx->m, fx->res.master_id, "nhs_number", NULL));
    assert_string_equal(master_value(fx->m, fx->res.master_id, "birth_date", NULL), "1984-03-07");
    assert_lookup(fx, "health", "H1", fx->res.master_id, "NO_MATCH");
    /* The rest is matched: crm's Anne, with her valid number, links to it on name, birth date
     * and postcode. */
    update(fx, "crm", "C1", &ANNE);
    assert_lookup(fx, "crm", "C1", "P0001", "MATCH");
    assert_int_equal(sink_count_emits(&fx->cap, "person.data_quality", NULL), 0);
    assert_string_equal(fx->why, "");

    struct {
        const char *birth, *death, *postcode, *nhs, *ni, *family, *field, *reason;
    } cases[] = {
        {"1906-02-29", NULL, NULL, NULL, NULL, NULL, "birth_date", "not a valid birth date"},
        {"1984-95-07", NULL, NULL, NULL, NULL, NULL, "birth_date", "not a valid birth date"},
        {NULL, NULL, "LS1 4A", NULL, NULL, NULL, "address.home.postcode", "not a valid postcode"},
        {NULL, "1980-01-01", NULL, NULL, NULL, NULL, "death_date", "death"}, /* before birth */
        {NULL, NULL, NULL, "0000000000", NULL, NULL, "nhs_number", "placeholder"},
        {NULL, NULL, NULL, NULL, "QQ123456C", NULL, "ni_number", "not valid"},
        /* Text PostgreSQL would refuse must not reach it: accepted, it would fail the commit of
         * every event in its batch, and the publisher's resend again, for ever. */
        {NULL, NULL, NULL, NULL, NULL, "Jo\xed\xa0\x80nes", "name.family", "UTF-8"},
        {NULL, NULL, NULL, NULL, NULL, "Jo\xc0\xafnes", "name.family", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = ANNE;
        bad.nhs = cases[i].nhs ? cases[i].nhs : ANNE.nhs;
        bad.birth = cases[i].birth ? cases[i].birth : ANNE.birth;
        bad.death = cases[i].death;
        bad.postcode = cases[i].postcode ? cases[i].postcode : ANNE.postcode;
        bad.ni = cases[i].ni;
        bad.family = cases[i].family ? cases[i].family : ANNE.family;
        char local[16];
        (void)snprintf(local, sizeof local, "S%zu", i);
        assert_int_equal(apply_person(fx, "socialcare", local, &bad), 0);
        assert_dropped(fx, "socialcare", cases[i].field, cases[i].reason);
        assert_string_equal(fx->res.master_id, "P0001"); /* still Anne, on the rest */
    }
    assert_int_equal(master_golden_count(fx->m), 1);
    /* A bad forename drops the forenames, not the surname after it. */
    spec_t other = {.given = "Bo\x01b", .family = "Quayle", .birth = "1970-01-01"};
    assert_int_equal(apply_person(fx, "crm", "C2", &other), 0);
    assert_dropped(fx, "crm", "name.given", "control character");
    assert_string_equal(fx->res.master_id, "P0002");
    assert_null(master_value(fx->m, "P0002", "name.given", NULL));
    assert_string_equal(master_value(fx->m, "P0002", "name.family", NULL), "Quayle");
    /* A Person with nothing the hub can take is refused whole: there is no record to keep. */
    spec_t nothing = {.birth = "1906-02-29"};
    assert_int_equal(apply_person(fx, "crm", "C9", &nothing), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_non_null(strstr(fx->why, "birth_date"));
    assert_int_equal(fx->cap.nstmts, 0);
    assert_int_equal(fx->cap.nemits, 0);
}

/* A numeric postal code is another country's: kept in the address text, where the matcher
 * compares it, not as address.home.postcode, and not a finding. */
static void test_foreign_postal_code_stays_in_the_address(void **state)
{
    fixture_t *fx = *state;
    spec_t s = ANNE;
    s.postcode = " 26 17 ";
    s.line1 = "12 Banksia Street";
    s.town = "Kingsford";
    update(fx, "health", "H1", &s);
    assert_value(fx, "P0001", "address.home", "12 Banksia Street|KINGSFORD|2617|", "health");
    assert_null(master_value(fx->m, "P0001", "address.home.postcode", NULL));
    assert_int_equal(sink_count_emits(&fx->cap, "person.data_quality", NULL), 0);
    assert_string_equal(fx->why, "");
    s.postcode = "26A7"; /* neither a UK postcode nor a numeric code: dropped */
    update(fx, "health", "H1", &s);
    assert_int_equal(sink_count_emits(&fx->cap, "person.data_quality", "health"), 1);
    assert_value(fx, "P0001", "address.home", "12 Banksia Street|KINGSFORD||", "health");
}

static void test_missing_local_id_or_wrong_payload_is_refused(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(apply_person(fx, "health", "", &ANNE), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_non_null(strstr(fx->why, "source_record_id"));
    uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(apply_raw(fx, "health", "person.updated", "H1", "joinery.v1.Person", junk,
                               sizeof junk, 0, 0),
                     0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_int_equal(
        apply_raw(fx, "health", "person.updated", "H1", "joinery.v1.Case", junk, 0, 0, 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_int_equal(
        apply_raw(fx, "health", "case.created", "H1", "joinery.v1.Case", junk, 0, 0, 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_int_equal(master_golden_count(fx->m), 0);
    assert_true(master_handles("person.updated", 14));
    assert_true(master_handles("steward.unmerge", 15));
    assert_false(master_handles("person.changed", 14));
    assert_false(master_handles("person.updatedX", 15));
}

static void test_values_are_normalised(void **state)
{
    fixture_t *fx = *state;
    spec_t s = {.nhs = "943 476 5919",
                .ni = "ab 12 34 56 c",
                .given = "  Mary   Ann ",
                .family = "O'Brien",
                .line1 = "12  High  Street",
                .town = "Leeds",
                .postcode = "ls14ab",
                .uprn = "000072632",
                .phone = "+44 (0)7700-900123",
                .email = "Mary.OBrien@Example.ORG"};
    update(fx, "crm", "C1", &s);
    const char *id = fx->res.master_id;
    assert_value(fx, id, "nhs_number", "9434765919", "crm");
    assert_value(fx, id, "ni_number", "AB123456C", NULL);
    assert_value(fx, id, "name.given", "Mary Ann", NULL);
    assert_value(fx, id, "address.home", "12 High Street|LEEDS|LS1 4AB|72632", NULL);
    assert_value(fx, id, "address.home.postcode", "LS1 4AB", NULL);
    assert_value(fx, id, "address.home.uprn", "72632", NULL);
    assert_value(fx, id, "telecom.phone", "+4407700900123", NULL);
    assert_value(fx, id, "telecom.email", "mary.obrien@example.org", NULL);
    /* The same facts written differently change nothing. */
    spec_t again = {.nhs = "9434765919",
                    .postcode = "LS1 4AB",
                    .line1 = "12 High Street",
                    .town = "LEEDS",
                    .uprn = "72632"};
    update(fx, "crm", "C1", &again);
    assert_int_equal(fx->res.changed, 0);
    assert_int_equal(fx->cap.nstmts, 0);
    assert_int_equal(fx->cap.nemits, 0);
}

/* Builds two records for the merge tests: Anne (P0001: health H1,
 * socialcare S1) and a duplicate made by crm without an NHS number (P0002:
 * crm C9, agresso A9), whose values differ in ways the merge must settle. */
static void two_records(fixture_t *fx)
{
    update(fx, "health", "H1", &ANNE);
    spec_t sc = {.nhs = "9434765919",
                 .given = "Anne",
                 .family = "Jones",
                 .birth = "1984-03-07",
                 .lang = "cy"};
    update(fx, "socialcare", "S1", &sc);
    spec_t dup = {.given = "Annie",
                  .family = "Jones-Smith",
                  .birth = "1984-03-07",
                  .line1 = "3 Mill Lane",
                  .postcode = "LS9 9ZZ",
                  .email = "anne@example.org",
                  .lang = "en"};
    update(fx, "crm", "C9", &dup);
    assert_string_equal(fx->res.master_id, "P0002");
    assert_int_equal(master_golden_count(fx->m), 2);
}

static void test_merge_moves_xrefs_and_redirects_the_retired_record(void **state)
{
    fixture_t *fx = *state;
    two_records(fx);
    steward_ok(fx, "steward.merge", "P0001", "P0002", 0);
    assert_string_equal(fx->res.master_id, "P0001");
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_lookup(fx, "crm", "C9", "P0001", "REDIRECTED");
    assert_lookup(fx, "health", "H1", "P0001", "NO_MATCH");
    assert_lookup(fx, "socialcare", "S1", "P0001", "MATCH");
    /* crm owns e-mail and address: the survivor takes them; names stay socialcare's. */
    assert_value(fx, "P0001", "telecom.email", "anne@example.org", "crm");
    assert_value(fx, "P0001", "address.home", "3 Mill Lane||LS9 9ZZ|", "crm");
    assert_value(fx, "P0001", "name.family", "Jones", "health");
    assert_value(fx, "P0001", "preferred_language", "cy", "socialcare");
    /* The retired record keeps its values, for the history and an unmerge. */
    assert_value(fx, "P0002", "name.family", "Jones-Smith", "crm");

    const stmt_t *r = sink_find_sql(&fx->cap, "INSERT INTO golden_person (", 1);
    assert_non_null(r);
    assert_string_equal(r->params[0], "P0002");
    assert_string_equal(r->params[2], "REDIRECTED");
    assert_string_equal(r->params[3], "P0001");
    assert_non_null(sink_find_sql(&fx->cap, "INSERT INTO golden_merge", 0));
    /* The survivor's history row is the steward's, and names the system each
     * value it took came from. */
    const stmt_t *h = sink_last_sql(&fx->cap, "INSERT INTO golden_person_history");
    assert_non_null(h);
    assert_string_equal(h->params[0], "P0001");
    assert_string_equal(h->params[2], "steward");
    assert_non_null(strstr(h->params[5], "\"n\":\"anne@example.org\",\"s\":\"crm\"}"));

    /* Each subscriber of person.merged hears it in its own ids. */
    const emitted_t *e = sink_find_emit(&fx->cap, "person.merged", "crm");
    assert_non_null(e);
    Joinery__V1__PersonMerged *pm = joinery__v1__person_merged__unpack(NULL, e->len, e->payload);
    assert_non_null(pm);
    assert_string_equal(pm->survivor_master_id, "P0001");
    assert_string_equal(pm->retired_master_id, "P0002");
    assert_string_equal(pm->survivor_local_id, "");
    assert_string_equal(pm->retired_local_id, "C9");
    joinery__v1__person_merged__free_unpacked(pm, NULL);
    e = sink_find_emit(&fx->cap, "person.merged", "health");
    assert_non_null(e);
    pm = joinery__v1__person_merged__unpack(NULL, e->len, e->payload);
    assert_string_equal(pm->survivor_local_id, "H1");
    assert_string_equal(pm->retired_local_id, "");
    joinery__v1__person_merged__free_unpacked(pm, NULL);
    assert_null(sink_find_emit(&fx->cap, "person.merged", "agresso")); /* it does not subscribe */
    /* ... and the survivor's new values reach everyone, crm in its own id. */
    e = sink_find_emit(&fx->cap, "person.changed", "crm");
    assert_non_null(e);
    assert_string_equal(e->local_id, "C9");

    /* Events for the retired record's ids now land on the survivor. */
    spec_t phone = {.phone = "07700 900555"};
    assert_string_equal(update(fx, "crm", "C9", &phone), "P0001");
    assert_value(fx, "P0001", "telecom.phone", "07700900555", "crm");
}

static void test_unmerge_restores_both_records_and_every_xref(void **state)
{
    fixture_t *fx = *state;
    two_records(fx);
    const char *c9_state = master_lookup(fx->m, "crm", "C9", NULL);
    assert_non_null(c9_state);
    char *before = dump(fx, 0);
    steward_ok(fx, "steward.merge", "P0001", "P0002", 0);
    char *merged = dump(fx, 0);
    assert_string_not_equal(before, merged);

    steward_ok(fx, "steward.unmerge", "P0001", "P0002", 0);
    assert_string_equal(fx->res.master_id, "P0002");
    char *after = dump(fx, 0);
    assert_string_equal(before, after);
    assert_int_equal(master_golden_count(fx->m), 2);
    assert_lookup(fx, "crm", "C9", "P0002", c9_state);

    /* Both records go to everyone whole, each system in its own ids. */
    size_t n = 0;
    for (size_t i = 0; i < fx->cap.nemits; i++) {
        const emitted_t *e = &fx->cap.emits[i];
        if (strcmp(e->type, "person.changed") != 0)
            continue;
        n++;
        if (strcmp(e->master_id, "P0002") == 0 && strcmp(e->target, "crm") == 0)
            assert_string_equal(e->local_id, "C9");
        if (strcmp(e->master_id, "P0001") == 0 && strcmp(e->target, "crm") == 0)
            assert_string_equal(e->local_id, "");
        if (strcmp(e->master_id, "P0001") == 0 && strcmp(e->target, "health") == 0)
            assert_string_equal(e->local_id, "H1");
    }
    assert_int_equal(n, 8); /* 4 subscribers x 2 records */
    /* A wrong merge undone is remembered: the pair is kept apart. */
    char *steward_state = dump(fx, MASTER_DUMP_STEWARD);
    assert_non_null(strstr(steward_state, "keep_apart P0001 P0002"));
    assert_null(strstr(steward_state, "merge P0002 into"));
    /* Undoing twice is refused. */
    assert_int_equal(steward(fx, "steward.unmerge", "P0001", "P0002", 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    free(before);
    free(merged);
    free(after);
    free(steward_state);
}

static void test_unmerge_keeps_changes_made_after_the_merge(void **state)
{
    fixture_t *fx = *state;
    two_records(fx);
    steward_ok(fx, "steward.merge", "P0001", "P0002", 0);
    spec_t later = {.email = "anne.jones@example.org"};
    update(fx, "crm", "C9", &later);
    steward_ok(fx, "steward.unmerge", "P0001", "P0002", 0);
    /* The e-mail changed after the merge: that change stands on the survivor. */
    assert_value(fx, "P0001", "telecom.email", "anne.jones@example.org", "crm");
    assert_value(fx, "P0001", "address.home", "||LS1 4AB|", "health");
    assert_value(fx, "P0002", "telecom.email", "anne@example.org", "crm");
}

static void test_survivorship_by_priority_then_recency(void **state)
{
    fixture_t *fx = *state;
    /* preferred_language has no owner: survivorship [health, socialcare, crm, agresso]. */
    spec_t crm = {.nhs = "1234567881", .family = "Nowak", .lang = "en"};
    update(fx, "crm", "C1", &crm);
    spec_t ag = {.nhs = "1234567881", .family = "Nowak", .lang = "fr"};
    update(fx, "agresso", "A1", &ag);
    assert_lookup(fx, "agresso", "A1", "P0001", "MATCH");
    assert_value(fx, "P0001", "preferred_language", "en", "crm"); /* agresso ranks below crm */
    spec_t h = {.nhs = "1234567881", .lang = "pl"};
    update(fx, "health", "H1", &h);
    assert_value(fx, "P0001", "preferred_language", "pl", "health");
    /* Same source: the more recent statement wins, an older one does not. */
    spec_t old = {.lang = "de", .occurred = T0};
    update(fx, "health", "H1", &old);
    assert_int_equal(fx->res.changed, 0);
    assert_value(fx, "P0001", "preferred_language", "pl", "health");
    spec_t newer = {.lang = "de"};
    update(fx, "health", "H1", &newer);
    assert_value(fx, "P0001", "preferred_language", "de", "health");
    /* An owned field with no live owner value: the fallback list decides. */
    spec_t crm_given = {.given = "Ewa"};
    update(fx, "crm", "C1", &crm_given);
    assert_value(fx, "P0001", "name.given", "Ewa", "crm");
    spec_t h_given = {.given = "Eva"};
    update(fx, "health", "H1", &h_given);
    assert_value(fx, "P0001", "name.given", "Eva", "health"); /* health before crm */
    spec_t crm_again = {.given = "Ewa"};
    update(fx, "crm", "C1", &crm_again);
    assert_value(fx, "P0001", "name.given", "Eva", "health");
    assert_int_equal(fx->res.refused, 0); /* outranked is not refused: no owner spoke */
}

static void test_without_master_data_adapter_order_decides(void **state)
{
    fixture_t *fx = *state;
    spec_t crm = {.nhs = "6400754636", .family = "Okafor", .birth = "1991-09-09"};
    update(fx, "crm", "C1", &crm);
    spec_t h = {.nhs = "6400754636", .family = "Okafor-Ade"};
    update(fx, "health", "H1", &h);
    assert_value(fx, "P0001", "name.family", "Okafor-Ade", "health"); /* first adapter */
    spec_t crm2 = {.family = "Okafor"};
    update(fx, "crm", "C1", &crm2);
    assert_value(fx, "P0001", "name.family", "Okafor-Ade", "health");
    assert_int_equal(fx->res.refused, 0);
    assert_int_equal(fx->cap.nemits, 0);
}

static void test_propose_forwards_the_change_to_the_owner(void **state)
{
    fixture_t *fx = *state;
    three_systems(fx);
    spec_t crm = {.line1 = "1 Park Row", .town = "Leeds", .postcode = "LS1 5AB"};
    update(fx, "crm", "C1", &crm);
    spec_t sc = {.line1 = "9 Canal Wharf", .town = "Leeds", .postcode = "LS11 5PS"};
    update(fx, "socialcare", "S1", &sc);
    assert_value(fx, "P0001", "address.home", "1 Park Row|LEEDS|LS1 5AB|", "crm");
    assert_int_equal(sink_count_emits(&fx->cap, "person.correction", NULL), 0);
    assert_int_equal(sink_count_emits(&fx->cap, "person.proposed", NULL),
                     1); /* one for the address */
    const emitted_t *e = sink_find_emit(&fx->cap, "person.proposed", "crm");
    assert_non_null(e);
    assert_string_equal(e->local_id, "C1");
    assert_string_equal(e->payload_type, "joinery.v1.PersonProposal");
    Joinery__V1__PersonProposal *pp =
        joinery__v1__person_proposal__unpack(NULL, e->len, e->payload);
    assert_non_null(pp);
    assert_string_equal(pp->field, "address.home");
    assert_string_equal(pp->proposed_value, "9 Canal Wharf|LEEDS|LS11 5PS|");
    assert_string_equal(pp->current_value, "1 Park Row|LEEDS|LS1 5AB|");
    assert_string_equal(pp->proposed_by, "socialcare");
    assert_string_equal(pp->proposer_local_id, "S1");
    assert_int_equal(pp->person->n_addresses, 1);
    assert_string_equal(pp->person->addresses[0]->postcode, "LS11 5PS");
    assert_string_equal(pp->person->addresses[0]->lines[0], "9 Canal Wharf");
    joinery__v1__person_proposal__free_unpacked(pp, NULL);
    assert_int_equal(fx->res.refused, 2); /* address.home and its postcode */
}

static void test_merge_from_a_source_system_in_its_own_ids(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H1", &ANNE);
    update(fx, "health", "H2", &BOB);
    spec_t sc = BOB;
    update(fx, "socialcare", "S2", &sc);
    assert_lookup(fx, "socialcare", "S2", "P0002", "MATCH");
    /* The trust found H2 was a duplicate registration of H1 (HL7 A40). */
    Joinery__V1__PersonMerged pm = JOINERY__V1__PERSON_MERGED__INIT;
    pm.survivor_local_id = "H1";
    pm.retired_local_id = "H2";
    pm.reason = "HL7 A40 from RX1";
    uint8_t buf[256];
    size_t len = joinery__v1__person_merged__pack(&pm, buf);
    assert_int_equal(
        apply_raw(fx, "health", "person.merged", "H1", "joinery.v1.PersonMerged", buf, len, 0, 0),
        0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_string_equal(fx->res.master_id, "P0001");
    assert_lookup(fx, "health", "H2", "P0001", "REDIRECTED");
    assert_lookup(fx, "socialcare", "S2", "P0001", "REDIRECTED");
    assert_null(sink_find_emit(&fx->cap, "person.merged", "health")); /* it told us */
    const emitted_t *e = sink_find_emit(&fx->cap, "person.merged", "socialcare");
    assert_non_null(e);
    Joinery__V1__PersonMerged *got = joinery__v1__person_merged__unpack(NULL, e->len, e->payload);
    assert_string_equal(got->survivor_local_id, "");
    assert_string_equal(got->retired_local_id, "S2");
    assert_string_equal(got->reason, "HL7 A40 from RX1");
    joinery__v1__person_merged__free_unpacked(got, NULL);
    /* The owner's NHS numbers differ: health's survivor keeps its own. */
    assert_value(fx, "P0001", "nhs_number", "9434765919", "health");
}

static void test_steward_link_merges_a_queued_pair(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H2", &OMAR_HEALTH);
    update(fx, "crm", "C2", &OMAR_CRM);
    assert_int_equal(master_steward_count(fx->m), 1);
    steward_ok(fx, "steward.link", NULL, NULL, 1);
    assert_string_equal(fx->res.master_id, "P0001");
    assert_int_equal(master_steward_count(fx->m), 0);
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_lookup(fx, "crm", "C2", "P0001", "MATCH");
    const stmt_t *d = sink_find_sql(&fx->cap, "UPDATE steward_queue", 0);
    assert_non_null(d);
    assert_string_equal(d->params[1], "LINKED");
    const stmt_t *x = sink_find_sql(&fx->cap, "INSERT INTO xref", 0);
    assert_string_equal(x->params[4], "steward");
    /* crm owns the address: its value survives the link. */
    assert_value(fx, "P0001", "address.home.postcode", "LS9 8AA", "crm");
}

static void test_steward_link_by_master_ids_settles_the_open_item(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H2", &OMAR_HEALTH);
    update(fx, "crm", "C2", &OMAR_CRM);
    steward_ok(fx, "steward.link", "P0002", "P0001", 0);
    assert_string_equal(fx->res.master_id, "P0002"); /* the steward chose the survivor */
    assert_int_equal(master_steward_count(fx->m), 0);
    assert_lookup(fx, "health", "H2", "P0002", "MATCH");
    const stmt_t *d = sink_find_sql(&fx->cap, "UPDATE steward_queue", 0);
    assert_non_null(d);
    assert_string_equal(d->params[0], "1");
    assert_string_equal(d->params[1], "LINKED");
    /* Linking again is a no-op; keeping one record apart from itself is refused. */
    steward_ok(fx, "steward.link", "P0002", "P0001", 0);
    assert_int_equal(fx->cap.nstmts, 0);
    assert_int_equal(steward(fx, "steward.keep_apart", "P0001", "P0002", 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_int_equal(steward(fx, "steward.merge", "P0001", "P0404", 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_non_null(strstr(fx->why, "P0404"));
}

/* Issue 17: a system's own duplicate is linked on the same evidence as a link between two
 * systems, and that system alone is told, in its ids. */
static void test_second_record_from_the_same_system_links_and_is_notified(void **state)
{
    fixture_t *fx = *state;
    update(fx, "health", "H1", &ANNE);
    /* health sends a second record with Anne's NHS number and all the rest: a duplicate
     * registration. */
    update(fx, "health", "H1b", &ANNE);
    assert_string_equal(fx->res.master_id, "P0001");
    assert_lookup(fx, "health", "H1", "P0001", "NO_MATCH");
    assert_lookup(fx, "health", "H1b", "P0001", "MATCH");
    assert_int_equal(master_golden_count(fx->m), 1);
    assert_int_equal(master_steward_count(fx->m), 0);
    assert_int_equal(sink_count_emits(&fx->cap, "person.duplicate_found", NULL), 1);
    const emitted_t *e = sink_find_emit(&fx->cap, "person.duplicate_found", "health");
    assert_non_null(e);
    assert_string_equal(e->local_id, "H1b");
    Joinery__V1__DuplicateFound *d = joinery__v1__duplicate_found__unpack(NULL, e->len, e->payload);
    assert_non_null(d);
    assert_string_equal(d->master_id, "P0001");
    assert_int_equal(d->n_local_ids, 2);
    assert_string_equal(d->local_ids[0], "H1");
    assert_string_equal(d->local_ids[1], "H1b");
    assert_non_null(strstr(d->reason, "NHS"));
    joinery__v1__duplicate_found__free_unpacked(d, NULL);
    /* A link from another system tells nobody of a duplicate. */
    update(fx, "crm", "C1", &ANNE);
    assert_int_equal(sink_count_emits(&fx->cap, "person.duplicate_found", NULL), 0);
    /* Twins in one system (same surname, birth date and address, other forenames) stay apart:
     * the anchors that keep them apart across systems keep them apart within one. */
    spec_t twin = ANNE;
    twin.nhs = NULL;
    twin.given = "Hannah";
    update(fx, "health", "H2", &twin);
    assert_string_not_equal(fx->res.master_id, "P0001");
    assert_int_equal(sink_count_emits(&fx->cap, "person.duplicate_found", NULL), 0);
}

static void test_two_records_that_both_qualify_go_to_a_steward_not_the_first(void **state)
{
    fixture_t *fx = *state;
    /* health keeps two records that came to look like one man (a father and son sharing a name,
     * a birth date typed from the wrong form): the second became its own record first, then
     * changed to look like the first, which queues the pair for a steward. */
    update(fx, "health", "H2", &OMAR_HEALTH);
    spec_t son = OMAR_HEALTH;
    son.given = "Yusuf";
    son.birth = "2001-04-12";
    update(fx, "health", "H2b", &son);
    update(fx, "health", "H2b", &OMAR_HEALTH);
    assert_int_equal(master_golden_count(fx->m), 2);
    assert_int_equal(master_steward_count(fx->m), 1);
    /* crm's record would link to either: neither is chosen, a steward sees both. */
    update(fx, "crm", "C2", &OMAR_HEALTH);
    assert_int_equal(master_golden_count(fx->m), 3);
    assert_lookup(fx, "crm", "C2", "P0003", "POSSIBLE_MATCH");
    assert_int_equal(master_steward_count(fx->m), 3);
}

/* Fails the AT-th sink call of one event; returns master_apply's result. */
static int apply_failing(fixture_t *fx, int at, const char *type, const char *local_id,
                         const char *payload_type, const uint8_t *buf, size_t len)
{
    sink_clear(&fx->cap);
    fx->cap.fail_at = at;
    master_event_t ev = {.source = strncmp(type, "steward.", 8) == 0 ? "steward" : "crm",
                         .event_id = "F",
                         .type = type,
                         .local_id = local_id,
                         .received_at_us = T0 + 100000000,
                         .payload_type = payload_type,
                         .payload = buf,
                         .payload_len = len};
    return master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
}

/* Every step of an event, sql and emit alike, is failed in turn: the engine
 * must look exactly as before each time, and take the event afterwards. */
static void fail_each_call(fixture_t *fx, const char *type, const char *local_id,
                           const char *payload_type, const uint8_t *buf, size_t len)
{
    char *before = dump(fx, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD);
    int at = 1;
    for (;; at++) {
        int rc = apply_failing(fx, at, type, local_id, payload_type, buf, len);
        if (rc == 0)
            break; /* it needed fewer calls than AT: done */
        assert_int_equal(rc, -1);
        char *now = dump(fx, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD);
        assert_string_equal(before, now);
        free(now);
    }
    assert_true(at > 3);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    char *after = dump(fx, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD);
    assert_string_not_equal(before, after);
    free(after);
    free(before);
}

static void test_sink_failure_leaves_the_engine_unchanged(void **state)
{
    fixture_t *fx = *state;
    three_systems(fx);
    update(fx, "health", "H2", &OMAR_HEALTH);
    uint8_t buf[1024];
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__ContactPoint tel = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint *tels[1] = {&tel};
    tel.system = "phone";
    tel.value = "07700 900999";
    p.telecom = tels;
    p.n_telecom = 1;
    p.birth_date = "1990-01-01";
    size_t len = joinery__v1__person__pack(&p, buf);
    fail_each_call(fx, "person.updated", "C1", "joinery.v1.Person", buf, len);
    fail_each_call(fx, "person.updated", "C-new", "joinery.v1.Person", buf, len);
    /* a possible match: a new record and a steward item */
    Joinery__V1__Person omar = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[1] = {"Omar"};
    name.given = given;
    name.n_given = 1;
    name.family = "Haddad";
    omar.name = &name;
    omar.birth_date = "1975-11-30";
    len = joinery__v1__person__pack(&omar, buf);
    fail_each_call(fx, "person.updated", "C-omar", "joinery.v1.Person", buf, len);

    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.master_id_a = "P0001";
    d.master_id_b = "P0002";
    len = joinery__v1__steward_decision__pack(&d, buf);
    fail_each_call(fx, "steward.merge", "", "joinery.v1.StewardDecision", buf, len);
    fail_each_call(fx, "steward.unmerge", "", "joinery.v1.StewardDecision", buf, len);
    d.master_id_a = "";
    d.master_id_b = "";
    d.queue_id = 1;
    len = joinery__v1__steward_decision__pack(&d, buf);
    fail_each_call(fx, "steward.keep_apart", "", "joinery.v1.StewardDecision", buf, len);
}

/* A sink that refuses a message must find no statement of the event before it
 * (the hub cannot take statements back out of its pending batch). */
static void test_messages_reach_the_sink_before_statements(void **state)
{
    fixture_t *fx = *state;
    three_systems(fx);
    assert_false(fx->cap.emit_after_sql);
    spec_t crm = {.birth = "1990-01-01", .phone = "07700 900999"};
    spec_t sc = {.birth = "1984-03-08"};
    update(fx, "socialcare", "S1", &sc);
    assert_false(fx->cap.emit_after_sql);
    update(fx, "crm", "C1", &crm); /* a correction and a change */
    assert_true(fx->cap.nemits >= 2 && fx->cap.nstmts >= 2);
    assert_false(fx->cap.emit_after_sql);
    update(fx, "health", "H2", &OMAR_HEALTH);
    steward_ok(fx, "steward.merge", "P0001", "P0002", 0);
    assert_true(fx->cap.nemits > 0);
    assert_false(fx->cap.emit_after_sql);
    steward_ok(fx, "steward.unmerge", "P0001", "P0002", 0);
    assert_true(fx->cap.nemits > 0);
    assert_false(fx->cap.emit_after_sql);
}

static void test_consents_and_codes_round_trip_into_person_changed(void **state)
{
    fixture_t *fx = *state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__Consent c1 = JOINERY__V1__CONSENT__INIT, c2 = JOINERY__V1__CONSENT__INIT;
    Joinery__V1__Consent *cs[2] = {&c1, &c2};
    c1.purpose = "direct-care";
    c1.granted = 1;
    c2.purpose = "research";
    c2.granted = 0;
    p.consents = cs;
    p.n_consents = 2;
    p.nhs_number = "4505577104";
    p.nhs_number_verification =
        JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED;
    p.gp_practice_ods = "b86001";
    p.interpreter_required = 1;
    uint8_t buf[512];
    size_t len = joinery__v1__person__pack(&p, buf);
    assert_int_equal(
        apply_raw(fx, "health", "person.created", "H5", "joinery.v1.Person", buf, len, 0, 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_APPLIED);
    assert_value(fx, "P0001", "consent.direct-care", "granted", "health");
    assert_value(fx, "P0001", "consent.research", "refused", "health");
    assert_value(fx, "P0001", "nhs_number_verification", "01", NULL);
    assert_value(fx, "P0001", "gp_practice_ods", "B86001", NULL);
    const emitted_t *e = sink_find_emit(&fx->cap, "person.changed", "crm");
    assert_non_null(e);
    Joinery__V1__PersonChanged *pc = joinery__v1__person_changed__unpack(NULL, e->len, e->payload);
    assert_non_null(pc);
    assert_int_equal(pc->n_changed_fields, 6);
    assert_int_equal(pc->person->n_consents, 2);
    assert_string_equal(pc->person->consents[0]->purpose, "direct-care");
    assert_true(pc->person->consents[0]->granted);
    assert_false(pc->person->consents[1]->granted);
    assert_int_equal(pc->person->nhs_number_verification, 1);
    assert_true(pc->person->interpreter_required);
    assert_string_equal(pc->person->gp_practice_ods, "B86001");
    joinery__v1__person_changed__free_unpacked(pc, NULL);

    Joinery__V1__Consent bad = JOINERY__V1__CONSENT__INIT;
    bad.purpose = "Research!";
    cs[1] = &bad;
    len = joinery__v1__person__pack(&p, buf);
    assert_int_equal(
        apply_raw(fx, "health", "person.updated", "H5", "joinery.v1.Person", buf, len, 0, 0), 0);
    assert_int_equal(fx->res.outcome, MASTER_REFUSED);
    assert_non_null(strstr(fx->why, "consents"));
}

static void test_dump_is_canonical_and_ids_are_sortable_by_default(void **state)
{
    fixture_t *fx = *state;
    master_set_id_generator(fx->m, NULL, NULL);
    update(fx, "health", "H1", &ANNE);
    char first[MASTER_ID_MAX];
    (void)snprintf(first, sizeof first, "%s", fx->res.master_id);
    update(fx, "health", "H2", &BOB);
    assert_int_equal(strlen(first), 27);
    assert_int_equal(first[0], 'P');
    assert_true(strcmp(first, fx->res.master_id) < 0);
    char *a = dump(fx, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD);
    char *b = dump(fx, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "xref health H1 -> "));
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_person_creates_golden_and_xref_no_match, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_renamed_record_is_matched_under_its_new_name,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_configured_match_parameters_replace_the_defaults,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_nhs_number_from_another_system_links_match, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_non_owner_change_is_refused_with_correction_to_sender,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_change_goes_to_others_in_their_own_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_base_version_is_refused_with_current_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_possible_match_is_queued_with_evidence_and_keep_apart_stops_requeue, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_foreign_postal_code_stays_in_the_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_fields_are_dropped_not_the_person, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_local_id_or_wrong_payload_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_values_are_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_moves_xrefs_and_redirects_the_retired_record,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmerge_restores_both_records_and_every_xref, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unmerge_keeps_changes_made_after_the_merge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_survivorship_by_priority_then_recency, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_without_master_data_adapter_order_decides, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_propose_forwards_the_change_to_the_owner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_merge_from_a_source_system_in_its_own_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_steward_link_merges_a_queued_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_two_records_that_both_qualify_go_to_a_steward_not_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steward_link_by_master_ids_settles_the_open_item,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_second_record_from_the_same_system_links_and_is_notified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_failure_leaves_the_engine_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_messages_reach_the_sink_before_statements, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_consents_and_codes_round_trip_into_person_changed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_is_canonical_and_ids_are_sortable_by_default,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("master", tests, NULL, NULL);
}
