"""Deployment artefacts: Dockerfile, kustomize, RBAC, Argo CD health, kstatus; metrics and log set-up."""
