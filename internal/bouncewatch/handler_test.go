package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/sesguard/sesguard/internal/alert"
	mx "github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig() Config {
	return Config{Region: "us-east-1", Namespace: "SESGuard", Window: DefaultWindow, DivergenceMargin: DefaultDivergenceMargin, Rates: reputation.DefaultConfig()}
}

func readEvent(t testing.TB, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSampleSQSBatch(t *testing.T) {
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	cw := newMemCloudWatch(func() time.Time { return now })
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet, Now: func() time.Time { return now }})
	out, err := h.Handle(context.Background(), readEvent(t, "bouncewatch-sqs-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, ok := out.(events.SQSEventResponse); !ok || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response = %#v, want an empty SQSEventResponse", out)
	}
	if len(cw.puts) != 1 {
		t.Fatalf("%d PutMetricData calls, want 1", len(cw.puts))
	}
	got := cw.datums()
	want := map[string]float64{
		"Sends": 1, "Deliveries": 1, "HardBounces": 1, "SoftBounces": 1, "SuppressedBounces": 1,
		"SimulatorEvents": 2, "Complaints": 1, "Rejects": 1,
	}
	for name, n := range want {
		for _, scope := range []string{"account/us-east-1", "configuration-set/ConfigSet", "domain/example.com"} {
			if k := name + "/" + scope; got[k] != n {
				t.Errorf("%s = %v, want %v", k, got[k], n)
			}
		}
	}
	for _, v := range cw.dimensionValues() {
		if strings.Contains(v, "@") {
			t.Errorf("dimension value %q contains an address", v)
		}
	}
	// Replaying the same batch in a warm container counts nothing new.
	if _, err := h.Handle(context.Background(), readEvent(t, "bouncewatch-sqs-batch.json")); err != nil {
		t.Fatal(err)
	}
	if len(cw.puts) != 1 || cw.datums()["Sends/account/us-east-1"] != 1 {
		t.Fatalf("replay counted again (%d calls): %v", len(cw.puts), cw.datums())
	}
}

func TestDirectSNSAndShapes(t *testing.T) {
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	cw := newMemCloudWatch(func() time.Time { return now })
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	h.now = func() time.Time { return now }
	ctx := context.Background()
	if out, err := h.Handle(ctx, readEvent(t, "bouncewatch-sns-bounce.json")); err != nil || out != nil {
		t.Fatalf("SNS: %v, %v", out, err)
	}
	if got := cw.datums()["HardBounces/domain/example.com"]; got != 1 {
		t.Fatalf("SNS bounce not counted: %v", cw.datums())
	}
	out, err := h.Handle(ctx, readEvent(t, "bouncewatch-schedule.json"))
	if err != nil || cw.gets != 1 {
		t.Fatalf("schedule: %v, %v, %d GetMetricData calls", out, err, cw.gets)
	}
	if _, ok := out.(*Report); !ok {
		t.Fatalf("schedule returned %T", out)
	}
	if _, err := h.Handle(ctx, json.RawMessage(`{"action":"evaluate"}`)); err != nil || cw.gets != 2 {
		t.Fatalf("scheduler input: %v", err)
	}
	if _, err := h.Handle(ctx, json.RawMessage(`{"hello":"world"}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("unknown shape: %v", err)
	}
	if _, err := h.Handle(ctx, json.RawMessage(`[1,2]`)); err == nil {
		t.Fatal("non-object accepted")
	}
}

func TestPoisonAndRawDelivery(t *testing.T) {
	cw := newMemCloudWatch(time.Now)
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	ev := `{"Records":[
	 {"messageId":"a","eventSource":"aws:sqs","body":"not json"},
	 {"messageId":"b","eventSource":"aws:sqs","body":"{\"Type\":\"Notification\",\"MessageId\":\"x\",\"Message\":\"{\\\"hello\\\":1}\"}"},
	 {"messageId":"c","eventSource":"aws:sqs","body":"{\"eventType\":\"Send\",\"mail\":{\"messageId\":\"m1\",\"source\":\"a@Shop.Example\",\"destination\":[\"x@y.z\"]},\"send\":{}}"},
	 {"messageId":"d","eventSource":"aws:sqs","body":"{\"eventType\":\"Open\",\"mail\":{\"messageId\":\"m1\"},\"open\":{}}"}]}`
	if _, err := h.Handle(context.Background(), json.RawMessage(ev)); err != nil {
		t.Fatal(err)
	}
	got := cw.datums()
	if got["PoisonRecords/bouncewatch"] != 2 {
		t.Errorf("poison = %v, want 2", got["PoisonRecords/bouncewatch"])
	}
	if got["Sends/domain/shop.example"] != 1 || got["Sends/account/us-east-1"] != 1 {
		t.Errorf("raw-delivery Send not counted by source domain: %v", got)
	}
}

func TestPublishFailureFailsBatch(t *testing.T) {
	cw := newMemCloudWatch(time.Now)
	cw.putErr = errors.New("throttled")
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	_, err := h.Handle(context.Background(), readEvent(t, "bouncewatch-sqs-batch.json"))
	if err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("err = %v, want the publish failure", err)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{EnvRegion: "eu-west-1", EnvWatchScopes: "configuration-set:tx, domain:Example.COM,domain:example.com", EnvWindow: "6h", EnvDivergenceMargin: "2"}
	c, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Window != 6*time.Hour || c.DivergenceMargin != 20_000 || c.Namespace != mx.DefaultNamespace ||
		!slices.Equal(c.Scopes, []Scope{{mx.ScopeConfigurationSet, "tx"}, {mx.ScopeDomain, "example.com"}}) {
		t.Fatalf("config = %+v", c)
	}
	for _, kv := range [][2]string{{EnvWindow, "1m"}, {EnvWindow, "5m"}, {EnvWindow, "59m"}, {EnvWindow, "337h"},
		{EnvWatchScopes, "domain:a@b.c"}, {EnvDivergenceMargin, "x"}, {reputation.EnvMinSends, "-3"}} {
		k, v := kv[0], kv[1]
		e := map[string]string{EnvRegion: "eu-west-1", k: v}
		if _, err := LoadConfig(func(s string) string { return e[s] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v", k, v, err)
		}
	}
	for _, v := range []string{"1h", "60m", "336h"} {
		e := map[string]string{EnvRegion: "eu-west-1", EnvWindow: v}
		if _, err := LoadConfig(func(s string) string { return e[s] }); err != nil {
			t.Errorf("%s=%q: %v", EnvWindow, v, err)
		}
	}
	if _, err := LoadConfig(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), EnvRegion) {
		t.Errorf("missing region: %v", err)
	}
	for _, v := range []string{EnvRegion, mx.EnvNamespace, reputation.EnvBounceCritical, EnvWatchScopes} {
		if !slices.Contains(EnvVars, v) {
			t.Errorf("EnvVars lacks %s", v)
		}
	}
}

// scenarioBatch builds an SQS event of sends SNS-wrapped Send events and
// bounces hard bounces (each for one of those sends).
func scenarioBatch(batch, sends, bounces int) json.RawMessage {
	var recs []events.SQSMessage
	add := func(ses string) {
		env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": fmt.Sprintf("sns-%02d-%05d", batch, len(recs)), "Message": ses})
		recs = append(recs, events.SQSMessage{MessageId: fmt.Sprintf("sqs-%d", len(recs)), EventSource: "aws:sqs", Body: string(env)})
	}
	mail := func(i int) string {
		return fmt.Sprintf(`"mail":{"messageId":"m-%02d-%05d","source":"noreply@example.com","destination":["user%d@example.net"],"tags":{"ses:configuration-set":["transactional"],"ses:from-domain":["example.com"]}}`, batch, i, i)
	}
	for i := range sends {
		add(`{"eventType":"Send",` + mail(i) + `,"send":{}}`)
	}
	for i := range bounces {
		add(fmt.Sprintf(`{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"user%d@example.net","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},`, i) + mail(i) + `}`)
	}
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

// TestScenarioRamp: 10,000 sends in 20 batches of 500, evaluated every 5
// minutes over a 30-minute window (6 batches). The per-batch bounce rate
// ramps 1% -> 6% -> 2% and settles at 1% (at exactly 2% the rate stays at
// warning: thresholds are "or greater"). Expected: warning, critical,
// recovery to warning, recovery to ok, and nothing else.
func TestScenarioRamp(t *testing.T) {
	seq, text := runScenario(t, nil)
	want := []string{"rate/account/warning", "rate/account/critical", "rate/account/warning", "rate/account/ok"}
	if !slices.Equal(seq, want) {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
	checkGolden(t, "scenario-ramp.golden", text)
}

// TestScenarioRampScopes: the same traffic, all through one configuration
// set and one domain that are watched too. The three scopes cover the same
// traffic, so each level change is announced once, by the account's alert,
// which names the scopes it covers; the metrics stay per scope.
func TestScenarioRampScopes(t *testing.T) {
	seq, text := runScenario(t, []Scope{{mx.ScopeConfigurationSet, "transactional"}, {mx.ScopeDomain, "example.com"}})
	want := []string{"rate/account/warning", "rate/account/critical", "rate/account/warning", "rate/account/ok"}
	if !slices.Equal(seq, want) {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
	if n := strings.Count(text, "Also covers: configuration-set:transactional, domain:example.com (the same sends, bounces and complaints in the window)\n"); n != len(want) {
		t.Fatalf("%d of %d alerts name the scopes they cover:\n%s", n, len(want), text)
	}
	checkGolden(t, "scenario-ramp-scopes.golden", text)
}

func runScenario(t *testing.T, scopes []Scope) (seq []string, text string) {
	ratesPct := []int{1, 1, 1, 2, 4, 6, 6, 6, 6, 6, 6, 4, 2, 2, 2, 2, 1, 1, 1, 1}
	const perBatch = 500
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	cw := newMemCloudWatch(clock)
	cfg := testConfig()
	cfg.Window = 30 * time.Minute
	cfg.Scopes = scopes
	var sent []alert.Alert
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error { sent = append(sent, a); return nil })
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Account: healthyAccount(), Alerts: sink, Log: quiet})
	h.now = clock
	ctx := context.Background()

	var golden strings.Builder
	var window []int
	totalSends := 0
	for run, pct := range ratesPct {
		runAt := start.Add(time.Duration(run+1) * 5 * time.Minute)
		now = runAt.Add(-time.Minute)
		bounces := perBatch * pct / 100
		if _, err := h.Handle(ctx, scenarioBatch(run, perBatch, bounces)); err != nil {
			t.Fatal(err)
		}
		totalSends += perBatch
		// triage's view of the same bounces, and SES's own figure (close to ours).
		cw.put(mx.DefaultNamespace, string(mx.Failures), float64(bounces*7/10), "Rule", "bounce.hard.no-such-user", "Region", "us-east-1")
		cw.put(mx.DefaultNamespace, string(mx.Failures), float64(bounces-bounces*7/10), "Rule", "bounce.hard.general", "Region", "us-east-1")
		window = append(window, bounces)
		if len(window) > 6 {
			window = window[1:]
		}
		ours := float64(sumInts(window)) / float64(perBatch*len(window))
		cw.put(mx.SESNamespace, mx.SESBounceRate, ours+0.001)

		now = runAt
		before := len(sent)
		rep, err := h.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("run %d: report does not encode: %v", run+1, err)
		}
		if rep.GetCalls != 1 || rep.PutCalls != 1 {
			t.Fatalf("run %d: %d GetMetricData and %d PutMetricData calls, want 1 each", run+1, rep.GetCalls, rep.PutCalls)
		}
		for _, a := range sent[before:] {
			fmt.Fprintf(&golden, "=== run %d (%s)\nSubject: %s\n\n%s\n", run+1, now.Format(time.TimeOnly), a.Subject(), alert.RenderText(a))
		}
	}
	if totalSends != 10_000 {
		t.Fatalf("scenario sent %d", totalSends)
	}
	for _, a := range sent {
		seq = append(seq, fmt.Sprintf("%s/%s/%s", a.Kind, a.Scope, a.Level))
	}
	return seq, golden.String()
}

func sumInts(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s", path, got)
	}
}

// countingPut counts PutMetricData calls and otherwise does nothing.
type countingPut struct{ puts, gets atomic.Int64 }

func (c *countingPut) PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	c.puts.Add(1)
	return &cloudwatch.PutMetricDataOutput{}, nil
}

func (c *countingPut) GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	c.gets.Add(1)
	return &cloudwatch.GetMetricDataOutput{}, nil
}

// BenchmarkSQSBatch10000 handles a 10,000-record SQS batch (the SQS maximum)
// and reports AWS calls per batch and the peak live heap during it.
func BenchmarkSQSBatch10000(b *testing.B) {
	payload := scenarioBatch(1, 9_000, 1_000)
	b.ReportMetric(float64(len(payload))/(1<<20), "payload-MB")
	// Building the payload left json.Marshal's encode buffer (about 10 MB)
	// in a sync.Pool; it survives one GC in the pool's victim cache and
	// would double the first iteration's heap goal. Two GCs drop it, so the
	// peak below is the handler's, not the fixture's.
	runtime.GC()
	runtime.GC()
	cw := &countingPut{}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h := mustNew(b, testConfig(), Deps{CloudWatch: cw, Log: quiet}) // a fresh container: empty dedup memory
		b.StopTimer()
		runtime.GC()
		stop, done := make(chan struct{}), make(chan uint64)
		go func() {
			var p uint64
			for {
				metrics.Read(samples)
				p = max(p, samples[0].Value.Uint64())
				select {
				case <-stop:
					done <- p
					return
				default:
					runtime.Gosched()
				}
			}
		}()
		b.StartTimer()
		if _, err := h.Handle(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		close(stop)
		peak = max(peak, <-done)
		b.StartTimer()
	}
	b.ReportMetric(float64(cw.puts.Load()+cw.gets.Load())/float64(b.N), "aws-calls/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// TestRetriedBatchCountsOnce: a batch whose publish failed is retried by
// Lambda; its records must count on the retry (not be taken for
// duplicates), and only once.
func TestRetriedBatchCountsOnce(t *testing.T) {
	event := readEvent(t, "bouncewatch-sqs-batch.json")
	total := func(cw *memCloudWatch) float64 {
		cw.mu.Lock()
		defer cw.mu.Unlock()
		sum := 0.0
		for k, pts := range cw.points {
			if strings.Contains(k, "|"+string(mx.Sends)+"|") {
				for _, p := range pts {
					sum += p.v
				}
			}
		}
		return sum
	}
	want := newMemCloudWatch(time.Now)
	if _, err := mustNew(t, testConfig(), Deps{CloudWatch: want, Log: quiet}).Handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if total(want) == 0 {
		t.Fatal("the sample batch counts no sends")
	}

	cw := newMemCloudWatch(time.Now)
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	cw.putErr = errors.New("throttled")
	if _, err := h.Handle(context.Background(), event); err == nil {
		t.Fatal("want the publish failure")
	}
	cw.putErr = nil
	if _, err := h.Handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if got := total(cw); got != total(want) {
		t.Errorf("after a failed publish and a retry: Sends = %v, want %v", got, total(want))
	}
	// A third delivery of the same batch is a duplicate.
	if _, err := h.Handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if got := total(cw); got != total(want) {
		t.Errorf("after a duplicate delivery: Sends = %v, want %v", got, total(want))
	}
}

// TestLoadConfigEveryError: one cold start names every bad variable, in
// one format.
func TestLoadConfigEveryError(t *testing.T) {
	env := map[string]string{EnvWindow: "5m", EnvDivergenceMargin: "x", reputation.EnvMinSends: "-3",
		EnvWatchScopes: "domain:jane@example.com", alert.EnvAlertsTopicARN: "alerts", mx.EnvNamespace: "AWS/SES"}
	_, err := LoadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{EnvRegion + `="": required`, EnvWindow + `="5m": want`, EnvDivergenceMargin + `="x": want`,
		reputation.EnvMinSends + `="-3": want`, alert.EnvAlertsTopicARN + `="alerts": want`, mx.EnvNamespace + `="AWS/SES": `, EnvWatchScopes + ": "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "jane@") {
		t.Errorf("error repeats an address:\n%v", err)
	}
}
