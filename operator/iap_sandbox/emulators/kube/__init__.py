"""The emulated Kubernetes API (kmock-based) and CRD admission. Start with `server.serve_kube_emulator`."""
