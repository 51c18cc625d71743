"""tuidesk: a terminal-first helpdesk."""

__version__ = "0.1.0"
