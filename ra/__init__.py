"""ra: Remote Assistance you can audit.

A person who needs help sends an invitation; a helper opens it with the
password; the person consents before the helper sees the desktop and again
before the helper takes control, and takes control back with Esc. Every step
is an event in a tamper-evident SQLite log (`ra.events`), the single source
of truth for the live session, replay and compliance reports.
"""

__version__ = "0.1.0"
