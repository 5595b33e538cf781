package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// resumeSES is the part of *sesv2.Client resume calls. kumo implements
// neither GetAccount nor PutConfigurationSetSendingOptions; tests fake
// them here.
type resumeSES interface {
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
	GetConfigurationSet(ctx context.Context, in *sesv2.GetConfigurationSetInput, opts ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error)
	PutConfigurationSetSendingOptions(ctx context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, opts ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error)
}

// resumeMetrics is the part of *cloudwatch.Client resume calls.
type resumeMetrics interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

type resumeOptions struct {
	ConfigurationSet, Region, Namespace string
	Yes                                 bool
	Now                                 time.Time
}

// runResume is `sesguard resume`: turning sending back on for a
// configuration set auto-pause stopped is a person's decision, made after
// seeing what sesguard sees.
func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("resume", stderr)
	var o resumeOptions
	fs.StringVar(&o.ConfigurationSet, "configuration-set", "", "the configuration set to turn sending back on for")
	fs.StringVar(&o.Region, "region", "", "its Region (default: the SDK's)")
	fs.StringVar(&o.Namespace, "namespace", metrics.DefaultNamespace, "sesguard's CloudWatch namespace (template parameter MetricsNamespace)")
	fs.BoolVar(&o.Yes, "yes", false, "turn sending back on (without it, only say what sesguard sees)")
	if rest, err := parseInterspersed(fs, args); err != nil || len(rest) > 0 || o.ConfigurationSet == "" {
		fmt.Fprint(stderr, "usage: sesguard resume --configuration-set NAME [--region R] [--namespace NS] [--yes]\n")
		return exitUsage
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := awsconfig.Load(ctx, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard resume: %v\n", err)
		return exitInvalid
	}
	o.Region, o.Now = cfg.Region, time.Now()
	return resume(ctx, sesv2.NewFromConfig(cfg), awsconfig.NewCloudWatch(cfg), o, stdout, stderr)
}

func resume(ctx context.Context, ses resumeSES, cw resumeMetrics, o resumeOptions, stdout, stderr io.Writer) int {
	name := o.ConfigurationSet
	cs, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(name)})
	if err != nil {
		fmt.Fprintf(stderr, "sesguard resume: read configuration set %s in %s: %v\n", name, o.Region, err)
		return exitInvalid
	}
	enabled := cs.SendingOptions == nil || cs.SendingOptions.SendingEnabled
	fmt.Fprintf(stdout, "Configuration set %s in %s: sending %s.\n", name, o.Region, onOff(enabled))
	if acct, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{}); err != nil {
		fmt.Fprintf(stdout, "SES account: status not available (%v).\n", err)
	} else {
		fmt.Fprintf(stdout, "SES account: enforcement status %s, sending %s.\n", aws.ToString(acct.EnforcementStatus), onOff(acct.SendingEnabled))
		if aws.ToString(acct.EnforcementStatus) != "HEALTHY" || !acct.SendingEnabled {
			fmt.Fprintln(stdout, "  SES has acted on the whole account; resuming this configuration set does not change that.")
		}
	}
	printRates(ctx, cw, o, stdout)
	if enabled {
		fmt.Fprintln(stdout, "Nothing to resume.")
		return exitOK
	}
	if !o.Yes {
		fmt.Fprintf(stdout, "Sending stays off. To turn it back on, once the cause is fixed:\n  sesguard resume --configuration-set %s --region %s --yes\n", name, o.Region)
		return exitUsage
	}
	if _, err := ses.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{
		ConfigurationSetName: aws.String(name), SendingEnabled: true,
	}); err != nil {
		fmt.Fprintf(stderr, "sesguard resume: turn sending on for %s in %s: %v\n", name, o.Region, err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "Sending is on again for %s in %s. bouncewatch will not pause it again before its cooldown (the evaluation window) has passed since the pause; after that, a rate still critical is paused again.\n", name, o.Region)
	return exitOK
}

// printRates says the newest bounce and complaint rates bouncewatch
// published for the configuration set in the last day.
func printRates(ctx context.Context, cw resumeMetrics, o resumeOptions, stdout io.Writer) {
	q := func(id string, m metrics.Name) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(o.Namespace), MetricName: aws.String(string(m)), Dimensions: []cwtypes.Dimension{
				{Name: aws.String(string(metrics.DimScopeType)), Value: aws.String(metrics.ScopeConfigurationSet)},
				{Name: aws.String(string(metrics.DimScope)), Value: aws.String(o.ConfigurationSet)},
			}},
			Period: aws.Int32(300), Stat: aws.String("Average")}}
	}
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(o.Now.Add(-24 * time.Hour)), EndTime: aws.Time(o.Now),
		ScanBy:            cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{q("bounce", metrics.BounceRate), q("complaint", metrics.ComplaintRate)},
	})
	if err != nil {
		fmt.Fprintf(stdout, "Rates: not available (%v).\n", err)
		return
	}
	found := false
	for _, r := range out.MetricDataResults {
		if len(r.Values) == 0 {
			continue
		}
		found = true
		fmt.Fprintf(stdout, "%s rate (sesguard, newest evaluation at %s): %s\n", aws.ToString(r.Id), r.Timestamps[0].UTC().Format(time.RFC3339), reputation.FormatRate(r.Values[0]))
	}
	if !found {
		fmt.Fprintf(stdout, "Rates: sesguard published none for %s in namespace %s in the last 24h.\n", o.ConfigurationSet, o.Namespace)
		return
	}
	fmt.Fprintln(stdout, "  While paused the configuration set sends nothing, so its rate stays where the pause left it until the window moves past the bad sends.")
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
