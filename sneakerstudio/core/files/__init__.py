"""Where the app keeps its files and the data it ships, and the one way it writes a file safely."""
