package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func runFacts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("facts", stderr)
	region := fs.String("region", "", "the sending Region (other Regions are checked too)")
	all := fs.Bool("all-regions", false, "check every SES Region, not just the sending Region and the default candidates")
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(ids) == 0 || *region == "" {
		fmt.Fprint(stderr, "usage: sesguard facts --region R IDENTITY...\n")
		return exitUsage
	}
	af, code := checkLive(ctx, "sesguard facts", ruleset.NormaliseRegion(*region), ids, *all, stderr)
	if af == nil {
		return code
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(af); err != nil {
		fmt.Fprintf(stderr, "sesguard facts: %v\n", err)
		return exitInvalid
	}
	return exitOK
}
