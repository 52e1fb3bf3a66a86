"""Where and how the work runs: device and precision, memory modes, OpenVINO on the CPU."""
