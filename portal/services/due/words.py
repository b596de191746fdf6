"""The plain names the pages give vaccine groups and doses, in both languages (translated when shown)."""

from __future__ import annotations

from portal.i18n import N_

# The CDC's vaccine group names (as the CDSi supporting data spells them) in everyday words.
GROUP_NAMES: dict[str, str] = {
    "DTaP/Tdap/Td": N_("Tetanus, diphtheria and whooping cough"),
    "Polio": N_("Polio"),
    "MMR": N_("Measles, mumps and rubella"),
    "Varicella": N_("Chickenpox"),
    "HepA": N_("Hepatitis A"),
    "HepB": N_("Hepatitis B"),
    "Hib": N_("Hib (a germ that can cause meningitis)"),
    "Pneumococcal": N_("Pneumococcal (pneumonia)"),
    "Rotavirus": N_("Rotavirus"),
    "Meningococcal": N_("Meningococcal (meningitis) ACWY"),
    "Meningococcal B": N_("Meningococcal (meningitis) B"),
    "HPV": N_("HPV"),
    "Influenza": N_("Flu shot for this season"),
    "COVID-19": N_("COVID-19"),
    "RSV": N_("RSV"),
    "Zoster": N_("Shingles"),
}

DOSE_WORDS: dict[int, str] = {
    1: N_("1st dose"),
    2: N_("2nd dose"),
    3: N_("3rd dose"),
    4: N_("4th dose"),
    5: N_("5th dose"),
    6: N_("6th dose"),
}
NEXT_DOSE = N_("next dose")

CHECKUP_NAMES = {
    "well-child": N_("Well-child check-up"),
    "yearly": N_("Yearly check-up"),
}

# Why a dose is not counted, for staff (the CDSi reasons, and the portal's own for a dose it cannot read).
NOT_COUNTED_REASONS: dict[str, str] = {
    "unknown-vaccine": N_("Not counted: vaccine code unknown"),
    "no-code": N_("Not counted: no vaccine code"),
    "no-date": N_("Not counted: no date given"),
    "future": N_("Not counted: dated in the future"),
    "before-birth": N_("Not valid: dated before birth"),
    "Age: Too Young": N_("Not valid: given too young"),
    "Age: Too Old": N_("Not valid: given too old"),
    "Interval: Too Soon": N_("Not valid: given too soon after the last dose"),
    "Live Virus Conflict": N_("Not valid: too close to another live vaccine"),
    "Inadvertent Vaccine": N_("Not valid: wrong vaccine for this dose"),
    "Not a preferable or allowable vaccine": N_("Not valid: vaccine not allowed for this dose"),
    "Series Already Complete": N_("Extra dose: series already complete"),
}


def dose_words(number: int | None) -> str:
    return DOSE_WORDS.get(number or 0, NEXT_DOSE)
