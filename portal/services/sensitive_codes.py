"""Codes a clinic treats as confidential for adolescents: sexual and reproductive health, mental health,
substance use. A limited (parent of a 12-17 year old) proxy never sees an item carrying one of these,
nor one the EHR marked restricted or very restricted (meta.security R or V).

Each entry is (code system, code). The systems are the canonical FHIR URIs.
"""

from __future__ import annotations

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# meta.security codes (v3-Confidentiality) that hide an item from a limited proxy.
CONFIDENTIAL_SECURITY_CODES = frozenset({"R", "V"})

SENSITIVE_CODES: frozenset[tuple[str, str]] = frozenset(
    {
        # Reproductive health: pregnancy, contraception
        (SNOMED, "72892002"),  # normal pregnancy
        (SNOMED, "77386006"),  # pregnancy
        (SNOMED, "252160004"),  # standard pregnancy test
        (SNOMED, "169553002"),  # insertion of subcutaneous contraceptive
        (SNOMED, "301807007"),  # removal of subcutaneous contraceptive
        (SNOMED, "755621000000101"),  # replacement of subcutaneous contraceptive
        (SNOMED, "65200003"),  # insertion of intrauterine contraceptive device
        (SNOMED, "68254000"),  # removal of intrauterine device
        (RXNORM, "389221"),  # etonogestrel 68 MG drug implant
        (RXNORM, "748856"),  # levonorgestrel / ethinyl estradiol (oral contraceptive)
        (RXNORM, "1367439"),  # norelgestromin / ethinyl estradiol patch
        (LOINC, "2106-3"),  # choriogonadotropin (pregnancy test) in urine
        (LOINC, "2118-8"),  # choriogonadotropin in serum
        (SNOMED, "424441002"),  # prenatal initial visit
        (SNOMED, "424619006"),  # prenatal visit
        (SNOMED, "169762003"),  # postnatal visit
        # Sexually transmitted infections
        (SNOMED, "165829005"),  # gonorrhea infection test
        (SNOMED, "269828009"),  # syphilis infection test
        (SNOMED, "310861008"),  # chlamydia antigen test
        (SNOMED, "86406008"),  # HIV infection
        (SNOMED, "104375008"),  # hepatitis C antibody test
        (SNOMED, "47758006"),  # hepatitis B surface antigen measurement
        (LOINC, "75622-1"),  # HIV 1 and 2 tests
        (LOINC, "21613-5"),  # Chlamydia trachomatis DNA
        (LOINC, "24111-7"),  # Neisseria gonorrhoeae DNA
        (LOINC, "20507-0"),  # Treponema pallidum (syphilis) antibody
        # Mental health
        (SNOMED, "171207006"),  # depression screening
        (SNOMED, "35489007"),  # depressive disorder
        (SNOMED, "370143000"),  # major depressive disorder
        (SNOMED, "197480006"),  # anxiety disorder
        (SNOMED, "13746004"),  # bipolar disorder
        (LOINC, "44261-6"),  # PHQ-9 total score
        (LOINC, "55757-9"),  # PHQ-2 total score
        (LOINC, "70274-6"),  # GAD-7 total score
        # Substance use
        (SNOMED, "66214007"),  # substance abuse
        (SNOMED, "7200002"),  # alcoholism
        (SNOMED, "55680006"),  # drug overdose
        (SNOMED, "5602001"),  # opioid abuse
        (LOINC, "72109-2"),  # AUDIT-C total score
        (LOINC, "82667-7"),  # DAST-10 total score
    }
)


def is_sensitive(codings: list[tuple[str, str]], security_codes: list[str] | None = None) -> bool:
    """True when any (system, code) is on the clinic's list, or the EHR marked the item R or V."""
    if security_codes and CONFIDENTIAL_SECURITY_CODES.intersection(security_codes):
        return True
    return any((system, code) in SENSITIVE_CODES for system, code in codings)
