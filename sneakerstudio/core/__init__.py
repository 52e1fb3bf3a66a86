"""The engine and everything that does not need Qt. Importing this package must stay cheap:
torch and diffusers are imported inside the functions that need them."""
