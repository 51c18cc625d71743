"""Getting at a mail server: passwords (from the environment, a command, or stored encrypted)
and OAuth2 tokens through MSAL. Adapters and storage use it; it uses neither."""
