"""Hive as a network service: HTTP app and MCP server."""
