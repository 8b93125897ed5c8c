"""The HTTP API (DRF): parse input, call one service or selector, shape the output."""
