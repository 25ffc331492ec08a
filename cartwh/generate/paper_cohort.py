"""The paper's cohort (Alcalde-Mellado et al., Front Immunol 2025), one designed row per patient.

Every count cell of Tables 1-3 is carried by these rows exactly: sex, cytogenetics, prior HSCT,
blinatumomab and pre-apheresis inotuzumab, extramedullary disease, tumour-burden transitions
(0/8/2 vs 4/4/6), undetectable MRD pre-LD (6 vs 2), Hematotox points (Nair 7/3 vs 10/4, modified
2/5/3 vs 5/5/4), CRS grades and treatments, IEC-HS, ICANS, day-28 CR/CRi, relapses (3 vs 6),
BCA outcomes (persistent 3 vs 5, CD19-negative relapse 0 vs 4, HSCT 1 vs 0, recovery 6 vs 5),
expansion > 5 CAR-T/uL (9 vs 14) and phenotype studied at peak (9 vs 13). Continuous values
reproduce the paper's group medians where the tables print them (age, blasts before BT,
HSCT-to-relapse, B cells post-BT, peak CAR-T/uL by group and in LTB, day of peak, % CAR, SCM).
The paper's survival figures are internally inconsistent (Hematotox 0 % EFS in 7 high-risk
patients vs 8 events overall), so follow-up keeps their direction: events concentrate in
high burden and high Hematotox, EFS is similar between bridging groups.

Columns: group I = inotuzumab, C = chemotherapy; pre/post = marrow blasts % before/after BT;
mrd0 = undetectable MRD pre-LD; bcp = B-cell precursors % post-BT; pbb = peripheral B cells/uL
post-BT; plt/anc/hb/crp = Hematotox points of the pre-LD labs; bca = how the B-cell aplasia
episode ended; *_m = months after infusion; peak = CAR-T/uL, pday = study day of the peak,
pcar = % CAR of CD3 at peak, scm = % SCM of CD8+ CAR-T at peak, pheno = phenotype panel at peak.
"""

from __future__ import annotations

import io

import pandas as pd

_DESIGN = """\
id  grp sex age cyto tp53 hsct hsct_m blina ino_pre em pre  post  mrd0 bcp   pbb  plt anc hb crp crs icans iec toci ster anak d28 bca        loss_m rel_m cd19 hsctc_m death_m peak    pday pcar  scm   pheno
I01 I   F   19  99   0    0    .      0     0       0  8.3  0     1    0     0    0   1   0  0   0   0     0   0    0    0    CR  persistent .      .     .    .       .       3.27    14   2.85  .     0
I02 I   M   2   99   0    0    .      1     0       0  9.6  0     1    0     0.5  1   1   0  0   1   0     0   0    0    0    CR  persistent .      .     .    .       .       12.4    11   4.1   0     1
I03 I   F   22  3    0    1    3.2    0     1       0  11.2 0     1    0     1.2  2   1   0  0   1   0     0   0    0    0    CRi persistent .      .     .    .       .       25.9    7    6.3   3.1   1
I04 I   M   24  9    0    1    4.4    0     0       0  12.9 0     1    0     3    2   1   0  0   1   0     0   0    0    0    CRi hsct       .      .     .    3.2     .       41.2    7    9.2   5.6   1
I05 I   F   8   7    0    1    5.1    0     1       0  14.1 0     1    0.001 4    2   1   0  0   1   0     0   0    0    0    CRi recovery   3      .     .    .       .       57.4    7    10.0  8.24  1
I06 I   M   20  7    0    1    5.8    1     0       0  15.5 0     1    0.001 6    2   1   0  0   1   0     0   0    0    0    CRi recovery   4      .     .    .       .       59.2    7    10.4  12.7  1
I07 I   F   23  8    0    1    6.2    0     0       0  22.8 0.45  0    0.02  12   2   1   0  0   1   0     0   1    0    0    CRi recovery   6      .     .    .       .       310.6   7    18.6  19.8  1
I08 I   M   15  5    0    1    7.0    0     1       0  38.4 2.1   0    0.3   35   2   1   1  1   1   0     0   0    0    0    CRi recovery   2      5     pos  .       .       681.7   11   33.16 36.03 1
I09 I   F   22  3    1    1    8.3    0     0       1  47.0 12.0  0    1.6   110  2   1   0  1   2   1     0   1    0    0    CRi recovery   2      4     pos  .       10      1874.2  7    61.4  6.2   1
I10 I   M   24  4    0    1    9.1    0     1       1  54.7 31.5  0    4.3   235  2   1   0  0   3   0     1   1    1    1    CRi recovery   3      6     pos  .       9       20889.1 7    85.1  9.9   1
C01 C   M   10  1    0    0    .      0     0       0  1.2  0     1    0.1   4    0   1   0  0   1   0     0   0    0    0    CR  persistent .      .     .    .       .       100.9   11   7.3   0     1
C02 C   F   4   2    0    0    .      0     0       0  2.5  0.07  0    0.15  9    1   1   0  0   1   0     0   0    0    0    CR  persistent .      .     .    .       .       121.3   7    12.5  0.16  1
C03 C   M   12  9    0    1    6.6    0     0       0  3.8  0.3   0    0.3   48   1   1   0  0   1   0     0   0    0    0    CR  persistent .      .     .    .       .       166.0   7    18.0  .     0
C04 C   M   2   9    0    1    8.2    0     0       0  4.6  1.1   0    0.4   120  0   1   0  1   1   0     0   0    0    0    CRi persistent .      .     .    .       .       190.2   11   22.4  0     1
C05 C   M   17  9    0    0    .      0     0       0  15.0 0     1    0.5   176  1   1   0  0   1   0     0   0    0    0    CRi persistent .      .     .    .       .       204.8   7    25.07 0.58  1
C06 C   F   9   9    0    1    9.5    0     0       0  19.6 0.2   0    0.6   201  2   1   0  0   1   0     0   1    0    0    CRi recovery   6      14    pos  .       .       288.4   7    26.0  0     1
C07 C   M   22  9    0    1    10.4   0     0       0  26.0 2.4   0    0.65  210  1   1   0  1   1   0     0   1    0    0    CRi recovery   4      9     pos  .       16      560.3   7    41.2  0.14  1
C08 C   M   5   9    0    0    .      0     0       0  26.0 4.9   0    0.75  220  2   1   0  0   2   0     0   1    0    0    CRi recovery   9      .     .    .       .       1537.1  7    59.9  6.81  1
C09 C   F   14  99   0    1    11.6   0     0       0  33.5 6.3   0    0.9   245  1   1   0  0   2   0     0   1    0    0    CRi recovery   12     .     .    .       .       300.0   7    32.0  0     1
C10 C   M   19  99   0    0    .      0     0       0  41.2 9.8   0    1.3   263  1   1   0  0   2   0     0   1    0    0    CRi recovery   6      .     .    .       .       375.4   11   28.0  0.3   1
C11 C   M   8   7    0    1    13.9   0     0       0  48.9 18.5  0    2.2   290  2   1   0  1   2   0     0   1    0    0    CRi cd19neg    .      4     neg  .       .       771.6   7    48.0  0     1
C12 C   F   25  7    0    1    16.3   0     0       1  55.1 29.0  0    2.9   310  2   1   0  0   2   0     1   1    0    0    CRi cd19neg    .      3     neg  .       9       1102.4  7    66.3  0.2   1
C13 C   M   7   6    0    0    .      0     0       0  62.3 44.7  0    3.6   331  2   1   1  0   2   1     0   1    1    0    CRi cd19neg    .      5     neg  .       7       1688.0  7    78.9  1.9   1
C14 C   M   10  9    0    1    19.7   0     0       1  78.0 67.2  0    4.9   348  2   1   1  1   3   3     1   1    1    1    CRi cd19neg    .      8     neg  .       11      2392.7  7    91.2  0.05  1
"""

_GROUPS = {"I": "inotuzumab", "C": "chemotherapy"}
FIRST_INFUSION, LAST_INFUSION = "2021-03-15", "2024-07-15"  # the paper's inclusion period
DATA_CUTOFF = "2025-02-28"  # "The data cut-off date was February 2025"


def paper_design() -> pd.DataFrame:
    """The 24 designed patients with infusion dates in the paper's inclusion period.

    Patients whose story needs the longest follow-up (late relapse, late death, late B-cell
    recovery) are infused first, so every designed event happens before the data cut-off.
    """
    design = pd.read_csv(io.StringIO(_DESIGN), sep=r"\s+", na_values=".")
    design["group"] = design.pop("grp").map(_GROUPS)
    needed = design[["loss_m", "rel_m", "hsctc_m", "death_m"]].max(axis=1).fillna(0)
    order = needed.sort_values(ascending=False, kind="stable").index
    dates = pd.date_range(FIRST_INFUSION, LAST_INFUSION, periods=len(design)).normalize()
    design.loc[order, "infusion_date"] = dates
    design["record_id"] = [str(i + 1) for i in range(len(design))]
    design["site"] = "HUVR"
    return design
