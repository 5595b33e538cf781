package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/doctor"
)

// multiFlag collects a repeatable flag; each value may also be a
// comma-separated list.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}

// doctorAWS returns the clients of the default credential chain and its
// Region (tests replace it).
var doctorAWS = func(ctx context.Context) (doctor.ClientsFor, string, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, "", err
	}
	return doctor.AWSClients(cfg), cfg.Region, nil
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("doctor", stderr)
	var regions, identities multiFlag
	fs.Var(&regions, "region", "Region to check (repeatable; default: the AWS configuration's)")
	allRegions := fs.Bool("all-regions", false, "check every Region where SES sends")
	fs.Var(&identities, "identity", "identity to check (repeatable; default: every identity of each Region)")
	configSet := fs.String("configuration-set", "", "configuration set to check (default: the stack's, the identities' defaults, else all)")
	stackName := fs.String("stack", "", "sesguard's CloudFormation stack name: check it too")
	asJSON := fs.Bool("json", false, "print one JSON document (docs/doctor.md)")
	list := fs.Bool("list-checks", false, "list the checks and exit")
	printPolicy := fs.Bool("print-policy", false, "print the read-only IAM policy doctor needs and exit")
	probe := fs.Bool("probe", false, "also send one message to bounce@simulator.amazonses.com with the stack's configuration set and wait (bounded) for triage to count its bounce (needs --yes, --stack, --identity)")
	yes := fs.Bool("yes", false, "confirm --probe's send")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "sesguard doctor: %s\n", msg)
		fs.Usage()
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *list:
		doctor.WriteList(stdout)
		return exitOK
	case *printPolicy:
		fmt.Fprintln(stdout, doctor.ReadOnlyPolicy())
		return exitOK
	case len(regions) > 0 && *allRegions:
		return usageErr("--region and --all-regions exclude each other")
	case *yes && !*probe:
		return usageErr("--yes confirms --probe; without --probe doctor only reads")
	case *probe && !*yes:
		return usageErr("--probe sends one message (to bounce@simulator.amazonses.com); add --yes to allow it")
	case *probe && (*stackName == "" || len(identities) == 0):
		return usageErr("--probe needs --stack (where triage counts) and --identity (the sender)")
	case *probe && (len(regions) > 1 || *allRegions):
		return usageErr("--probe checks one Region: give one --region")
	}
	clients, defRegion, err := doctorAWS(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sesguard doctor:", err)
		return exitInvalid
	}
	o := doctor.Options{Regions: regions, Identities: identities, ConfigurationSet: *configSet, Stack: *stackName}
	if *allRegions {
		o.Regions = doctor.OtherRegions
	}
	if len(o.Regions) == 0 {
		if defRegion == "" {
			return usageErr("no Region: pass --region R or set AWS_REGION")
		}
		o.Regions = []string{defRegion}
	}
	var pr *probeRequest
	if *probe {
		pr = &probeRequest{from: doctor.ProbeFrom(identities[0])}
	}
	return doctorReport(ctx, clients, o, pr, *asJSON, stdout, stderr)
}

// probeRequest is --probe --yes's.
type probeRequest struct{ from string }

// doctorSender returns the SES client the probe sends with (tests replace it).
var doctorSender = func(ctx context.Context, region string) (doctor.Sender, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Region = region
	return sesv2.NewFromConfig(cfg), nil
}

// probeTiming is the probe's wait (zero: doctor's defaults; tests shorten it).
var probeTiming doctor.ProbeOptions

// runProbe sends the probe when the read-only checks found nothing failing
// (a known break needs no message to prove it).
func runProbe(ctx context.Context, clients doctor.ClientsFor, o doctor.Options, pr *probeRequest, rep *doctor.Report) doctor.Result {
	region := o.Regions[0]
	r := doctor.Result{Check: doctor.ProbeCheckID, Region: region, Subject: o.Stack, Status: doctor.Skipped, Evidence: []string{}, Fix: []string{}}
	if rep.Failed() {
		r.Summary = "not sent: the read-only checks found failures; fix them first"
		return r
	}
	c := clients(region)
	cs, ns, err := doctor.ProbeTarget(ctx, c, o.Stack)
	if err != nil {
		r.Summary = "not sent: " + err.Error()
		return r
	}
	s, err := doctorSender(ctx, region)
	if err != nil {
		r.Summary = "not sent: " + err.Error()
		return r
	}
	po := probeTiming
	po.Region, po.From, po.ConfigurationSet, po.Namespace = region, pr.from, cs, ns
	return doctor.Probe(ctx, s, c.CloudWatch, po)
}

// doctorReport runs the checks and prints them; exit 1 when one fails.
func doctorReport(ctx context.Context, clients doctor.ClientsFor, o doctor.Options, pr *probeRequest, asJSON bool, stdout, stderr io.Writer) int {
	rep := doctor.Run(ctx, clients, o)
	if pr != nil {
		r := runProbe(ctx, clients, o, pr, rep)
		rep.Results = append(rep.Results, r)
		rep.Counts[r.Status]++
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "sesguard doctor:", ctx.Err())
		return exitInvalid
	}
	if asJSON {
		if err := doctor.WriteJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "sesguard doctor:", err)
			return exitInvalid
		}
	} else {
		doctor.WriteText(stdout, rep)
	}
	if rep.Failed() {
		return exitInvalid
	}
	if rep.Counts[doctor.Pass]+rep.Counts[doctor.Warn] == 0 {
		// No credentials or no network look like this: not a clean bill.
		fmt.Fprintln(stderr, "sesguard doctor: nothing could be checked: every check was skipped (see why above)")
		return exitInvalid
	}
	return exitOK
}

// errUnknownMiswire names the mis-wirings.
func errUnknownMiswire(name string) error {
	return errors.New("unknown mis-wiring " + name + " (one of: list, all, none, " + strings.Join(localMiswires(), ", ") + ")")
}

// since is the wall time since t, rounded for humans.
func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Microsecond) }
