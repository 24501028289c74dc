"""TensorRT export and engine building for the BIGE generator (the generator issue; nothing here yet)."""
