"""The pure core: raw bytes plus configuration in, a Decision out. No database, no network."""
