"""Tests against a real PostgreSQL and the protocol doubles, in process."""
