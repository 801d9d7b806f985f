"""Real back-ends for the hive_middleware ports (import path ``hive_middleware.adapters``)."""
