// Package dryrun stands in for everything a function would change outside
// its process, for local invocations (`make invoke-triage`, `sam local
// invoke` with env/local.json): with DRY_RUN=true an alert, a suppression
// or a metric is written to the function's log as what would have been
// sent, and nothing is sent. Reads that would reach AWS (account facts,
// CloudWatch statistics) answer "nothing known" instead, so a dry run
// needs no credentials and touches no account.
package dryrun

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/envvar"
	"github.com/sesguard/sesguard/internal/facts"
)

// EnvDryRun is the variable that turns dry runs on ("true"); both
// functions read it.
const EnvDryRun = "DRY_RUN"

// Enabled reads EnvDryRun: unset or empty is off; otherwise a boolean as
// strconv.ParseBool spells it.
func Enabled(getenv func(string) string) (bool, error) {
	v := strings.TrimSpace(getenv(EnvDryRun))
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, envvar.Bad(EnvDryRun, v, "want true or false")
	}
	return on, nil
}

// Message is the log message of every dry-run line, so they can be picked
// out of the function's logs.
const Message = "dry run: not sent"

// Sink logs each alert in full (as its SNS message body would carry it)
// and sends nothing. target names where it would have gone.
func Sink(log *slog.Logger, target string) alert.Sink {
	return alert.SinkFunc(func(ctx context.Context, a alert.Alert) error {
		log.InfoContext(ctx, Message, "would", "publish alert", "to", target, "alert", a)
		return nil
	})
}

// SES logs suppressions and answers GetAccount with "unknown", so
// suppression stays off unless SUPPRESS_MODE=always.
type SES struct{ Log *slog.Logger }

// PutSuppressedDestination logs the suppression that would be made.
func (s SES) PutSuppressedDestination(ctx context.Context, in *sesv2.PutSuppressedDestinationInput, _ ...func(*sesv2.Options)) (*sesv2.PutSuppressedDestinationOutput, error) {
	s.Log.InfoContext(ctx, Message, "would", "add to the account suppression list",
		"recipient", facts.MaskAddress(aws.ToString(in.EmailAddress)), "reason", string(in.Reason))
	return &sesv2.PutSuppressedDestinationOutput{}, nil
}

// GetAccount answers with an error: the account is not consulted.
func (s SES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return nil, errNotConsulted
}

type notConsulted struct{}

func (notConsulted) Error() string { return "dry run: the account is not consulted" }

var errNotConsulted error = notConsulted{}

// CloudWatch logs the metrics that would be put and reads no statistics
// (an empty window: every rate is below its minimum sample).
type CloudWatch struct{ Log *slog.Logger }

// PutMetricData logs the datums that would be put.
func (c CloudWatch) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	names := make([]string, 0, len(in.MetricData))
	for _, d := range in.MetricData {
		names = append(names, aws.ToString(d.MetricName))
	}
	c.Log.InfoContext(ctx, Message, "would", "put metric data", "namespace", aws.ToString(in.Namespace), "datums", len(in.MetricData), "metrics", names)
	return &cloudwatch.PutMetricDataOutput{}, nil
}

// GetMetricData answers with no data points.
func (c CloudWatch) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		out.MetricDataResults = append(out.MetricDataResults, types.MetricDataResult{Id: q.Id, StatusCode: types.StatusCodeComplete})
	}
	return out, nil
}
