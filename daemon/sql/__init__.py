"""The SQL of the job contract (`migrations/`, shipped inside the package) and its runner."""
