/* fuzz_csv.c - libFuzzer harness for the shared CSV reader and writer (adapters/common/adapter_csv)
 * and the Agresso customer mapping behind it: any bytes as a file. The first byte picks the
 * delimiter and the limits. Nothing may read out of bounds; every row and every error must lie
 * inside the buffer; and a row written back by the writer must read back as the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agresso/agresso_customer.h"
#include "common/adapter_csv.h"

static char out[1 << 17];

static void round_trip(const adapter_csv_row_t *row, char delim)
{
    size_t used = 0;
    if (adapter_csv_write_row(out, sizeof out, &used, row->field, row->nfields, delim) != 0)
        return;
    adapter_csv_opts_t o = {
        .delimiter = delim, .max_field = 1 << 16, .max_fields = 1024, .max_row = sizeof out};
    adapter_csv_t *r = adapter_csv_new(&o, out, used);
    if (r == NULL)
        abort();
    adapter_csv_row_t back;
    adapter_csv_error_t e;
    int empty = row->nfields == 1 && row->len[0] == 0; /* a blank line is not a row */
    int rc = adapter_csv_next(r, &back, &e);
    if (empty ? rc != 0 : rc != 1 || back.nfields != row->nfields)
        abort();
    for (size_t i = 0; !empty && i < row->nfields; i++)
        if (back.len[i] != row->len[i] || memcmp(back.field[i], row->field[i], row->len[i]) != 0)
            abort();
    adapter_csv_destroy(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {',', ';', '|', '\t'};
    if (size == 0)
        return 0;
    char delim = delims[data[0] & 3];
    adapter_csv_opts_t o = {.delimiter = delim,
                            .max_field = (data[0] & 4) ? 16 : 4096,
                            .max_fields = (data[0] & 8) ? 4 : 64,
                            .max_row = (data[0] & 16) ? 64 : 65536};
    /* an exact-size copy, so a read past the end is caught */
    char *copy = malloc(size - 1 ? size - 1 : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data + 1, size - 1);
    adapter_csv_t *r = adapter_csv_new(&o, copy, size - 1);
    if (r == NULL)
        abort();
    adapter_csv_row_t row;
    adapter_csv_error_t e;
    customer_header_t h;
    customer_t *c = malloc(sizeof *c);
    int have_header = 0, rc;
    char why[256];
    const char *column;
    while ((rc = adapter_csv_next(r, &row, &e)) != 0) {
        const char *lo = copy, *hi = copy + (size - 1);
        if (rc < 0) {
            if (e.raw < lo || e.raw + e.raw_len > hi || e.line == 0 || e.column == 0)
                abort();
            continue;
        }
        if (row.raw < lo || row.raw + row.raw_len > hi || row.nfields == 0)
            abort();
        round_trip(&row, delim);
        if (!have_header)
            have_header = customer_header(&row, &h, why, sizeof why) == 0;
        else if (c != NULL)
            (void)customer_from_row(&h, &row, "2026-12-07", c, &column, why, sizeof why);
    }
    free(c);
    adapter_csv_destroy(&r);
    free(copy);
    return 0;
}
