"""Background work: one APScheduler interval job that moves due work forward
(due reminders into the outbox, in later work; the outbox out through a transport)."""
