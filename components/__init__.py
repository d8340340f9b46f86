"""Pulumi ComponentResources of lacchain-cloud: LacchainNode (Kubernetes, AWS, GCP), NodeImage, DdnsZone,
OrionKeyVault and BaasNetwork. They turn the validated domain model of ``lacchain`` into cloud resources."""
