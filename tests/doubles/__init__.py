"""Stand-ins for the services the daemon talks to, over real network protocols."""
