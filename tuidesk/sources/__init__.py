"""Thin adapters that hand raw mail bytes to the Ingestor: files here, IMAP later."""
