"""Where the app keeps its files and the data it ships, the one way it writes a file safely
(`atomic`), and the one way it tells what a file is from its first bytes (`sniff`)."""
