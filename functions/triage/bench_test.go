package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/internal/testkit"
	"github.com/sesguard/sesguard/internal/triage"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// BenchmarkStormBatch: one op is one SQS invocation of 10 failures of
// one storm (make bench's triage storm, in process: one alert key, an
// alerts topic, so the storm's counts ride on the claims), with the state
// table (kumo's DynamoDB) and without; the ratio of the two is the
// table's cost, and dynamodb-calls/op its calls per warm invocation. kumo
// and the storm test's router (every call goes through it, in both) run in
// this process, so their work is in the figure. Profile with -cpuprofile.
func BenchmarkStormBatch(b *testing.B) {
	for _, table := range []bool{false, true} {
		name := "memory"
		if table {
			name = "table"
		}
		b.Run(name, func(b *testing.B) { benchStorm(b, table) })
	}
}

func benchStorm(b *testing.B, table bool) {
	ctx := context.Background()
	srv := kumo.NewServer()
	b.Cleanup(srv.Close)
	kumoCfg := testkit.ConfigFor(srv.URL)
	yes := true
	ses := localstack.NewSESFake(&ruleset.Facts{SendingRegion: "us-east-1", Regions: map[string]*ruleset.RegionFacts{
		"us-east-1": {ProductionAccess: &yes, SendingEnabled: &yes, EnforcementStatus: "HEALTHY", SuppressedReasons: []string{},
			Identities: map[string]string{"yourapp.com": "SUCCESS"}},
	}})
	var tr traffic // the storm test's router: SES to the fake, the rest to kumo, no faults
	rt := router(b, srv.URL, ses, &faults{}, &tr)
	tap := testkit.NewTap(b, kumoCfg, "bench-alerts")
	env := map[string]string{alert.EnvAlertsTopicARN: tap.TopicARN, triage.EnvSuppressMode: "auto", triage.EnvCandidateRegions: "none", "METRICS_NAMESPACE": testkit.Unique("SESGuardBench")}
	if table {
		t := testkit.Unique("sesguard-state")
		if err := state.CreateTable(ctx, dynamodb.NewFromConfig(kumoCfg), t); err != nil {
			b.Fatal(err)
		}
		env[triage.EnvStateTable] = t
	}
	cfg, err := triage.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	awsCfg := testkit.ConfigFor(rt.URL)
	awsCfg.DisableRequestCompression = true
	h, err := triage.Build(ctx, cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	batch := func() []byte {
		ev := events.SQSEvent{}
		for range 10 {
			n++
			msg := fmt.Sprintf(`{"error":"Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: noreply@yourapp.com","region":"eu-west-1","from":"noreply@yourapp.com","to":["user%05d@example.com"]}`, n)
			body, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": fmt.Sprintf("bench-%d", n), "TopicArn": "arn:aws:sns:us-east-1:000000000000:sesguard-SesEventsTopic", "Message": msg})
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(n), Body: string(body), EventSource: "aws:sqs", AWSRegion: "us-east-1"})
		}
		raw, _ := json.Marshal(ev)
		return raw
	}
	// The first invocation (a cold environment: facts looked up) is not
	// the storm's steady state.
	if _, err := h.Handle(ctx, batch()); err != nil {
		b.Fatal(err)
	}
	tr.dynamo.Store(0)
	ops := 0
	for b.Loop() {
		ops++
		b.StopTimer()
		raw := batch()
		b.StartTimer()
		out, err := h.Handle(ctx, raw)
		if err != nil {
			b.Fatal(err)
		}
		if f := out.(events.SQSEventResponse).BatchItemFailures; len(f) > 0 {
			b.Fatalf("%d records failed", len(f))
		}
	}
	b.ReportMetric(float64(tr.dynamo.Load())/float64(ops), "dynamodb-calls/op")
}
