"""Outbound mail: replies and notifications leave through an SMTP relay. Adapters here only
talk to the server (connect, test, send raw bytes); queueing and retries live elsewhere."""
