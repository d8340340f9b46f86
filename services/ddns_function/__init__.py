"""The DDNS update function: one core (``core.DdnsService``) behind thin adapters for AWS Lambda
(``aws_lambda``), Google Cloud Functions (``gcp_function``) and on-prem HTTP (``http_server``)."""
