"""Email to users about their account's security events, over SMTP.

Only what happened, to which application and when: never a token, a code or a
link that signs anyone in. The standard library's SMTP client runs in a thread,
so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

TIMEOUT = 10.0


class Mailer:
    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.secure = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.secure else 25)
        self.username = parts.username
        self.password = parts.password
        self.sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        connection: smtplib.SMTP
        if self.secure:
            connection = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        with connection:
            if self.username and self.password:
                connection.login(self.username, self.password)
            connection.send_message(message)
