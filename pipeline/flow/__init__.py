"""The steps in order (sequence), for one day or a backfill's range, and the runner that walks
them without a scheduler (`adtech run`, `adtech backfill`)."""
