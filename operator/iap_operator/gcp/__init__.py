"""GCP adapters: the engine's ports implemented with Google's client libraries (`build_cloud`)."""
