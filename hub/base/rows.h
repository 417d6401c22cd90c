/* rows.h - typed rows: what one row of a table is, said once as static data.
 *
 * Whoever writes rows of a table (the master-data engine: golden records,
 * history, the cross-reference, audit, steward items) describes the table
 * once, as a static const row_desc_t: its name, and the columns a row gives,
 * in order, each with its type. A row is then one row_val_t per column:
 * numbers as numbers, text as a NUL-terminated string. Whoever stores the
 * rows (the store) builds its binary COPY from the descriptor alone: it
 * neither parses SQL nor asks the catalog for the column types, and a number
 * is never printed only to be parsed back.
 *
 * Rows whose effect is the last row per key within a batch (a golden record
 * changed twice) are described by a row_upsert_t: the table's descriptor, a
 * temporary stage table made like the table, and the statement that merges
 * the stage into the table.
 *
 * A descriptor must agree with the table the migrations make; a unit test
 * (test_master_pg) compares every descriptor the engine declares with the
 * catalog. Descriptors are compared by address: they are static data.
 *
 * Here in base because both the engine and the store use it, and neither
 * may include the other (docs/architecture.md). Types and inline helpers
 * only. */
#ifndef JOINERY_ROWS_H
#define JOINERY_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* A column's type, as PostgreSQL names it in row_type_sql. */
typedef enum {
    ROW_TEXT,   /* text: the string's bytes */
    ROW_JSON,   /* json: the text */
    ROW_JSONB,  /* jsonb: the text */
    ROW_INT8,   /* bigint */
    ROW_INT4,   /* integer: a value outside int32_t is refused */
    ROW_FLOAT8, /* double precision */
    ROW_BOOL,   /* boolean */
} row_type_t;

#define ROW_MAX_COLS 10

typedef struct {
    const char *name;
    row_type_t type;
} row_col_t;

/* A table and the columns of one of its rows, in the order of the values. Columns not named
 * take their default. */
typedef struct {
    const char *table;
    int ncols;
    row_col_t cols[ROW_MAX_COLS];
} row_desc_t;

/* Rows of ROW's table gathered per batch: copied into STAGE, a temporary table created
 * (LIKE table) ON COMMIT DELETE ROWS on first use per connection, the last row per key only;
 * then MERGE (INSERT INTO table ... SELECT ... FROM stage ON CONFLICT ...) applies them in one
 * statement. The first NKEY columns are the conflict key. */
typedef struct {
    const row_desc_t *row;
    const char *stage;
    const char *merge;
    int nkey;
} row_upsert_t;

/* One value of a row. NULL is SQL NULL (and so is a NULL string); otherwise the member its
 * column's type says: s for text, json and jsonb; i for bigint and integer; d for double
 * precision; b for boolean. */
typedef struct {
    union {
        const char *s;
        int64_t i;
        double d;
        bool b;
    };
    bool null;
} row_val_t;

static inline row_val_t row_text(const char *s)
{
    return (row_val_t){.s = s, .null = s == 0};
}

static inline row_val_t row_int(int64_t i)
{
    return (row_val_t){.i = i};
}

static inline row_val_t row_float8(double d)
{
    return (row_val_t){.d = d};
}

static inline row_val_t row_bool(bool b)
{
    return (row_val_t){.b = b};
}

static inline row_val_t row_null(void)
{
    return (row_val_t){.null = true};
}

/* The type's name as the catalog says it (format_type). */
static inline const char *row_type_sql(row_type_t t)
{
    switch (t) {
    case ROW_TEXT:
        return "text";
    case ROW_JSON:
        return "json";
    case ROW_JSONB:
        return "jsonb";
    case ROW_INT8:
        return "bigint";
    case ROW_INT4:
        return "integer";
    case ROW_FLOAT8:
        return "double precision";
    case ROW_BOOL:
        return "boolean";
    }
    return "?";
}

#endif
