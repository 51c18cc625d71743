"""Storage: SQLModel tables, the database connection, and applying engine decisions."""
