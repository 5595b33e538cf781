package dryrun

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
)

func TestEnabled(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, " TRUE ": true} {
		got, err := Enabled(func(string) string { return v })
		if err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := Enabled(func(string) string { return "yes please" }); err == nil || !strings.Contains(err.Error(), EnvDryRun) {
		t.Errorf("bad value: %v, want an error naming %s", err, EnvDryRun)
	}
}

// TestLogsInsteadOfSending: every stand-in logs what would have been sent
// (addresses masked) and answers as if it had been.
func TestLogsInsteadOfSending(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx := context.Background()
	if err := Sink(log, "arn:aws:sns:us-east-1:123456789012:a").Send(ctx, alert.Alert{Kind: alert.KindDiagnosis, Title: "t", Rule: "reject.x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := (SES{Log: log}).PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String("bob@example.com")}); err != nil {
		t.Fatal(err)
	}
	if _, err := (SES{Log: log}).GetAccount(ctx, &sesv2.GetAccountInput{}); err == nil {
		t.Error("GetAccount answered: the account must read as unknown")
	}
	cw := CloudWatch{Log: log}
	if _, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("N"), MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("Sends")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q1")}}})
	if err != nil || len(out.MetricDataResults) != 1 || aws.ToString(out.MetricDataResults[0].Id) != "q1" || len(out.MetricDataResults[0].Values) != 0 {
		t.Errorf("GetMetricData = %+v, %v; want one empty result for q1", out, err)
	}
	got := logs.String()
	if strings.Count(got, Message) != 3 {
		t.Errorf("want 3 %q lines:\n%s", Message, got)
	}
	for _, want := range []string{`"rule":"reject.x"`, `"recipient":"b***@example.com"`, `"metrics":["Sends"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("logs lack %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "bob@example.com") {
		t.Error("a full address in the logs")
	}
}
