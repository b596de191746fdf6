"""Secure messaging with the care team: threads about one patient's record (threads), the care team's side
(staff), attachments (files), mail notices and digests (notices), the FHIR Communications kept for the EHR
(fhir), the one visibility rule (rules), safe text (text), and the hook other features use to turn a message
into their own request (convert)."""
