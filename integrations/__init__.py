"""Agent-framework integrations (import path ``hive_middleware.integrations``)."""
