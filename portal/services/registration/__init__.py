"""Registration before a visit (online check-in): the patient's five steps, the clinic's questionnaires
and consents, the front desk's review, and what is kept for the EHR.

Modules: `visits` (which visit a check-in is for: a booked appointment or an imported encounter, each
visit once), `steps` (saving each step), `photos` (card photos), `questionnaires` (FHIR
Questionnaire in, QuestionnaireResponse out), `answers` (the forms step and its visibility rule),
`consents`, `review` (sending, and the staff's decisions), `offers` (the mail saying check-in is open),
`export` (NDJSON for the EHR), `first_visit` (the activation code on the desk's confirmation of a new
patient's first visit), `cli`.
"""
