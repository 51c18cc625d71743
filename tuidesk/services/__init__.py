"""The work the doors share, above storage: mail in through the engine into storage (ingest, and
the MTA's pipe), and the daemon that watches mailboxes and sends the outbox. The CLI and the
console call these; storage never does."""
