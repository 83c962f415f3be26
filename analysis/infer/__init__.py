"""Model registry and inference. torch is imported inside functions of this package only, so
importing the registry (manifests, discovery) stays fast and torch-free."""
