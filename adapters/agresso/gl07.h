/* gl07.h - a care package as Agresso GL07 batch input: the general-ledger transaction a nightly
 * Agresso job loads. One row per care-package event that has something to charge; the columns
 * and the coding rules are in docs/adapters.md, "Connecting Unit4 Agresso (ERP)". Pure. */
#ifndef JOINERY_AGRESSO_GL07_H
#define JOINERY_AGRESSO_GL07_H

#include <stddef.h>
#include <stdint.h>

#include "joinery/v1/case.pb-c.h"

/* The council's coding, from the configuration's gl07 section; borrowed strings. */
typedef struct {
    const char *batch_prefix; /* batch id = prefix + the delivery's journal sequence number */
    const char *interface;    /* Agresso's interface code for this feed, e.g. BI */
    const char *voucher_type; /* e.g. GL */
    const char *client;       /* the Agresso client (company), e.g. LC */
    const char *account;      /* the care-charge income account */
    const char *cost_centre;  /* dim_1 */
    const char *tax_code;     /* e.g. 0 */
    const char *currency;     /* e.g. GBP */
} gl07_coding_t;

#define GL07_FIELDS 17
extern const char *const GL07_COLUMNS[GL07_FIELDS];

typedef enum { GL07_ROW, GL07_NOTHING, GL07_REFUSED } gl07_result_t;

/* The GL07 row for care package CP, delivered as journal entry SEQ and written on DATE_YMD
 * (YYYYMMDD, the transaction date; its YYYYMM is the period). GL07_ROW and FIELDS (GL07_FIELDS,
 * pointing into CP, C or TEXT of CAP bytes); GL07_NOTHING when there is nothing to charge (a
 * package suspended or ended); GL07_REFUSED with WHY when it cannot be coded. */
gl07_result_t gl07_row(const gl07_coding_t *c, const Joinery__V1__CarePackage *cp, uint64_t seq,
                       const char *date_ymd, const char **fields, char *text, size_t cap, char *why,
                       size_t why_len);

/* PENCE as Agresso's amount: "1234.56", "-0.05". OUT holds 24 bytes. */
void gl07_amount(int64_t pence, char out[24]);

#endif
