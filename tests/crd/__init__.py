"""The IapProtectedService CRD: corpus of valid/invalid manifests, admission, model agreement, examples."""
