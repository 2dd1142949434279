"""The application wiring: settings, the service, health, metrics, logs."""
