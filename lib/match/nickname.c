/* nickname.c - the British forename tables: nickname/diminutive groups (William/Bill/Will) and
 * opposite-sex forms of one name (Alexander/Alexandra), each with the sorted index the comparisons
 * search, and the questions asked of them (match_is_nickname, the prepared forename's runs, the
 * decision's "short form of two names" and "one keystroke from its opposite-sex form").
 *
 * Nearly all of this file is the two tables and their generated indexes: data, edited here and
 * nowhere else; test_match checks that each index agrees with its groups. */
#include "match/match_int.h"

#include <stdlib.h>
#include <string.h>

/* Nicknames
 *
 * Groups rather than pairs: every name in a group is equivalent to every other, which covers
 * William/Bill/Will/Billy in one line. A diminutive shared by two formal names (Alex, Chris, Sam,
 * Pat, Jo, Ted, Fred, Bert) appears in each group separately, so the formal names never become
 * equivalent to each other through it. Standalone modern names that merely derive from an old
 * one (Liam, Elsie as given names in their own right) are left out on purpose: a match must not
 * turn two siblings into one person. Jake, Bella and Lottie are given names in their own right too
 * but far more often the short form a second system holds for Jacob, Isabella and Charlotte; a
 * pair of siblings so named would still need one birth date (twins) to be at risk. Charlie is not
 * in Charlotte's group: it is a boy's name as often as her nickname, and Charles/Charlotte are how
 * boy/girl twins are named. */
static const char *const nickname_groups[] = {
    "WILLIAM BILL BILLY WILL WILLIE WILLY",
    "ELIZABETH LIZ LIZZIE LIZZY BETH BETTY BETSY BESS BESSIE LIBBY ELIZA",
    "ROBERT BOB BOBBY ROB ROBBIE",
    "MARGARET MAGGIE MAGS MEG PEGGY PEG MADGE MARGE MARGIE",
    "CATHERINE KATHERINE CATHRYN KATHRYN KATE KATIE CATH CATHY KATHY KAT KITTY",
    "JAMES JIM JIMMY JIMMIE JAMIE",
    "RICHARD DICK DICKIE RICH RICHIE RICK RICKY",
    "JOHN JACK JOHNNY JOHNNIE",
    "JONATHAN JON JONNY JONNIE",
    "EDWARD ED EDDIE EDDY TED TEDDY NED",
    "EDMUND ED EDDIE NED",
    "THEODORE THEO TED TEDDY",
    "CHARLES CHARLIE CHAS CHAZ CHUCK",
    "THOMAS TOM TOMMY",
    "ANTHONY TONY ANT",
    "MICHAEL MIKE MIKEY MICK MICKY MICKEY",
    "DAVID DAVE DAVY DAI",
    "STEPHEN STEVEN STEVE STEVIE",
    "CHRISTOPHER KRISTOPHER CHRIS KIT",
    "CHRISTINE CHRIS CHRISSIE CHRISSY",
    "CHRISTINA CHRIS CHRISSIE CHRISSY TINA",
    "ALEXANDER ALEX ALEC SANDY",
    "ALEXANDRA ALEX LEXI LEXIE",
    "SAMUEL SAM SAMMY",
    "SAMANTHA SAM SAMMY SAMMIE",
    "PATRICK PAT PADDY",
    "PATRICIA PAT PATSY PATTY TRISH TRICIA",
    "FREDERICK FRED FREDDIE FREDDY",
    "ALFRED ALF ALFIE FRED",
    "ALBERT BERT BERTIE AL",
    "HERBERT BERT HERB",
    "HENRY HARRY HAL",
    "HAROLD HARRY HAL",
    "JOSEPH JOE JOEY",
    "JOSEPHINE JO JOSIE",
    "JOANNE JOANNA JO",
    "BENJAMIN BEN BENNY BENJI",
    "DANIEL DAN DANNY",
    "MATTHEW MATT MATTY",
    "NICHOLAS NICK NICKY",
    "NICOLA NIKKI NICKY",
    "PETER PETE",
    "PHILIP PHILLIP PHIL PIP",
    "TIMOTHY TIM TIMMY",
    "ANDREW ANDY DREW",
    "GEOFFREY JEFFREY GEOFF JEFF",
    "KENNETH KEN KENNY",
    "LAWRENCE LAURENCE LARRY LAURIE",
    "LEONARD LEN LENNY LENNIE",
    "RAYMOND RAY",
    "RONALD RON RONNIE",
    "DONALD DON DONNIE",
    "GERALD GERRY JERRY GED",
    "DOUGLAS DOUG DOUGIE",
    "NATHANIEL NAT NATE",
    "ZACHARY ZAC ZACH ZACK",
    "GREGORY GREG",
    "TERENCE TERRY",
    "THERESA TERESA TESS TESSA TERRI",
    "VICTORIA VICKY VICKI TORI",
    "REBECCA BECKY BECCA BEX",
    "JENNIFER JENNY JEN JENNI",
    "SUSAN SUE SUZY SUSIE",
    "DEBORAH DEBRA DEBBIE DEB",
    "KIMBERLEY KIMBERLY KIM",
    "ABIGAIL ABBY ABBIE ABI",
    "ANNE ANN ANNIE NAN",
    "MARY MOLLY MOLLIE POLLY MAMIE",
    "SARAH SARA SALLY SADIE",
    "HELEN NELL NELLIE",
    "ELEANOR ELINOR ELLIE NELL NELLIE",
    "DOROTHY DOT DOTTIE DOLLY",
    "FRANCES FRAN FRANNIE FANNY",
    "FRANCIS FRANK FRANKIE",
    "JACQUELINE JACKIE JACQUI",
    "PAMELA PAM",
    "JUDITH JUDY JUDE",
    "ARCHIBALD ARCHIE",
    "ANGELA ANGIE",
    "CAROLINE CAROLYN CARRIE CARO",
    "VALERIE VAL",
    "ALISON ALLISON ALI ALLY",
    "OLIVER OLLIE OLLY",
    "OLIVIA LIV LIVVY LIVVIE",
    "ISABEL ISABELLE ISOBEL ISABELLA BELLA IZZY IZZIE ISSY",
    "PENELOPE PENNY",
    "GILLIAN JILL GILL JILLY",
    "KATHLEEN KATH KATHY",
    "MALCOLM MAL",
    "HUGH HUGHIE",
    "DEREK DEL",
    "SIDNEY SYDNEY SID",
    "AMANDA MANDY",
    "JESSICA JESS",
    "JOSHUA JOSH",
    "JACOB JAKE",
    "NATHAN NATE",
    "CHARLOTTE LOTTIE",
    "STANLEY STAN",
    "LESLIE LES",
    "ERNEST ERNIE",
    "REGINALD REG REGGIE",
    "WALTER WALLY WALT",
    "CYRIL CY",
    "BARBARA BABS",
    /* Spelling and transliteration variants that Jaro-Winkler scores below 0.92. */
    "MUHAMMAD MUHAMMED MOHAMMED MOHAMMAD MOHAMED MOHAMMUD",
    "SEAN SHAUN SHAWN",
    "AISHA AYESHA",
};

/* Opposite-sex forms of one name. Jaro-Winkler rates Alexander/Alexandra at 0.96, which would
 * read as a typo, yet this is precisely how boy/girl twins are named; such pairs compare as
 * DIFFERENT forenames so that the twin guard applies even when sex is not recorded. */
static const char *const gendered_groups[] = {
    "ALEXANDER ALEXANDRA",
    "DANIEL DANIELLE DANIELA",
    "FRANCIS FRANCES",
    "LOUIS LOUISE LOUISA",
    "JOSEPH JOSEPHINE",
    "PAUL PAULA PAULINE",
    "ROBERT ROBERTA",
    "GEORGE GEORGIA GEORGINA",
    "HENRY HENRIETTA",
    "ERIC ERICA",
    "JULIAN JULIANA JULIANNE",
    "JULIUS JULIA JULIE",
    "ANDREW ANDREA",
    "NICHOLAS NICOLA",
    "PATRICK PATRICIA",
    "CARL CARLA",
    "DENIS DENNIS DENISE",
    "GABRIEL GABRIELLE GABRIELA",
    "MICHAEL MICHAELA",
    "CHRISTIAN CHRISTINA",
    "STEPHEN STEPHANIE",
    "VICTOR VICTORIA",
    "ADRIAN ADRIANA ADRIENNE",
    "MARTIN MARTINA",
    "BERNARD BERNADETTE",
    "EDWARD EDWINA",
    "OLIVER OLIVIA",
    "NOEL NOELLE",
    "JOEL JOELLE",
    "MARIO MARIA",
    "BILLY BILLIE",
    "JOHN JOAN",
    "JAMES JAMESINA",
    "THOMAS THOMASINA",
    "WILLIAM WILHELMINA",
    "CHARLES CHARLOTTE",
    "SAMUEL SAMANTHA",
    "RYAN RYANNE",
    "JEAN JEANNE",
};

typedef struct {
    const char *name;
    uint16_t group;
} match_name_group_t;

/* nickname_groups, sorted by name for bsearch: (name, group). Generated from the
 * groups above; test_match checks the two agree. */
static const match_name_group_t nickname_groups_index[] = {
    {"ABBIE", 65},       {"ABBY", 65},      {"ABI", 65},        {"ABIGAIL", 65},
    {"AISHA", 107},      {"AL", 29},        {"ALBERT", 29},     {"ALEC", 21},
    {"ALEX", 21},        {"ALEX", 22},      {"ALEXANDER", 21},  {"ALEXANDRA", 22},
    {"ALF", 28},         {"ALFIE", 28},     {"ALFRED", 28},     {"ALI", 81},
    {"ALISON", 81},      {"ALLISON", 81},   {"ALLY", 81},       {"AMANDA", 92},
    {"ANDREW", 44},      {"ANDY", 44},      {"ANGELA", 78},     {"ANGIE", 78},
    {"ANN", 66},         {"ANNE", 66},      {"ANNIE", 66},      {"ANT", 14},
    {"ANTHONY", 14},     {"ARCHIBALD", 77}, {"ARCHIE", 77},     {"AYESHA", 107},
    {"BABS", 104},       {"BARBARA", 104},  {"BECCA", 60},      {"BECKY", 60},
    {"BELLA", 84},       {"BEN", 36},       {"BENJAMIN", 36},   {"BENJI", 36},
    {"BENNY", 36},       {"BERT", 29},      {"BERT", 30},       {"BERTIE", 29},
    {"BESS", 1},         {"BESSIE", 1},     {"BETH", 1},        {"BETSY", 1},
    {"BETTY", 1},        {"BEX", 60},       {"BILL", 0},        {"BILLY", 0},
    {"BOB", 2},          {"BOBBY", 2},      {"CARO", 79},       {"CAROLINE", 79},
    {"CAROLYN", 79},     {"CARRIE", 79},    {"CATH", 4},        {"CATHERINE", 4},
    {"CATHRYN", 4},      {"CATHY", 4},      {"CHARLES", 12},    {"CHARLIE", 12},
    {"CHARLOTTE", 97},   {"CHAS", 12},      {"CHAZ", 12},       {"CHRIS", 18},
    {"CHRIS", 19},       {"CHRIS", 20},     {"CHRISSIE", 19},   {"CHRISSIE", 20},
    {"CHRISSY", 19},     {"CHRISSY", 20},   {"CHRISTINA", 20},  {"CHRISTINE", 19},
    {"CHRISTOPHER", 18}, {"CHUCK", 12},     {"CY", 103},        {"CYRIL", 103},
    {"DAI", 16},         {"DAN", 37},       {"DANIEL", 37},     {"DANNY", 37},
    {"DAVE", 16},        {"DAVID", 16},     {"DAVY", 16},       {"DEB", 63},
    {"DEBBIE", 63},      {"DEBORAH", 63},   {"DEBRA", 63},      {"DEL", 90},
    {"DEREK", 90},       {"DICK", 6},       {"DICKIE", 6},      {"DOLLY", 71},
    {"DON", 51},         {"DONALD", 51},    {"DONNIE", 51},     {"DOROTHY", 71},
    {"DOT", 71},         {"DOTTIE", 71},    {"DOUG", 53},       {"DOUGIE", 53},
    {"DOUGLAS", 53},     {"DREW", 44},      {"ED", 9},          {"ED", 10},
    {"EDDIE", 9},        {"EDDIE", 10},     {"EDDY", 9},        {"EDMUND", 10},
    {"EDWARD", 9},       {"ELEANOR", 70},   {"ELINOR", 70},     {"ELIZA", 1},
    {"ELIZABETH", 1},    {"ELLIE", 70},     {"ERNEST", 100},    {"ERNIE", 100},
    {"FANNY", 72},       {"FRAN", 72},      {"FRANCES", 72},    {"FRANCIS", 73},
    {"FRANK", 73},       {"FRANKIE", 73},   {"FRANNIE", 72},    {"FRED", 27},
    {"FRED", 28},        {"FREDDIE", 27},   {"FREDDY", 27},     {"FREDERICK", 27},
    {"GED", 52},         {"GEOFF", 45},     {"GEOFFREY", 45},   {"GERALD", 52},
    {"GERRY", 52},       {"GILL", 86},      {"GILLIAN", 86},    {"GREG", 56},
    {"GREGORY", 56},     {"HAL", 31},       {"HAL", 32},        {"HAROLD", 32},
    {"HARRY", 31},       {"HARRY", 32},     {"HELEN", 69},      {"HENRY", 31},
    {"HERB", 30},        {"HERBERT", 30},   {"HUGH", 89},       {"HUGHIE", 89},
    {"ISABEL", 84},      {"ISABELLA", 84},  {"ISABELLE", 84},   {"ISOBEL", 84},
    {"ISSY", 84},        {"IZZIE", 84},     {"IZZY", 84},       {"JACK", 7},
    {"JACKIE", 74},      {"JACOB", 95},     {"JACQUELINE", 74}, {"JACQUI", 74},
    {"JAKE", 95},        {"JAMES", 5},      {"JAMIE", 5},       {"JEFF", 45},
    {"JEFFREY", 45},     {"JEN", 61},       {"JENNI", 61},      {"JENNIFER", 61},
    {"JENNY", 61},       {"JERRY", 52},     {"JESS", 93},       {"JESSICA", 93},
    {"JILL", 86},        {"JILLY", 86},     {"JIM", 5},         {"JIMMIE", 5},
    {"JIMMY", 5},        {"JO", 34},        {"JO", 35},         {"JOANNA", 35},
    {"JOANNE", 35},      {"JOE", 33},       {"JOEY", 33},       {"JOHN", 7},
    {"JOHNNIE", 7},      {"JOHNNY", 7},     {"JON", 8},         {"JONATHAN", 8},
    {"JONNIE", 8},       {"JONNY", 8},      {"JOSEPH", 33},     {"JOSEPHINE", 34},
    {"JOSH", 94},        {"JOSHUA", 94},    {"JOSIE", 34},      {"JUDE", 76},
    {"JUDITH", 76},      {"JUDY", 76},      {"KAT", 4},         {"KATE", 4},
    {"KATH", 87},        {"KATHERINE", 4},  {"KATHLEEN", 87},   {"KATHRYN", 4},
    {"KATHY", 4},        {"KATHY", 87},     {"KATIE", 4},       {"KEN", 46},
    {"KENNETH", 46},     {"KENNY", 46},     {"KIM", 64},        {"KIMBERLEY", 64},
    {"KIMBERLY", 64},    {"KIT", 18},       {"KITTY", 4},       {"KRISTOPHER", 18},
    {"LARRY", 47},       {"LAURENCE", 47},  {"LAURIE", 47},     {"LAWRENCE", 47},
    {"LEN", 48},         {"LENNIE", 48},    {"LENNY", 48},      {"LEONARD", 48},
    {"LES", 99},         {"LESLIE", 99},    {"LEXI", 22},       {"LEXIE", 22},
    {"LIBBY", 1},        {"LIV", 83},       {"LIVVIE", 83},     {"LIVVY", 83},
    {"LIZ", 1},          {"LIZZIE", 1},     {"LIZZY", 1},       {"LOTTIE", 97},
    {"MADGE", 3},        {"MAGGIE", 3},     {"MAGS", 3},        {"MAL", 88},
    {"MALCOLM", 88},     {"MAMIE", 67},     {"MANDY", 92},      {"MARGARET", 3},
    {"MARGE", 3},        {"MARGIE", 3},     {"MARY", 67},       {"MATT", 38},
    {"MATTHEW", 38},     {"MATTY", 38},     {"MEG", 3},         {"MICHAEL", 15},
    {"MICK", 15},        {"MICKEY", 15},    {"MICKY", 15},      {"MIKE", 15},
    {"MIKEY", 15},       {"MOHAMED", 105},  {"MOHAMMAD", 105},  {"MOHAMMED", 105},
    {"MOHAMMUD", 105},   {"MOLLIE", 67},    {"MOLLY", 67},      {"MUHAMMAD", 105},
    {"MUHAMMED", 105},   {"NAN", 66},       {"NAT", 54},        {"NATE", 54},
    {"NATE", 96},        {"NATHAN", 96},    {"NATHANIEL", 54},  {"NED", 9},
    {"NED", 10},         {"NELL", 69},      {"NELL", 70},       {"NELLIE", 69},
    {"NELLIE", 70},      {"NICHOLAS", 39},  {"NICK", 39},       {"NICKY", 39},
    {"NICKY", 40},       {"NICOLA", 40},    {"NIKKI", 40},      {"OLIVER", 82},
    {"OLIVIA", 83},      {"OLLIE", 82},     {"OLLY", 82},       {"PADDY", 25},
    {"PAM", 75},         {"PAMELA", 75},    {"PAT", 25},        {"PAT", 26},
    {"PATRICIA", 26},    {"PATRICK", 25},   {"PATSY", 26},      {"PATTY", 26},
    {"PEG", 3},          {"PEGGY", 3},      {"PENELOPE", 85},   {"PENNY", 85},
    {"PETE", 41},        {"PETER", 41},     {"PHIL", 42},       {"PHILIP", 42},
    {"PHILLIP", 42},     {"PIP", 42},       {"POLLY", 67},      {"RAY", 49},
    {"RAYMOND", 49},     {"REBECCA", 60},   {"REG", 101},       {"REGGIE", 101},
    {"REGINALD", 101},   {"RICH", 6},       {"RICHARD", 6},     {"RICHIE", 6},
    {"RICK", 6},         {"RICKY", 6},      {"ROB", 2},         {"ROBBIE", 2},
    {"ROBERT", 2},       {"RON", 50},       {"RONALD", 50},     {"RONNIE", 50},
    {"SADIE", 68},       {"SALLY", 68},     {"SAM", 23},        {"SAM", 24},
    {"SAMANTHA", 24},    {"SAMMIE", 24},    {"SAMMY", 23},      {"SAMMY", 24},
    {"SAMUEL", 23},      {"SANDY", 21},     {"SARA", 68},       {"SARAH", 68},
    {"SEAN", 106},       {"SHAUN", 106},    {"SHAWN", 106},     {"SID", 91},
    {"SIDNEY", 91},      {"STAN", 98},      {"STANLEY", 98},    {"STEPHEN", 17},
    {"STEVE", 17},       {"STEVEN", 17},    {"STEVIE", 17},     {"SUE", 62},
    {"SUSAN", 62},       {"SUSIE", 62},     {"SUZY", 62},       {"SYDNEY", 91},
    {"TED", 9},          {"TED", 11},       {"TEDDY", 9},       {"TEDDY", 11},
    {"TERENCE", 57},     {"TERESA", 58},    {"TERRI", 58},      {"TERRY", 57},
    {"TESS", 58},        {"TESSA", 58},     {"THEO", 11},       {"THEODORE", 11},
    {"THERESA", 58},     {"THOMAS", 13},    {"TIM", 43},        {"TIMMY", 43},
    {"TIMOTHY", 43},     {"TINA", 20},      {"TOM", 13},        {"TOMMY", 13},
    {"TONY", 14},        {"TORI", 59},      {"TRICIA", 26},     {"TRISH", 26},
    {"VAL", 80},         {"VALERIE", 80},   {"VICKI", 59},      {"VICKY", 59},
    {"VICTORIA", 59},    {"WALLY", 102},    {"WALT", 102},      {"WALTER", 102},
    {"WILL", 0},         {"WILLIAM", 0},    {"WILLIE", 0},      {"WILLY", 0},
    {"ZAC", 55},         {"ZACH", 55},      {"ZACHARY", 55},    {"ZACK", 55},
};

/* gendered_groups, sorted by name for bsearch: (name, group). Generated from the
 * groups above; test_match checks the two agree. */
static const match_name_group_t gendered_groups_index[] = {
    {"ADRIAN", 22},     {"ADRIANA", 22},   {"ADRIENNE", 22},   {"ALEXANDER", 0}, {"ALEXANDRA", 0},
    {"ANDREA", 12},     {"ANDREW", 12},    {"BERNADETTE", 24}, {"BERNARD", 24},  {"BILLIE", 30},
    {"BILLY", 30},      {"CARL", 15},      {"CARLA", 15},      {"CHARLES", 35},  {"CHARLOTTE", 35},
    {"CHRISTIAN", 19},  {"CHRISTINA", 19}, {"DANIEL", 1},      {"DANIELA", 1},   {"DANIELLE", 1},
    {"DENIS", 16},      {"DENISE", 16},    {"DENNIS", 16},     {"EDWARD", 25},   {"EDWINA", 25},
    {"ERIC", 9},        {"ERICA", 9},      {"FRANCES", 2},     {"FRANCIS", 2},   {"GABRIEL", 17},
    {"GABRIELA", 17},   {"GABRIELLE", 17}, {"GEORGE", 7},      {"GEORGIA", 7},   {"GEORGINA", 7},
    {"HENRIETTA", 8},   {"HENRY", 8},      {"JAMES", 32},      {"JAMESINA", 32}, {"JEAN", 38},
    {"JEANNE", 38},     {"JOAN", 31},      {"JOEL", 28},       {"JOELLE", 28},   {"JOHN", 31},
    {"JOSEPH", 4},      {"JOSEPHINE", 4},  {"JULIA", 11},      {"JULIAN", 10},   {"JULIANA", 10},
    {"JULIANNE", 10},   {"JULIE", 11},     {"JULIUS", 11},     {"LOUIS", 3},     {"LOUISA", 3},
    {"LOUISE", 3},      {"MARIA", 29},     {"MARIO", 29},      {"MARTIN", 23},   {"MARTINA", 23},
    {"MICHAEL", 18},    {"MICHAELA", 18},  {"NICHOLAS", 13},   {"NICOLA", 13},   {"NOEL", 27},
    {"NOELLE", 27},     {"OLIVER", 26},    {"OLIVIA", 26},     {"PATRICIA", 14}, {"PATRICK", 14},
    {"PAUL", 5},        {"PAULA", 5},      {"PAULINE", 5},     {"ROBERT", 6},    {"ROBERTA", 6},
    {"RYAN", 37},       {"RYANNE", 37},    {"SAMANTHA", 36},   {"SAMUEL", 36},   {"STEPHANIE", 20},
    {"STEPHEN", 20},    {"THOMAS", 33},    {"THOMASINA", 33},  {"VICTOR", 21},   {"VICTORIA", 21},
    {"WILHELMINA", 34}, {"WILLIAM", 34},
};

#define NICK_INDEX_N (sizeof nickname_groups_index / sizeof nickname_groups_index[0])
#define GEND_INDEX_N (sizeof gendered_groups_index / sizeof gendered_groups_index[0])

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const match_name_group_t *)elem)->name);
}

/* The run of index entries for NAME (a name may be in several groups). */
static const match_name_group_t *name_groups(const match_name_group_t *idx, size_t n,
                                             const char *name, size_t *count)
{
    const match_name_group_t *hit = bsearch(name, idx, n, sizeof *idx, name_cmp);
    *count = 0;
    if (!hit)
        return NULL;
    const match_name_group_t *first = hit, *last = hit;
    while (first > idx && strcmp(first[-1].name, name) == 0)
        first--;
    while (last + 1 < idx + n && strcmp(last[1].name, name) == 0)
        last++;
    *count = (size_t)(last - first) + 1;
    return first;
}

/* The next name of a group ("WILLIAM BILL BILLY") into NAME, "" if it does not fit, and *P past
 * it and the blanks after it; 0 at the end of the group. */
static int next_name(const char **p, char name[NAME_BUF])
{
    if (**p == '\0')
        return 0;
    size_t k = strcspn(*p, " "), kept = k < NAME_BUF ? k : 0;
    memcpy(name, *p, kept);
    name[kept] = '\0';
    *p += k;
    while (**p == ' ')
        (*p)++;
    return 1;
}

/* Every name of every group is in the index under that group, and the index
 * holds nothing else: the groups are what a person edits, the index is what
 * runs. */
static int index_matches(const char *const *groups, size_t ngroups, const match_name_group_t *idx,
                         size_t n)
{
    size_t names = 0;
    for (size_t g = 0; g < ngroups; g++) {
        const char *p = groups[g];
        char name[NAME_BUF];
        while (next_name(&p, name)) {
            if (name[0] == '\0')
                return 0;
            size_t cnt;
            const match_name_group_t *run = name_groups(idx, n, name, &cnt);
            int found = 0;
            for (size_t i = 0; run && i < cnt; i++)
                found |= run[i].group == g;
            if (!found)
                return 0;
            names++;
        }
    }
    return names == n;
}

int match_name_index_consistent(void)
{
    return index_matches(nickname_groups, sizeof nickname_groups / sizeof nickname_groups[0],
                         nickname_groups_index, NICK_INDEX_N) &&
           index_matches(gendered_groups, sizeof gendered_groups / sizeof gendered_groups[0],
                         gendered_groups_index, GEND_INDEX_N);
}

/* Where a name's entries start in an index, and how many; both 0 if none. */
static void name_run(const match_name_group_t *idx, size_t n, const char *name, unsigned short *at,
                     unsigned short *count)
{
    size_t k;
    const match_name_group_t *first = name_groups(idx, n, name, &k);
    *at = first ? (unsigned short)(first - idx) : 0;
    *count = (unsigned short)k;
}

/* Do two runs of an index share a group? The same answer as in_one_group, from runs found once
 * per name (match_prepare) instead of two searches per pair. */
static int runs_share_group(const match_name_group_t *idx, unsigned a_at, unsigned na,
                            unsigned b_at, unsigned nb)
{
    for (unsigned i = 0; i < na; i++)
        for (unsigned j = 0; j < nb; j++)
            if (idx[a_at + i].group == idx[b_at + j].group)
                return 1;
    return 0;
}

/* Do A and B share a group? Looked up in the sorted index, most names being in no group. */
static int in_one_group(const match_name_group_t *idx, size_t n, const char *a, const char *b)
{
    unsigned short a_at, na, b_at, nb;
    name_run(idx, n, a, &a_at, &na);
    name_run(idx, n, b, &b_at, &nb);
    return runs_share_group(idx, a_at, na, b_at, nb);
}

int match_is_nickname(const char *a, const char *b)
{
    char na[NAME_BUF];
    char nb[NAME_BUF];

    if (mi_norm_letters(a, na, sizeof na) == 0 || mi_norm_letters(b, nb, sizeof nb) == 0)
        return 0;
    if (strcmp(na, nb) == 0)
        return 1;
    return in_one_group(nickname_groups_index, NICK_INDEX_N, na, nb);
}

void mi_forename_runs(match_prep_t *o)
{
    name_run(nickname_groups_index, NICK_INDEX_N, o->given, &o->nick_at, &o->nick_n);
    name_run(gendered_groups_index, GEND_INDEX_N, o->given, &o->gend_at, &o->gend_n);
}

int mi_nicknames(const match_prep_t *a, const match_prep_t *b)
{
    return runs_share_group(nickname_groups_index, a->nick_at, a->nick_n, b->nick_at, b->nick_n);
}

int mi_opposite_sex_forms(const match_prep_t *a, const match_prep_t *b)
{
    return runs_share_group(gendered_groups_index, a->gend_at, a->gend_n, b->gend_at, b->gend_n);
}

/* A forename shared by two formal names of opposite sex (Alex for Alexander and Alexandra, Sam,
 * Chris, Jo, Pat): the same word on two records says nothing about their sex. */
int mi_forename_shared_by_two_names(const char *norm)
{
    size_t n;
    (void)name_groups(nickname_groups_index, NICK_INDEX_N, norm, &n);
    return n > 1;
}

/* 1 if a and b differ by exactly one keystroke: one letter inserted, deleted or replaced. */
static int one_edit_apart(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la < lb) {
        const char *t = a;
        a = b;
        b = t;
        size_t tl = la;
        la = lb;
        lb = tl;
    }
    if (la - lb > 1)
        return 0;
    size_t i = 0;
    while (i < lb && a[i] == b[i])
        i++;
    if (la == lb)
        return i < la && strcmp(a + i + 1, b + i + 1) == 0;
    return strcmp(a + i + 1, b + i) == 0;
}

/* A forename one keystroke from its opposite-sex form (Martin/Martina, John/Joan, Paul/Paula):
 * boy/girl twins are named so, and one slip turns one twin's name into the other's. */
int mi_typo_from_opposite_sex_form(const char *norm)
{
    size_t n;
    const match_name_group_t *run = name_groups(gendered_groups_index, GEND_INDEX_N, norm, &n);
    for (size_t i = 0; i < n; i++) {
        const char *p = gendered_groups[run[i].group];
        char other[NAME_BUF];
        while (next_name(&p, other))
            if (other[0] != '\0' && strcmp(other, norm) != 0 && one_edit_apart(other, norm))
                return 1;
    }
    return 0;
}
