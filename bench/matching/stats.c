/* stats.c - what the generator made, in words and in a file: --stats (households, origins, names,
 * coverage of identifiers, families, namesakes, each system's fields and noise) and --csv (every
 * record with its person: the ground truth). */
#include "matching.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const hh_name[HH_COUNT] = {
    "single adult",      "couple",  "couple + children", "lone parent + children",
    "three generations", "sharers", "namesake (single)"};

typedef struct {
    const char *name;
    size_t count;
} tally_item_t;

static int cmp_tally(const void *a, const void *b)
{
    const tally_item_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The TOP most frequent values of NAMES[0..N) (pointers to strings), by sorting copies. */
static void print_top(const char *title, const char **names, size_t n, size_t top, size_t of)
{
    tally_item_t *t = malloc((n ? n : 1) * sizeof *t);
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!t || !sorted) {
        free(t);
        free(sorted);
        return;
    }
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t nt = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(sorted[j], sorted[i]) == 0)
            j++;
        t[nt++] = (tally_item_t){sorted[i], j - i};
        i = j;
    }
    qsort(t, nt, sizeof *t, cmp_tally);
    printf("  %s (%zu distinct):", title, nt);
    for (size_t i = 0; i < nt && i < top; i++)
        printf("%s %s %.2f%%", i ? "," : "", t[i].name, 100.0 * (double)t[i].count / (double)of);
    printf("\n");
    free(t);
    free(sorted);
}

static uint64_t name_dob_key(const char *given, const char *family, int y, int m, int d)
{
    char buf[3 * NAME_LEN];
    int w = snprintf(buf, sizeof buf, "%s|%s|%04d-%02d-%02d", given, family, y, m, d);
    return fnv1a(buf, w > 0 ? (size_t)w : 0);
}

double pct(size_t a, size_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

void print_stats(const pop_t *pop, const view_t *views, int nsys)
{
    size_t n = pop->n;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    uint64_t *keys = malloc((n ? n : 1) * 2 * sizeof *keys);
    if (!names || !keys) {
        free(names);
        free(keys);
        return;
    }
    printf("generator statistics (seed %" PRIu64 ")\n", pop->opt->seed);
    printf("  people %zu in %u households:", n, pop->households);
    for (int h = 0; h < HH_COUNT; h++)
        printf("%s %s %u", h ? "," : "", hh_name[h], pop->hh_count[h]);
    printf("\n  origins:");
    size_t by_origin[O_COUNT] = {0}, decades[N_DECADES] = {0};
    size_t nhs = 0, ni = 0, adults = 0, phone = 0, email = 0, twins = 0, paired = 0, similar = 0,
           junior = 0, maiden = 0, hyphen = 0, shared = 0, bg = 0, namesakes = 0, male = 0;
    for (size_t i = 0; i < n; i++) {
        const person_t *p = &pop->p[i];
        by_origin[p->origin]++;
        decades[decade_of(p->by)]++;
        nhs += p->nhs[0] != 0;
        adults += age_at_ref(p->by) >= 16;
        ni += p->ni[0] != 0;
        phone += p->phone[0] != 0;
        email += p->email[0] != 0;
        twins += (p->flags & PF_TWIN) != 0;
        bg += (p->flags & PF_TWIN) && pop->p[p->twin].sex != p->sex;
        paired += (p->flags & PF_TWIN_PAIRED) != 0;
        similar += (p->flags & PF_TWIN_SIMILAR) != 0;
        junior += (p->flags & PF_JUNIOR) != 0;
        maiden += p->maiden[0] != 0;
        hyphen += (p->flags & PF_HYPHEN) != 0;
        shared += (p->flags & PF_SHARED_PHONE) != 0;
        namesakes += (p->flags & PF_NAMESAKE) != 0;
        male += p->sex == SEX_M;
    }
    for (int o = 0; o < O_COUNT; o++)
        printf("%s %s %.1f%%", o ? "," : "", origin_name[o], pct(by_origin[o], n));
    printf("\n  birth decades:");
    for (int d = 0; d < N_DECADES; d++)
        printf(" %ds %.1f%%", FIRST_YEAR + 10 * d, pct(decades[d], n));
    printf("\n  sex: male %.1f%%, female %.1f%%\n", pct(male, n), pct(n - male, n));
    for (size_t i = 0; i < n; i++)
        names[i] = pop->p[i].family;
    printf("  surname table: %zu listed + %zu generated tail names; Smith %.3f%% by the table\n",
           n_listed, pop->nsur - n_listed, pop->sur[0].per100k / 1000.0);
    print_top("surnames, top 10", names, n, 10, n);
    static const int show_decades[] = {1, 4, 8};
    for (int s = SEX_M; s <= SEX_F; s++)
        for (size_t k = 0; k < sizeof show_decades / sizeof show_decades[0]; k++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (pop->p[i].sex == s && decade_of(pop->p[i].by) == show_decades[k])
                    names[m++] = pop->p[i].given;
            char title[64];
            (void)snprintf(title, sizeof title, "%s forenames born %ds, top 6",
                           s == SEX_M ? "male" : "female", FIRST_YEAR + 10 * show_decades[k]);
            print_top(title, names, m, 6, m);
        }
    printf("  coverage: NHS number %.1f%%, NI number %.1f%% of those 16+, mobile %.1f%%, e-mail "
           "%.1f%%\n",
           pct(nhs, n), pct(ni, adults), pct(phone, n), pct(email, n));
    printf("  families: %zu twins (%zu pairs; %zu boy/girl, %zu named as a pair like "
           "Alexander/Alexandra, %zu with similar names like Jack/Jake), %zu children sharing a "
           "parent's forename, %zu women with a maiden name, %zu double-barrelled, %zu children "
           "with a parent's mobile\n",
           twins, twins / 2, bg / 2, paired / 2, similar / 2, junior, maiden, hyphen, shared);
    /* Namesakes: distinct people with the same forename, surname and birth date. */
    for (size_t i = 0; i < n; i++) {
        const person_t *p = &pop->p[i];
        keys[i] = name_dob_key(p->given, p->family, p->by, p->bm, p->bd);
    }
    qsort(keys, n, sizeof *keys, cmp_u64);
    size_t pairs = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && keys[j] == keys[i])
            j++;
        pairs += (j - i) * (j - i - 1) / 2;
        i = j;
    }
    size_t cross = 0;
    if (nsys >= 2) {
        /* The hard negatives proper: one of them in socialcare, the other in crm. */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const person_t *p = &pop->p[i];
            uint64_t k = name_dob_key(p->given, p->family, p->by, p->bm, p->bd) & ~3ULL;
            if (p->systems & 1)
                keys[m++] = k | 1;
            if (p->systems & 2)
                keys[m++] = k | 2;
        }
        qsort(keys, m, sizeof *keys, cmp_u64);
        for (size_t i = 0; i < m;) {
            size_t j = i, a = 0, b = 0;
            while (j < m && (keys[j] & ~3ULL) == (keys[i] & ~3ULL)) {
                a += (keys[j] & 3) == 1;
                b += (keys[j] & 3) == 2;
                j++;
            }
            cross += a * b;
            i = j;
        }
    }
    size_t in_both = 0;
    for (size_t i = 0; i < n; i++)
        in_both += (pop->p[i].systems & 3) == 3;
    printf("  namesakes (different people, same forename + surname + birth date): %zu pairs, %zu "
           "made deliberately in another town; socialcare x crm record pairs between namesakes: "
           "%zu\n",
           pairs, namesakes, cross - in_both);
    for (int s = 0; s < nsys; s++) {
        const view_t *v = &views[s];
        size_t f_nhs = 0, f_ni = 0, f_phone = 0, f_email = 0, f_uprn = 0, f_dob = 0;
        for (size_t i = 0; i < v->n; i++) {
            const record_t *r = &v->rec[i];
            f_nhs += r->nhs[0] != 0;
            f_ni += r->ni[0] != 0;
            f_phone += r->phone[0] != 0;
            f_email += r->email[0] != 0;
            f_uprn += r->uprn[0] != 0;
            f_dob += r->birth[0] != 0;
        }
        printf("  system %s: %zu records; NHS %.1f%%, NI %.1f%%, birth date %.1f%%, mobile %.1f%%, "
               "e-mail %.1f%%, UPRN %.1f%%\n",
               v->pf->adapter, v->n, pct(f_nhs, v->n), pct(f_ni, v->n), pct(f_dob, v->n),
               pct(f_phone, v->n), pct(f_email, v->n), pct(f_uprn, v->n));
    }
    printf("  noise, applied / records where it can apply:\n");
    printf("    %-34s", "");
    for (int s = 0; s < nsys; s++)
        printf(" %24s", views[s].pf->adapter);
    printf("\n");
    for (int k = 0; k < N_COUNT; k++) {
        printf("    %-34s", noise_name[k]);
        for (int s = 0; s < nsys; s++) {
            char cell[48];
            (void)snprintf(cell, sizeof cell, "%zu/%zu %5.2f%%", views[s].applied[k],
                           views[s].applicable[k],
                           pct(views[s].applied[k], views[s].applicable[k]));
            printf(" %24s", cell);
        }
        printf("\n");
    }
    free(names);
    free(keys);
}

const char *sex_text(int sex)
{
    return sex == 1 ? "male" : sex == 2 ? "female" : "";
}

/* Every record with its person: the ground truth, for inspection or other tools. */
int write_csv(const char *path, const pop_t *pop, const view_t *views, int nsys)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_matching: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "system,local_id,person,household,given,middle,family,maiden,birth_date,sex,nhs,"
               "ni,line,town,postcode,uprn,phone,email,noise,kin\n");
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            const record_t *r = &views[s].rec[i];
            char id[32], noise[512], kin[64] = "";
            local_id(views[s].pf, i, id, sizeof id);
            noise_text(r->noise, noise, sizeof noise);
            const person_t *p = &pop->p[r->person];
            if (p->twin >= 0)
                (void)snprintf(kin, sizeof kin, "twin of P%06d%s", p->twin,
                               p->flags & PF_TWIN_PAIRED    ? " (paired names)"
                               : p->flags & PF_TWIN_SIMILAR ? " (similar names)"
                                                            : "");
            else if (p->namesake_of >= 0)
                (void)snprintf(kin, sizeof kin, "namesake of P%06d", p->namesake_of);
            else if (p->flags & PF_JUNIOR)
                (void)snprintf(kin, sizeof kin, "shares a parent's forename");
            fprintf(f, "%s,%s,P%06u,H%06u,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                    views[s].pf->adapter, id, r->person, pop->p[r->person].household, r->given,
                    r->middle, r->family, r->maiden, r->birth, sex_text(r->sex), r->nhs, r->ni,
                    r->line, r->town, r->postcode, r->uprn, r->phone, r->email, noise, kin);
        }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_matching: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}
