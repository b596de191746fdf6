"""Registration before a visit (online check-in): the patient's five steps, the clinic's questionnaires
and consents, the front desk's review, and what is kept for the EHR.

Modules: `steps` (the visit, saving each step), `photos` (card photos), `questionnaires` (FHIR
Questionnaire in, QuestionnaireResponse out), `answers` (the forms step and its visibility rule),
`consents`, `review` (sending, and the staff's decisions), `offers` (the mail saying check-in is open),
`export` (NDJSON for the EHR), `cli`.
"""
