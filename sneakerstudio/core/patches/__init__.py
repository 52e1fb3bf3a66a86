"""Reversible changes to a loaded model, put on it for a job through one mechanism (`base.py`):
LoRAs, embeddings, VAE and prediction overrides; ControlNet's next. A patch a request keeps
asking for stays on the model between jobs; one it no longer asks for is undone."""
