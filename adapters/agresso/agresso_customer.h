/* agresso_customer.h - Agresso's customer master, both ways: a row of its CSV export as a
 * joinery.v1.Person (checked by the hub's own rules, so what the hub would refuse is refused here
 * with the line and column an operator can find), and a golden-record change (PersonChanged, in
 * Agresso's own customer id) as a row of its customer import file. Pure functions over buffers;
 * the columns are documented in docs/adapters.md, "Connecting Unit4 Agresso (ERP)". */
#ifndef JOINERY_AGRESSO_CUSTOMER_H
#define JOINERY_AGRESSO_CUSTOMER_H

#include <stddef.h>

#include "common/adapter_csv.h"
#include "joinery/v1/person.pb-c.h"

typedef enum {
    COL_CUSTOMER_ID,
    COL_NAME,
    COL_GIVEN_NAME,
    COL_FAMILY_NAME,
    COL_DATE_OF_BIRTH,
    COL_ADDRESS_LINE1,
    COL_ADDRESS_LINE2,
    COL_TOWN,
    COL_POSTCODE,
    COL_PHONE,
    COL_EMAIL,
    COL_NHS_NUMBER,
    COL_COUNT
} customer_col_t;

/* The column names, in the order of the import file Joinery writes. */
extern const char *const CUSTOMER_COLUMNS[COL_COUNT];

#define CUSTOMER_IMPORT_FIELDS (COL_COUNT + 3) /* + master_id, version, changed_fields */
extern const char *const CUSTOMER_IMPORT_COLUMNS[CUSTOMER_IMPORT_FIELDS];

/* Where each column is in the export, from its header row. */
typedef struct {
    size_t at[COL_COUNT];
    size_t nfields;
} customer_header_t;

/* 0 when ROW names every column once (any order, any case, blanks around names ignored) and
 * nothing else; -1 with WHY otherwise. */
int customer_header(const adapter_csv_row_t *row, customer_header_t *h, char *why, size_t why_len);

#define CUSTOMER_TEXT 1024 /* bytes of normalised text one customer may hold */

/* One customer as a Person; everything points into the struct itself. */
typedef struct {
    Joinery__V1__Person person;
    Joinery__V1__HumanName name;
    char *given[1];
    Joinery__V1__Address addr, *addrs[1];
    char *lines[2];
    Joinery__V1__ContactPoint tel[2], *tels[2];
    const char *customer_id;
    char text[CUSTOMER_TEXT];
    size_t used;
} customer_t;

/* Maps a data row. TODAY is "YYYY-MM-DD" (a birth date may not be after it). 0 and *OUT; -1 with
 * the column at fault (a name from CUSTOMER_COLUMNS, or "" for the row) in *COLUMN and WHY. */
int customer_from_row(const customer_header_t *h, const adapter_csv_row_t *row, const char *today,
                      customer_t *out, const char **column, char *why, size_t why_len);

/* The import row for a PersonChanged: its fields into FIELDS (CUSTOMER_IMPORT_FIELDS entries,
 * pointing into PC or into TEXT of CAP bytes). -1 with WHY when it cannot be one (no local id). */
int customer_import_row(const Joinery__V1__PersonChanged *pc, const char **fields, char *text,
                        size_t cap, char *why, size_t why_len);

#endif
