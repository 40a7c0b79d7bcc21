"""The console's numbered screens (one tab each) and the help screen."""
