"""The console's pages, one module each: their handlers call the platform directly."""
