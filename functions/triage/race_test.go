//go:build race

package main

// The race detector slows the storm about tenfold on a small machine:
// make test (which runs with -race) gets a smaller storm, same assertions.
func init() { stormFailures = 300 }
