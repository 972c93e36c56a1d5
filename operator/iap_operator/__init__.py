"""iap-operator: Identity-Aware Proxy in front of Cloud Run, as one Kubernetes resource."""
