"""What a model family (SD 1.x, SD 2.x, SDXL, the SDXL refiner) is: one record per base."""
