"""Messaging test helpers: threads made straight in the database (for the registry's finders and the
matrix), a small valid PDF, and pictures with and without camera metadata."""

from __future__ import annotations

import io

from sqlmodel import Session, col, select

from portal.models import Message, MessageAttachment, MessageThread, Patient


def tiny_pdf(words: str) -> bytes:
    """A one-page PDF showing `words` (offsets computed, so pdftotext reads it cleanly)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({words}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def add_thread(session: Session, patient: Patient, subject: str, confidential: bool) -> MessageThread:
    """A thread the patient's side started, with one message and one PDF (both naming `subject`)."""
    thread = MessageThread(patient_id=patient.id, topic="medical", subject=subject, confidential=confidential)
    session.add(thread)
    session.flush()
    message = Message(
        thread_id=thread.id,
        author_person_id=patient.person_id,
        author_name=patient.display_name,
        author_kind="self",
        body=f"About: {subject}",
    )
    session.add(message)
    session.flush()
    content = tiny_pdf(subject)
    session.add(
        MessageAttachment(
            message_id=message.id,
            filename="note.pdf",
            media_type="application/pdf",
            size=len(content),
            content=content,
        )
    )
    session.flush()
    return thread


def add_threads(session: Session, patient: Patient, subject: str, confidential: bool) -> None:
    """Two threads: a test that moves one away still finds the other."""
    for _ in range(2):
        add_thread(session, patient, subject, confidential)


def _thread_query(owner: Patient, confidential: bool):
    return (
        select(MessageThread)
        .where(MessageThread.patient_id == owner.id, col(MessageThread.confidential).is_(confidential))
        .order_by(col(MessageThread.id))
    )


def find_thread(session: Session, owner: Patient, confidential: bool) -> str | None:
    thread = session.exec(_thread_query(owner, confidential)).first()
    return None if thread is None else thread.public_id


def find_attachment(session: Session, owner: Patient, confidential: bool) -> str | None:
    found = session.exec(
        select(MessageAttachment)
        .join(Message, col(Message.id) == MessageAttachment.message_id)
        .join(MessageThread, col(MessageThread.id) == Message.thread_id)
        .where(MessageThread.patient_id == owner.id, col(MessageThread.confidential).is_(confidential))
        .order_by(col(MessageAttachment.id))
    ).first()
    return None if found is None else found.public_id
