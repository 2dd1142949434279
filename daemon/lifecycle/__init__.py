"""The job lifecycle: claim, heartbeat, process, upload, complete; it knows the ports only."""
