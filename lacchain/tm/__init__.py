"""Private transaction managers (Orion and its successor Tessera): key pairs and configuration files."""
