"""Changes applied to a loaded model for one job and undone after it: LoRAs, embeddings, VAE and
prediction overrides."""
