"""What a model family (SD 1.x, SD 2.x, SDXL, the SDXL refiner) is: one record per base.

`registry` holds the records (labels, defaults, layout, latent format) and the lookups everyone
uses; `latent` the latent formats families share; `layout` checkpoint key layouts and head-count
rules; `few_step` the one rule that tells Turbo and LCM models apart from normal ones.
"""
