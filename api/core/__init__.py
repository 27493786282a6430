"""Settings and the database pool: what the rest of the API is built on."""
