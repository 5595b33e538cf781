package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesguard/sesguard/internal/metrics"
)

// ProbeCheckID is the end-to-end probe's result. It is not in Checks: it is
// the one action that writes (sends a message), so it is neither listed
// among the read-only checks nor in ReadOnlyPolicy.
const ProbeCheckID = "doctor.probe.bounce"

// ProbeAction is the IAM action the probe needs besides ReadOnlyPolicy.
const ProbeAction = "ses:SendEmail"

// ProbeRecipient is SES's mailbox simulator address that answers with a
// hard bounce; simulator results do not count toward the account's rates.
const ProbeRecipient = "bounce@simulator.amazonses.com"

// ProbeRule is the rule triage gives a simulator bounce (taxonomy).
const ProbeRule = "simulator"

// Sender is the one write call doctor can make.
type Sender interface {
	SendEmail(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// ProbeOptions configures Probe.
type ProbeOptions struct {
	Region, From, ConfigurationSet, Namespace string
	// Timeout bounds the wait for triage's count (default 6 minutes:
	// CloudWatch shows a datapoint a minute or two after it is put).
	Timeout time.Duration
	// Poll is the wait between reads (default 20 s).
	Poll time.Duration
	Now  func() time.Time
	// Sleep waits d or until ctx ends (tests advance a fake clock).
	Sleep func(ctx context.Context, d time.Duration) error
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Probe sends one message to ProbeRecipient with the configuration set and
// waits, bounded, until triage's Failures metric counts one more simulator
// failure in the Region: SES → configuration set → topic → triage → metric.
func Probe(ctx context.Context, s Sender, cw CloudWatch, o ProbeOptions) Result {
	if o.Timeout == 0 {
		o.Timeout = 6 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Namespace == "" {
		o.Namespace = metrics.DefaultNamespace
	}
	r := Result{Check: ProbeCheckID, Region: o.Region, Subject: o.ConfigurationSet, Evidence: []string{}, Fix: []string{}}
	start := o.Now().Truncate(time.Minute).Add(-time.Minute)
	count := func() (float64, error) {
		out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(o.Now().Add(time.Minute)),
			MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("f"), MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(o.Namespace), MetricName: aws.String(string(metrics.Failures)),
					Dimensions: []cwtypes.Dimension{{Name: aws.String(string(metrics.DimRule)), Value: aws.String(ProbeRule)},
						{Name: aws.String(string(metrics.DimRegion)), Value: aws.String(o.Region)}}},
				Period: aws.Int32(60), Stat: aws.String("Sum")}}}})
		if err != nil {
			return 0, err
		}
		sum := 0.0
		for _, m := range out.MetricDataResults {
			for _, v := range m.Values {
				sum += v
			}
		}
		return sum, nil
	}
	before, err := count()
	if err != nil {
		r.Status, r.Summary = Skipped, callWhy("cloudwatch:GetMetricData", err)
		return r
	}
	sent, err := s.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress:     aws.String(o.From),
		Destination:          &sesv2types.Destination{ToAddresses: []string{ProbeRecipient}},
		ConfigurationSetName: aws.String(o.ConfigurationSet),
		Content: &sesv2types.EmailContent{Simple: &sesv2types.Message{
			Subject: &sesv2types.Content{Data: aws.String("sesguard doctor probe")},
			Body:    &sesv2types.Body{Text: &sesv2types.Content{Data: aws.String("sesguard doctor --probe: this message to the SES mailbox simulator bounces, and sesguard's triage should count it.")}},
		}},
	})
	if err != nil {
		r.Status, r.Summary = Fail, "the probe could not be sent: "+err.Error()
		r.Evidence = append(r.Evidence, fmt.Sprintf("SendEmail from %s to %s with configuration set %s", o.From, ProbeRecipient, o.ConfigurationSet))
		r.Fix = append(r.Fix, "The read-only checks above say what is wrong; the caller also needs "+ProbeAction+" on the identity and the configuration set")
		return r
	}
	r.Evidence = append(r.Evidence, fmt.Sprintf("SendEmail from %s to %s with configuration set %s: MessageId %s", o.From, ProbeRecipient, o.ConfigurationSet, aws.ToString(sent.MessageId)),
		fmt.Sprintf("%s Failures{Rule=%s,Region=%s} since %s: %.0f before the send", o.Namespace, ProbeRule, o.Region, start.Format(time.RFC3339), before))
	deadline := o.Now().Add(o.Timeout)
	for {
		if err := o.Sleep(ctx, o.Poll); err != nil {
			r.Status, r.Summary = Skipped, "stopped waiting: "+err.Error()
			return r
		}
		n, err := count()
		if err == nil && n > before {
			r.Status, r.Summary = Pass, "triage counted the simulator bounce: SES, the configuration set, the topic and triage are wired end to end"
			r.Evidence = append(r.Evidence, fmt.Sprintf("%.0f after the send", n))
			return r
		}
		if !o.Now().Before(deadline) {
			r.Status = Fail
			r.Summary = fmt.Sprintf("no simulator bounce reached triage's metric within %s", o.Timeout)
			r.Evidence = append(r.Evidence, fmt.Sprintf("%.0f after %s", n, o.Timeout))
			r.Fix = append(r.Fix, "Fix what the read-only checks report; then see triage's log: `aws logs tail /aws/lambda/TRIAGE_FUNCTION --since 10m --region "+o.Region+"`")
			return r
		}
	}
}

// ProbeFrom is the sender for a probe from identity: an address as is, a
// domain's probe address otherwise.
func ProbeFrom(identity string) string {
	if strings.Contains(identity, "@") {
		return identity
	}
	return "sesguard-doctor-probe@" + identity
}

// ProbeTarget reads the configuration set and metrics namespace of the
// stack in region (the probe needs both).
func ProbeTarget(ctx context.Context, c Clients, stack string) (configSet, namespace string, err error) {
	out, err := c.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return "", "", fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return "", "", fmt.Errorf("stack %s not found", stack)
	}
	for _, o := range out.Stacks[0].Outputs {
		if aws.ToString(o.OutputKey) == OutConfigurationSet {
			configSet = aws.ToString(o.OutputValue)
		}
	}
	for _, p := range out.Stacks[0].Parameters {
		if aws.ToString(p.ParameterKey) == ParamMetricsNamespace {
			namespace = aws.ToString(p.ParameterValue)
		}
	}
	if configSet == "" {
		return "", "", fmt.Errorf("stack %s has no %s output", stack, OutConfigurationSet)
	}
	return configSet, namespace, nil
}
