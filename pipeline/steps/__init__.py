"""What each step of a night does, whatever the engine: the dbt build (transform), the exports,
publication (write-audit-publish), run bookkeeping, bootstrap and cleanup."""
