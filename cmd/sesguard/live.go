package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// credentialsTimeout bounds the credential look-up before any SES call: a
// machine without credentials must hear so in seconds, not after the
// instance-metadata client has retried for each of 33 Regions.
const credentialsTimeout = 5 * time.Second

// checkLive gathers facts in every SES Region for `diagnose --live` and
// `facts --all-regions` (gather nil) or the default Regions (gather set).
// It reports on stderr, per Region, what could not be checked and why.
// When nothing at all could be checked it returns nil and exitUnchecked:
// the caller must not present an offline guess as checked.
func checkLive(ctx context.Context, name, region string, ids []string, all bool, stderr io.Writer) (*ruleset.Facts, int) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, exitUnchecked
	}
	if cfg.Credentials == nil {
		fmt.Fprintf(stderr, "%s: nothing checked: no AWS credentials configured.\n%s\n", name, credentialsHelp)
		return nil, exitUnchecked
	}
	cctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	_, err = cfg.Credentials.Retrieve(cctx)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "%s: nothing checked: no usable AWS credentials (%v).\n%s\n", name, facts.MaskAddresses(err.Error()), credentialsHelp)
		return nil, exitUnchecked
	}
	clients := facts.NewSESv2Factory(cfg)
	var (
		af  *ruleset.Facts
		rep facts.Report
	)
	if all {
		fmt.Fprintf(stderr, "checking the account in %d SES Regions (read-only)…\n", len(facts.AllSESRegions))
		af, rep = facts.LiveCheck(ctx, clients, region, ids)
	} else {
		g := facts.NewGatherer(facts.Config{Clients: clients, MaxCalls: -1})
		af, rep = g.GatherReport(ctx, region, facts.DefaultCandidateRegions, ids)
	}
	sum := rep.Summary()
	if rep.Checked() == 0 {
		fmt.Fprintf(stderr, "%s: nothing could be checked:\n", name)
		for _, l := range sum {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
		if h := rep.Hint(); h != "" {
			fmt.Fprintln(stderr, h)
		}
		return nil, exitUnchecked
	}
	if len(sum) > 0 {
		fmt.Fprintf(stderr, "checked %d of %d Regions; not checked:\n", rep.Checked(), len(rep))
		for _, l := range sum {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
	}
	return af, exitOK
}

const credentialsHelp = `Give credentials the way the AWS CLI takes them: AWS_PROFILE (after
"aws sso login" or "aws configure"), or AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY. Without credentials, use --facts FILE or run
without --live for the offline ranking.`
