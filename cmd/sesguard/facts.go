package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

func runFacts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("facts", stderr)
	region := fs.String("region", "", "the sending Region (other Regions are checked too)")
	all := fs.Bool("all-regions", false, "check every SES Region, not just the sending Region and the default candidates")
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(ids) == 0 || *region == "" {
		fmt.Fprint(stderr, "usage: sesguard facts --region R IDENTITY...\n")
		return exitUsage
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard facts: %v\n", err)
		return exitInvalid
	}
	clients := facts.NewSESv2Factory(cfg)
	var af *ruleset.Facts
	if *all {
		af = facts.LiveCheck(ctx, clients, ruleset.NormaliseRegion(*region), ids)
	} else {
		af = facts.NewGatherer(facts.Config{Clients: clients, MaxCalls: -1}).Gather(ctx, ruleset.NormaliseRegion(*region), ids)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(af); err != nil {
		fmt.Fprintf(stderr, "sesguard facts: %v\n", err)
		return exitInvalid
	}
	return exitOK
}
