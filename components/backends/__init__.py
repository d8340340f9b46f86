"""Platform backends of LacchainNode: one module per platform, each implementing ``NodeBackend``."""
