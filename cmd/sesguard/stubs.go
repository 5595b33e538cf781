package main

import (
	"context"
	"fmt"
	"io"
)

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sesguard local: not built yet")
	return exitUsage
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sesguard bench: not built yet")
	return exitUsage
}
