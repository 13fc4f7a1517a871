"""Data access: the SQL for each table lives in exactly one module here."""
