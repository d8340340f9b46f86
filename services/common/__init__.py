"""Small pieces shared by the services that run beside a node (healthcheck, ethstats client): each image copies
this package with its own service."""
