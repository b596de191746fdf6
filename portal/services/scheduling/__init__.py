"""Scheduling: the clinic's calendar (templates or the EHR's slots), booking, cancelling, rescheduling,
requests to the front desk, the wait list, reminders, and appointments as FHIR R4.

Modules: `calendar` (open times), `booking` (changes through the patient scope, and `visible`, the one
visibility rule), `pages` (what the pages read), `fhir_out` (FHIR Appointment rows, export),
`staff` (the day view and the requests queue), `waitlist`, `reminders`, `notices` (mail without
details), `seed` (the demo clinic's templates) and `cli` (`portal appointments`).
"""

from __future__ import annotations

from portal.services.scheduling.notices import Clinic

__all__ = ["Clinic"]
