/* adapter_csv.h - CSV as the systems that export files write it (RFC 4180), read and written.
 *
 * The reader streams over a buffer the caller holds (a whole file, read or mapped): quoted
 * fields, doubled quotes inside them, CRLF, LF or a lone CR between records, line breaks inside
 * quotes, a UTF-8 byte order mark at the start, and a delimiter of the caller's choice (',' ';'
 * '|' or a tab). Each row comes with the line it starts on, so a system's operator can find it in
 * the file they exported; a blank line is not a row. A row that is wrong (a NUL byte, bytes that
 * are not UTF-8, a field or row over the limits, a quote in the middle of an unquoted field,
 * text after a closing quote, a quote never closed) is reported with its line, column and field
 * and skipped to the end of its line, and reading goes on with the next: one bad row must not
 * cost the rows after it.
 *
 *     adapter_csv_t *r = adapter_csv_new(&opts, data, len);
 *     adapter_csv_row_t row;
 *     adapter_csv_error_t e;
 *     int rc;
 *     while ((rc = adapter_csv_next(r, &row, &e)) != 0)
 *         if (rc > 0) use(row.field[0] ...); else report(e.line, e.column, e.reason);
 *
 * Memory is fixed at creation (a row's worth of decoded fields); nothing is allocated per row.
 * The writer quotes a field only when it must (it holds the delimiter, a quote, CR or LF, or
 * begins or ends with a blank, which some readers trim). */
#ifndef JOINERY_ADAPTER_CSV_H
#define JOINERY_ADAPTER_CSV_H

#include <stddef.h>

#define ADAPTER_CSV_REASON 160

typedef struct {
    char delimiter;    /* 0 -> ',' */
    size_t max_field;  /* bytes of one decoded field; 0 -> 4096 */
    size_t max_fields; /* fields of one row; 0 -> 64 */
    size_t max_row;    /* bytes of one row as written in the file; 0 -> 65536 */
} adapter_csv_opts_t;

typedef struct {
    const char *const *field; /* NUL-terminated, valid until the next call */
    const size_t *len;        /* each field's length */
    size_t nfields;
    unsigned long line; /* the line the row starts on, 1-based */
    const char *raw;    /* the row as written (without its line break), in the buffer */
    size_t raw_len;
} adapter_csv_row_t;

typedef struct {
    unsigned long line;   /* 1-based */
    unsigned long column; /* 1-based byte position in that line */
    size_t field;         /* 1-based field of the row */
    char reason[ADAPTER_CSV_REASON];
    const char *raw; /* the row as written up to the end of the line where it went wrong */
    size_t raw_len;
} adapter_csv_error_t;

typedef struct adapter_csv adapter_csv_t;

/* A reader over DATA (LEN bytes, borrowed: it must outlive the reader). NULL if out of memory or
 * the delimiter is one that cannot be (a quote, CR, LF, NUL). */
adapter_csv_t *adapter_csv_new(const adapter_csv_opts_t *o, const void *data, size_t len);
void adapter_csv_destroy(adapter_csv_t **r);

/* 1 and *ROW for the next row; 0 at the end; -1 and *ERR for a row that is wrong (reading goes on
 * after it). */
int adapter_csv_next(adapter_csv_t *r, adapter_csv_row_t *row, adapter_csv_error_t *err);

/* Bytes of the buffer read so far. */
size_t adapter_csv_offset(const adapter_csv_t *r);

/* Appends the N fields (each NUL-terminated; NULL is written as empty) as one row ending with CRLF
 * to OUT (CAP bytes, *USED of them already used). -1 with *USED unchanged when they do not fit. */
int adapter_csv_write_row(char *out, size_t cap, size_t *used, const char *const *fields, size_t n,
                          char delimiter);

#endif
