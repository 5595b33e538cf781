package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	"github.com/slack-go/slack"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/testkit"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

var allCases = []string{"sandbox-reject", "region-mismatch", "envelope-rewrite", "hard-bounce", "blocklist-bounce",
	"complaint", "rendering-failure", "delivery-delay", "malformed"}

// TestBatchKumo drives a batch of ten SQS records (every sample in events/,
// the malformed one included, plus a second sandbox reject) through the
// handler on the real wire: facts from kumo's SES identities, alerts
// published to a kumo topic and read back through an SQS subscription,
// Slack through an httptest server, metrics read back with GetMetricData.
func TestBatchKumo(t *testing.T) {
	createIdentities(t, "yourapp.example")
	topicARN, readAlerts := alertTap(t)

	var slackMu sync.Mutex
	var slackMsgs []slack.WebhookMessage
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m slack.WebhookMessage
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("Slack body: %v", err)
		}
		slackMu.Lock()
		slackMsgs = append(slackMsgs, m)
		slackMu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer slackSrv.Close()

	snsSink, err := alert.NewSNSSink(sns.NewFromConfig(kumoAWSConfig()), topicARN)
	if err != nil {
		t.Fatal(err)
	}
	slackSink, err := alert.NewSlackSink(slackSrv.URL+"/services/T000/B000/XXXX", nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := testkit.Unique("SESGuardTest-" + testkit.Name(t)) // kumo's registry outlives the test (-count=N)
	cw := &countingCW{next: kumoCloudWatch()}
	sup := &fakeSuppressor{}
	clk := newClock()
	h, err := New(handlerCfg(SuppressAuto), Deps{
		Rules:       ruleset.Default(),
		Facts:       factsFor(testkit.Account(true), clk.Now), // account-level suppression off
		Suppressors: sup.factory(),
		Metrics:     metrics.NewPublisher(cw, ns),
		Region:      "us-east-1",
		Log:         discard(),
		Now:         clk.Now,
		Sinks:       alert.Fanout{snsSink, slackSink},
	})
	if err != nil {
		t.Fatal(err)
	}

	var recs []json.RawMessage
	for _, c := range allCases {
		recs = append(recs, sqsRecords(t, "triage-sqs-"+c)...)
	}
	recs = append(recs, sqsRecords(t, "triage-sqs-sandbox-reject")...)
	if len(recs) != 10 {
		t.Fatalf("batch has %d records, want 10", len(recs))
	}
	out, err := h.Handle(t.Context(), sqsEvent(t, "m", recs))
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := out.(events.SQSEventResponse)
	if !ok {
		t.Fatalf("Handle returned %T, want events.SQSEventResponse", out)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("BatchItemFailures = %v, want none (the malformed record is poison, not a failure)", resp.BatchItemFailures)
	}
	if cw.n() != 1 {
		t.Errorf("PutMetricData calls = %d, want 1", cw.n())
	}

	// Suppression: the hard bounce and the complaint, nothing else.
	gotSup := sup.got()
	sort.Strings(gotSup)
	wantSup := []string{"us-east-1 BOUNCE jane.doe@example.com", "us-east-1 COMPLAINT recipient@example.com"}
	if !slices.Equal(gotSup, wantSup) {
		t.Errorf("suppressed %q, want %q", gotSup, wantSup)
	}

	// Alerts: every warning and critical diagnosis once; the second
	// sandbox reject is held back by the aggregator; the delay (info) is
	// not announced.
	alerts := readAlerts()
	var rules []string
	for _, a := range alerts {
		rules = append(rules, a.Rule)
		if a.Kind != alert.KindDiagnosis || a.Source != Source || a.Count != 1 || a.Time.IsZero() {
			t.Errorf("alert %+v: want a diagnosis alert from %s with count 1 and a time", a, Source)
		}
	}
	sort.Strings(rules)
	if len(alerts) != 7 {
		t.Fatalf("read %d alerts back from the topic, want 7: %q", len(alerts), rules)
	}
	for _, want := range []string{"bounce.hard.no-such-user", "bounce.policy.blocklisted", "complaint.abuse", "reject.rendering-failure", "reject.envelope-sender-rewritten"} {
		if !slices.Contains(rules, want) {
			t.Errorf("no %s alert in %q", want, rules)
		}
	}
	if slices.Contains(rules, "delay.mailbox-full") {
		t.Errorf("info diagnosis delay.mailbox-full was announced")
	}
	for _, a := range alerts {
		if a.Rule == "bounce.hard.no-such-user" && (a.Identity != "example.com" || a.Scope != ScopeRecipientDomain) {
			t.Errorf("bounce alert identity %q scope %q, want the recipient domain", a.Identity, a.Scope)
		}
	}

	slackMu.Lock()
	defer slackMu.Unlock()
	if len(slackMsgs) != 7 {
		t.Fatalf("Slack got %d messages, want 7", len(slackMsgs))
	}
	for _, m := range slackMsgs {
		if m.Blocks == nil || len(m.Blocks.BlockSet) < 3 {
			t.Fatalf("Slack message without blocks: %+v", m)
		}
		hdr, ok := m.Blocks.BlockSet[0].(*slack.HeaderBlock)
		if !ok {
			t.Fatalf("first block is %T, want a header", m.Blocks.BlockSet[0])
		}
		if !strings.Contains(hdr.Text.Text, "(us-east-1)") && !strings.Contains(hdr.Text.Text, "(eu-west-1)") {
			t.Errorf("Slack header %q does not name the Region", hdr.Text.Text)
		}
		if m.Text == "" {
			t.Errorf("Slack message has no fallback text")
		}
	}

	// Metrics, read back from kumo.
	for _, tc := range []struct {
		name metrics.Name
		dims map[string]string
		want float64
	}{
		{metrics.Failures, map[string]string{"Rule": "bounce.hard.no-such-user", "Region": "us-east-1"}, 1},
		{metrics.Failures, map[string]string{"Rule": "delay.mailbox-full", "Region": "us-east-1"}, 1},
		{metrics.Failures, map[string]string{"Rule": "reject.envelope-sender-rewritten", "Region": "eu-west-1"}, 1},
		{metrics.PoisonRecords, map[string]string{"Function": metrics.FunctionTriage}, 1},
	} {
		if got := metricSum(t, ns, tc.name, tc.dims); got != tc.want {
			t.Errorf("%s %v = %v, want %v", tc.name, tc.dims, got, tc.want)
		}
	}
}

// hideIdentities answers NotFound for every identity: kumo ignores the
// Region, so a Region where an identity does not exist is made here.
type hideIdentities struct{ testkit.WithAccount }

func (hideIdentities) GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	return nil, &sestypes.NotFoundException{Message: aws.String("not found")}
}

// TestFactsKumo shows facts from kumo's identities changing the diagnosis.
func TestFactsKumo(t *testing.T) {
	tests := []struct {
		event, identity string
		account         *sesv2.GetAccountOutput
		hideSending     bool
		want            string
	}{
		{"triage-sns-sandbox-reject", "yourapp.example", testkit.Account(false), false, "reject.sandbox-recipient-unverified"},
		{"triage-sns-region-mismatch", "noreply@yourapp.example", testkit.Account(true), true, "reject.region-mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.event, func(t *testing.T) {
			createIdentities(t, tc.identity)
			g := facts.NewGatherer(facts.Config{
				Clients: func(region string) facts.API {
					c := testkit.WithAccount{Client: kumoSES(region), Account: tc.account}
					if tc.hideSending && region == "us-east-1" {
						return hideIdentities{c}
					}
					return c
				},
				CandidateRegions: []string{"us-west-2"},
				Logger:           discard(),
			})
			rec := &sinkRecorder{}
			h, err := New(handlerCfg(SuppressAuto), Deps{Rules: ruleset.Default(), Facts: g, Metrics: metrics.NewPublisher(&countingCW{}, "T"),
				Log: discard(), Sinks: alert.Fanout{rec}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Handle(t.Context(), readEvent(t, tc.event)); err != nil {
				t.Fatal(err)
			}
			got := rec.alerts()
			if len(got) != 1 || got[0].Rule != tc.want {
				t.Fatalf("alerts %+v, want one %s", got, tc.want)
			}
			if !slices.ContainsFunc(got[0].Figures, func(f alert.Figure) bool { return f.Name == "account facts" && f.Value == "gathered" }) {
				t.Errorf("alert figures %+v do not say facts were gathered", got[0].Figures)
			}
		})
	}
}

// TestFactsAllFailed: when every SES look-up fails (here: access denied
// everywhere), the diagnosis is made without facts, and the alert says
// the facts are unknown, not "gathered".
func TestFactsAllFailed(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
	g := facts.NewGatherer(facts.Config{
		Clients: func(string) facts.API {
			return deniedSES{err: denied}
		},
		CandidateRegions: []string{"us-west-2"},
		Logger:           discard(),
	})
	rec := &sinkRecorder{}
	h, err := New(handlerCfg(SuppressAuto), Deps{Rules: ruleset.Default(), Facts: g, Metrics: metrics.NewPublisher(&countingCW{}, "T"),
		Log: discard(), Sinks: alert.Fanout{rec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(t.Context(), readEvent(t, "triage-sns-region-mismatch")); err != nil {
		t.Fatal(err)
	}
	got := rec.alerts()
	if len(got) == 0 {
		t.Fatal("no alert")
	}
	if !slices.ContainsFunc(got[0].Figures, func(f alert.Figure) bool { return f.Name == "account facts" && f.Value == "unknown" }) {
		t.Errorf("alert figures %+v do not say facts are unknown", got[0].Figures)
	}
}

// deniedSES answers every look-up with err.
type deniedSES struct{ err error }

func (d deniedSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return nil, d.err
}

func (d deniedSES) GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	return nil, d.err
}

// capturingCW keeps the Failures datums it is sent.
type capturingCW struct {
	mu    sync.Mutex
	rules map[string]float64 // "rule region" → sum
	calls int
}

func (c *capturingCW) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.rules == nil {
		c.rules = map[string]float64{}
	}
	for _, d := range in.MetricData {
		var rule, region string
		for _, dim := range d.Dimensions {
			switch aws.ToString(dim.Name) {
			case "Rule":
				rule = aws.ToString(dim.Value)
			case "Region":
				region = aws.ToString(dim.Value)
			case "Function":
				rule = "poison"
			}
			if strings.Contains(aws.ToString(dim.Value), "@") {
				return nil, fmt.Errorf("dimension %s holds an address", aws.ToString(dim.Name))
			}
		}
		v := aws.ToFloat64(d.Value)
		for i, x := range d.Values {
			n := 1.0
			if i < len(d.Counts) {
				n = d.Counts[i]
			}
			v += x * n
		}
		c.rules[strings.TrimSpace(rule+" "+region)] += v
	}
	return &cloudwatch.PutMetricDataOutput{}, nil
}

// TestEventFiles runs every events/triage-*.json through Handle, SNS and
// SQS alike, and checks the rule counted for each.
func TestEventFiles(t *testing.T) {
	want := map[string]string{
		"sandbox-reject":    "reject.sandbox-recipient-unverified us-east-1",
		"region-mismatch":   "reject.region-mismatch us-east-1",
		"envelope-rewrite":  "reject.envelope-sender-rewritten eu-west-1",
		"hard-bounce":       "bounce.hard.no-such-user us-east-1",
		"blocklist-bounce":  "bounce.policy.blocklisted us-east-1",
		"complaint":         "complaint.abuse us-east-1",
		"rendering-failure": "reject.rendering-failure us-east-1",
		"delivery-delay":    "delay.mailbox-full us-east-1",
		"malformed":         "poison",
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "triage-*.json"))
	if len(files) != 2*len(want) {
		t.Errorf("found %d triage event files, want %d", len(files), 2*len(want))
	}
	for _, kind := range []string{"sns", "sqs"} {
		for c, w := range want {
			t.Run(kind+"-"+c, func(t *testing.T) {
				cw := &capturingCW{}
				h, err := New(handlerCfg(SuppressOff), Deps{Rules: ruleset.Default(), Metrics: metrics.NewPublisher(cw, "T"), Log: discard()})
				if err != nil {
					t.Fatal(err)
				}
				out, err := h.Handle(t.Context(), readEvent(t, "triage-"+kind+"-"+c))
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if kind == "sqs" {
					if r, ok := out.(events.SQSEventResponse); !ok || len(r.BatchItemFailures) != 0 {
						t.Errorf("Handle = %#v, want an SQS response without failures", out)
					}
				} else if out != nil {
					t.Errorf("Handle = %#v for an SNS event, want nil", out)
				}
				if cw.calls != 1 || len(cw.rules) != 1 || cw.rules[w] != 1 {
					t.Errorf("counted %v in %d calls, want {%s: 1} in 1", cw.rules, cw.calls, w)
				}
			})
		}
	}
}

func serverError() error {
	return &smithy.GenericAPIError{Code: "InternalFailure", Message: "boom", Fault: smithy.FaultServer}
}

// TestTransient checks which errors fail a record: transient AWS errors
// do, refusals and poison do not, and a lost PutMetricData fails every
// record that had something to count.
func TestTransient(t *testing.T) {
	batch := func(t *testing.T) json.RawMessage {
		var recs []json.RawMessage
		for _, c := range []string{"hard-bounce", "complaint", "malformed", "delivery-delay"} {
			recs = append(recs, sqsRecords(t, "triage-sqs-"+c)...)
		}
		return sqsEvent(t, "r", recs)
	}
	tests := []struct {
		name      string
		supErr    error
		alertErr  error
		metricErr error
		want      []string
	}{
		{"all well", nil, nil, nil, nil},
		{"suppression server fault", serverError(), nil, nil, []string{"r-0", "r-1"}},
		{"suppression refused", &smithy.GenericAPIError{Code: "BadRequestException", Fault: smithy.FaultClient}, nil, nil, nil},
		{"alert publish fails", nil, errors.New("sns: connection reset"), nil, []string{"r-0", "r-1"}},
		{"slack 404", nil, &alert.WebhookError{StatusCode: 404}, nil, nil},
		{"slack 503", nil, &alert.WebhookError{StatusCode: 503}, nil, []string{"r-0", "r-1"}},
		{"metrics fail", nil, nil, serverError(), []string{"r-0", "r-1", "r-3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sup := &fakeSuppressor{errFn: func(string) error { return tc.supErr }}
			rec := &sinkRecorder{err: tc.alertErr}
			h, err := New(handlerCfg(SuppressAlways), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(),
				Metrics: metrics.NewPublisher(&countingCW{err: tc.metricErr}, "T"), Log: discard(), Sinks: alert.Fanout{rec}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Handle(t.Context(), batch(t))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range out.(events.SQSEventResponse).BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("BatchItemFailures = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("SNS transient returns an error", func(t *testing.T) {
		rec := &sinkRecorder{err: errors.New("sns: throttled")}
		h, _ := New(handlerCfg(SuppressOff), Deps{Rules: ruleset.Default(), Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard(), Sinks: alert.Fanout{rec}})
		if _, err := h.Handle(t.Context(), readEvent(t, "triage-sns-hard-bounce")); err == nil {
			t.Error("Handle = nil error, want the transient alert failure")
		}
		if _, err := h.Handle(t.Context(), readEvent(t, "triage-sns-malformed")); err != nil {
			t.Errorf("Handle(malformed) = %v, want nil: poison is acknowledged", err)
		}
	})
}

// TestSQSTransientLogged: an SQS batch reports its failed records by ID
// only, so the reasons are logged, with addresses masked.
func TestSQSTransientLogged(t *testing.T) {
	var logs bytes.Buffer
	sup := &fakeSuppressor{errFn: func(addr string) error {
		return &smithy.GenericAPIError{Code: "InternalFailure", Message: "could not add " + addr, Fault: smithy.FaultServer}
	}}
	h, err := New(handlerCfg(SuppressAlways), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(),
		Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Handle(t.Context(), sqsEvent(t, "r", sqsRecords(t, "triage-sqs-hard-bounce")))
	if err != nil {
		t.Fatal(err)
	}
	if f := out.(events.SQSEventResponse).BatchItemFailures; len(f) != 1 {
		t.Fatalf("BatchItemFailures = %v, want the bounce", f)
	}
	var warned []string
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Level, Msg, Err string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "records failed transiently; reported for retry" && rec.Level == "WARN" {
			warned = append(warned, rec.Err)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "InternalFailure") || !strings.Contains(warned[0], "could not add j***@example.com") {
		t.Errorf("transient failures logged as %q, want one warning with the masked reason", warned)
	}
	if strings.Contains(logs.String(), "jane.doe@") {
		t.Errorf("log carries a full address:\n%s", logs.String())
	}
}

// TestSNSErrorMasked: the error an SNS invocation returns is logged by
// Lambda as it is, so its text must not carry addresses.
func TestSNSErrorMasked(t *testing.T) {
	sup := &fakeSuppressor{errFn: func(addr string) error {
		return &smithy.GenericAPIError{Code: "InternalFailure", Message: "could not add " + addr, Fault: smithy.FaultServer}
	}}
	h, err := New(handlerCfg(SuppressAlways), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(),
		Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Handle(t.Context(), readEvent(t, "triage-sns-hard-bounce"))
	if err == nil {
		t.Fatal("Handle = nil error, want the transient suppression failure")
	}
	if strings.Contains(err.Error(), "jane.doe@") || !strings.Contains(err.Error(), "could not add j***@example.com") {
		t.Errorf("error %q: want the reason with the address masked", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
		t.Errorf("error %v does not wrap the API error", err)
	}
}

// failingSink fails Send for one rule while fail is set, as a throttled
// SNS Publish would.
type failingSink struct {
	mu   sync.Mutex
	rule string
	fail bool
}

func (s *failingSink) Send(_ context.Context, a alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail && a.Rule == s.rule {
		return errors.New("sns: throttled")
	}
	return nil
}

func (s *failingSink) set(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

// TestRetryCountsOnce checks that a record failed for a transient error is
// not counted in the invocation that fails it, only in the retry that
// succeeds, while the other records of its batch are counted at once.
func TestRetryCountsOnce(t *testing.T) {
	t.Run("SQS", func(t *testing.T) {
		var recs []json.RawMessage
		for _, c := range []string{"hard-bounce", "complaint", "malformed", "delivery-delay"} {
			recs = append(recs, sqsRecords(t, "triage-sqs-"+c)...)
		}
		cw := &capturingCW{}
		sink := &failingSink{rule: "complaint.abuse", fail: true}
		h, err := New(handlerCfg(SuppressOff), Deps{Rules: ruleset.Default(), Alerts: alertSink{sink},
			Metrics: metrics.NewPublisher(cw, "T"), Log: discard()})
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Handle(t.Context(), sqsEvent(t, "r", recs))
		if err != nil {
			t.Fatal(err)
		}
		if f := out.(events.SQSEventResponse).BatchItemFailures; len(f) != 1 || f[0].ItemIdentifier != "r-1" {
			t.Fatalf("BatchItemFailures = %v, want r-1 (the complaint)", f)
		}
		want := map[string]float64{"bounce.hard.no-such-user us-east-1": 1, "delay.mailbox-full us-east-1": 1, "poison": 1}
		if !maps.Equal(cw.rules, want) {
			t.Errorf("first invocation counted %v, want %v (not the failed complaint)", cw.rules, want)
		}

		sink.set(false)
		out, err = h.Handle(t.Context(), sqsEvent(t, "r", recs[1:2]))
		if err != nil {
			t.Fatal(err)
		}
		if f := out.(events.SQSEventResponse).BatchItemFailures; len(f) != 0 {
			t.Fatalf("retry: BatchItemFailures = %v, want none", f)
		}
		want["complaint.abuse us-east-1"] = 1
		if !maps.Equal(cw.rules, want) {
			t.Errorf("after the retry counted %v, want %v", cw.rules, want)
		}
	})

	t.Run("SNS", func(t *testing.T) {
		cw := &capturingCW{}
		sink := &failingSink{rule: "bounce.hard.no-such-user", fail: true}
		h, err := New(handlerCfg(SuppressOff), Deps{Rules: ruleset.Default(), Alerts: alertSink{sink},
			Metrics: metrics.NewPublisher(cw, "T"), Log: discard()})
		if err != nil {
			t.Fatal(err)
		}
		ev := readEvent(t, "triage-sns-hard-bounce")
		if _, err := h.Handle(t.Context(), ev); err == nil {
			t.Fatal("Handle = nil error, want the transient alert failure")
		}
		if len(cw.rules) != 0 {
			t.Errorf("failed invocation counted %v, want nothing (Lambda retries it)", cw.rules)
		}
		sink.set(false)
		if _, err := h.Handle(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if want := map[string]float64{"bounce.hard.no-such-user us-east-1": 1}; !maps.Equal(cw.rules, want) {
			t.Errorf("after the retry counted %v, want %v", cw.rules, want)
		}
	})
}

// alertSink gives an alert.Sink the Flush of an AlertSink, without the
// aggregator's storm windows (which would hold the retry's alert back).
type alertSink struct{ alert.Sink }

func (alertSink) Flush(context.Context) error { return nil }

func (alertSink) FlushAll(context.Context) (int, error) { return 0, nil }

// TestSuppress covers the suppression decision.
func TestSuppress(t *testing.T) {
	bounce := ruleset.Diagnosis{Rule: "bounce.hard.no-such-user", Identity: "Jane@Example.com", Region: "us-east-1", Suppress: "BOUNCE"}
	fx := func(production *bool, reasons []string) *ruleset.Facts {
		return &ruleset.Facts{SendingRegion: "us-east-1", Regions: map[string]*ruleset.RegionFacts{
			"us-east-1": {ProductionAccess: production, SuppressedReasons: reasons}}}
	}
	prod := ruleset.Bool(true)
	tests := []struct {
		name  string
		mode  SuppressMode
		d     ruleset.Diagnosis
		facts *ruleset.Facts
		want  int
	}{
		{"off", SuppressOff, bounce, fx(prod, []string{}), 0},
		{"auto, account suppression off", SuppressAuto, bounce, fx(prod, []string{}), 1},
		{"auto, account suppresses bounces", SuppressAuto, bounce, fx(prod, []string{"BOUNCE"}), 0},
		{"auto, account suppresses complaints only", SuppressAuto, bounce, fx(prod, []string{"COMPLAINT"}), 1},
		{"auto, settings unknown", SuppressAuto, bounce, fx(prod, nil), 0},
		{"auto, no facts", SuppressAuto, bounce, nil, 0},
		{"always, account suppresses", SuppressAlways, bounce, fx(prod, []string{"BOUNCE"}), 1},
		{"always, no facts", SuppressAlways, bounce, nil, 1},
		{"always, sandbox", SuppressAlways, bounce, fx(ruleset.Bool(false), nil), 0},
		{"simulator", SuppressAlways, ruleset.Diagnosis{Rule: "bounce.hard.no-such-user", Identity: "bounce@simulator.amazonses.com", Region: "us-east-1", Suppress: "BOUNCE"}, nil, 0},
		{"account-suppressed bounce", SuppressAlways, ruleset.Diagnosis{Rule: "bounce.hard.account-suppressed", Identity: "a@example.com", Region: "us-east-1"}, nil, 0},
		{"not an address", SuppressAlways, ruleset.Diagnosis{Rule: "x", Identity: "example.com", Region: "us-east-1", Suppress: "BOUNCE"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sup := &fakeSuppressor{}
			h, _ := New(handlerCfg(tc.mode), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(), Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard()})
			for range 3 { // idempotent: one call however often the address bounces
				if _, err := h.suppress(t.Context(), tc.d, "us-east-1", tc.facts); err != nil {
					t.Fatal(err)
				}
			}
			if got := sup.got(); len(got) != tc.want {
				t.Errorf("calls %q, want %d", got, tc.want)
			}
		})
	}

	t.Run("a failed call is not remembered", func(t *testing.T) {
		fail := true
		sup := &fakeSuppressor{errFn: func(string) error {
			if fail {
				return serverError()
			}
			return nil
		}}
		h, _ := New(handlerCfg(SuppressAlways), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(), Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard()})
		if _, err := h.suppress(t.Context(), bounce, "", nil); err == nil {
			t.Fatal("want the server fault")
		} else if strings.Contains(err.Error(), "Jane@Example.com") {
			t.Errorf("error %q carries the full address", err)
		}
		fail = false
		if ok, err := h.suppress(t.Context(), bounce, "", nil); !ok || err != nil {
			t.Fatalf("retry = %v, %v; want a call", ok, err)
		}
	})
}

// suppressionsFunc is a SuppressionMemory of functions, as a shared one is
// seen by the handler.
type suppressionsFunc struct {
	claim  func(SuppressionKey) (bool, error)
	settle func(SuppressionKey, bool) error
}

func (s suppressionsFunc) Claim(_ context.Context, k SuppressionKey) (bool, error) { return s.claim(k) }
func (s suppressionsFunc) Settle(_ context.Context, k SuppressionKey, ok bool) error {
	return s.settle(k, ok)
}

// TestSuppressionMemory: the call is made only on a won claim (or when the
// memory fails), and every call is settled with its outcome.
func TestSuppressionMemory(t *testing.T) {
	bounce := ruleset.Diagnosis{Rule: "bounce.hard.no-such-user", Identity: "jane@example.com", Region: "us-east-1", Suppress: "BOUNCE"}
	for _, tc := range []struct {
		name      string
		claim     bool
		claimErr  error
		putErr    error
		wantCalls int // successful calls
		wantLog   string
	}{
		{name: "claimed", claim: true, wantCalls: 1, wantLog: "settle us-east-1/BOUNCE/jane@example.com true"},
		{name: "claimed elsewhere", claim: false},
		{name: "memory down: call anyway", claimErr: errors.New("table down"), wantCalls: 1, wantLog: "settle us-east-1/BOUNCE/jane@example.com true"},
		{name: "call failed: released", claim: true, putErr: serverError(), wantLog: "settle us-east-1/BOUNCE/jane@example.com false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			mem := suppressionsFunc{
				claim: func(SuppressionKey) (bool, error) { return tc.claim, tc.claimErr },
				settle: func(k SuppressionKey, ok bool) error {
					log = append(log, fmt.Sprintf("settle %s/%s/%s %t", k.Region, k.Reason, k.Address, ok))
					return nil
				},
			}
			sup := &fakeSuppressor{errFn: func(string) error { return tc.putErr }}
			h, _ := New(handlerCfg(SuppressAlways), Deps{Rules: ruleset.Default(), Suppressors: sup.factory(), Suppressed: mem,
				Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard()})
			ok, err := h.suppress(t.Context(), bounce, "us-east-1", nil)
			if got := len(sup.got()); got != tc.wantCalls || ok != (tc.wantCalls == 1) || (err != nil) != (tc.putErr != nil) {
				t.Fatalf("calls %d, ok %v, err %v; want %d calls", got, ok, err, tc.wantCalls)
			}
			if strings.Join(log, ";") != tc.wantLog {
				t.Errorf("settled %q, want %q", log, tc.wantLog)
			}
		})
	}
}

// TestBurst is the call-counting test: 10,000 failures through the handler
// in SQS batches of ten cost at most one SES look-up per (operation,
// identity, Region) per facts TTL, and at most one PutMetricData per
// invocation; identical alerts collapse into one per storm window.
func TestBurst(t *testing.T) {
	dom := testkit.Name(t) + ".example"
	createIdentities(t, dom)
	clk := newClock()
	var mu sync.Mutex
	lookups := map[string]int{}
	count := func(k string) {
		mu.Lock()
		lookups[k]++
		mu.Unlock()
	}
	g := facts.NewGatherer(facts.Config{
		Clients: func(region string) facts.API {
			return countingAPI{inner: testkit.WithAccount{Client: kumoSES(region), Account: testkit.Account(true)}, region: region, count: count}
		},
		CandidateRegions: []string{"us-west-2", "eu-west-1"},
		Now:              clk.Now,
		Logger:           discard(),
	})
	cw := &countingCW{}
	rec := &sinkRecorder{}
	sup := &fakeSuppressor{}
	h, err := New(handlerCfg(SuppressAuto), Deps{Rules: ruleset.Default(), Facts: g, Suppressors: sup.factory(),
		Metrics: metrics.NewPublisher(cw, "T"), Region: "us-east-1", Log: discard(), Now: clk.Now, Sinks: alert.Fanout{rec}})
	if err != nil {
		t.Fatal(err)
	}

	regions := []string{"us-east-1", "eu-west-1"}
	record := func(i int) json.RawMessage {
		id := fmt.Sprintf("m-%d", i)
		region := regions[i%len(regions)]
		if i%5 == 0 { // a hard bounce at one of ten recipients
			return envelopeRecord(id, map[string]any{
				"error": "554 5.1.1 <user" + fmt.Sprint(i%10) + "@gmail.example>: Recipient address rejected: User unknown", "region": region,
				"from": "noreply@" + dom, "to": []string{"user" + fmt.Sprint(i%10) + "@gmail.example"}})
		}
		sender := fmt.Sprintf("app%d@%s", i%20, dom)
		return envelopeRecord(id, map[string]any{
			"error":  "MessageRejected: Email address is not verified. The following identities failed the check in region " + strings.ToUpper(region) + ": " + sender,
			"region": region, "from": sender, "to": []string{"someone@example.com"}, "transport": "api"})
	}
	run := func(from, n int) {
		t.Helper()
		for b := from; b < from+n; b += 10 {
			var recs []json.RawMessage
			for i := b; i < b+10; i++ {
				recs = append(recs, record(i))
			}
			before := cw.n()
			out, err := h.Handle(context.Background(), sqsEvent(t, fmt.Sprint("b", b), recs))
			if err != nil {
				t.Fatal(err)
			}
			if f := out.(events.SQSEventResponse).BatchItemFailures; len(f) != 0 {
				t.Fatalf("batch %d: failures %v", b, f)
			}
			if calls := cw.n() - before; calls > 1 {
				t.Fatalf("batch %d: %d PutMetricData calls, want <= 1", b, calls)
			}
		}
	}
	// About a thousand records: enough for every cache and window to be
	// hit many times (the 10,000-record runs are make bench's).
	const burst = 1_000
	start := time.Now()
	run(0, burst)
	elapsed := time.Since(start)

	mu.Lock()
	total := 0
	for k, n := range lookups {
		total += n
		if n > 1 {
			t.Errorf("%s looked up %d times within one TTL, want <= 1", k, n)
		}
	}
	mu.Unlock()
	if total == 0 {
		t.Fatal("no look-ups counted")
	}
	if cw.n() != burst/10 {
		t.Errorf("PutMetricData calls = %d for %d invocations, want %d", cw.n(), burst/10, burst/10)
	}
	alerts := rec.alerts()
	keys := map[string]bool{}
	for _, a := range alerts {
		if keys[a.Key()] {
			t.Errorf("alert %s sent twice inside its window", a.Key())
		}
		keys[a.Key()] = true
	}
	t.Logf("%d failures in %v: %d SES look-ups (%d distinct), %d PutMetricData calls, %d alerts, %d suppression calls",
		burst, elapsed.Round(time.Millisecond), total, len(lookups), cw.n(), len(alerts), len(sup.got()))

	// After the TTL, at most one more look-up each.
	clk.Add(facts.DefaultTTL + time.Second)
	run(burst, burst)
	mu.Lock()
	defer mu.Unlock()
	for k, n := range lookups {
		if n > 2 {
			t.Errorf("%s looked up %d times in two TTLs, want <= 2", k, n)
		}
	}
}

// countingAPI counts look-ups per (operation, identity, Region).
type countingAPI struct {
	inner  facts.API
	region string
	count  func(string)
}

func (c countingAPI) GetAccount(ctx context.Context, in *sesv2.GetAccountInput, o ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	c.count("GetAccount " + c.region)
	return c.inner.GetAccount(ctx, in, o...)
}

func (c countingAPI) GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, o ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	c.count("GetEmailIdentity " + aws.ToString(in.EmailIdentity) + " " + c.region)
	return c.inner.GetEmailIdentity(ctx, in, o...)
}

// TestFlushActions: a storm's held-back count is announced by
// {"action":"flush-all"} at once, and by {"action":"flush"} (the template's
// schedule) only once its window has closed; any other action is input to
// classify, not an action.
func TestFlushActions(t *testing.T) {
	rec := &sinkRecorder{}
	clk := newClock()
	cfg := handlerCfg(SuppressOff)
	cfg.AlertWindow = 15 * time.Minute
	h, err := New(cfg, Deps{Rules: ruleset.Default(), Metrics: metrics.NewPublisher(&countingCW{}, "T"), Log: discard(), Now: clk.Now, Sinks: alert.Fanout{rec}})
	if err != nil {
		t.Fatal(err)
	}
	storm := func() {
		for range 3 {
			if _, err := h.Handle(t.Context(), readEvent(t, "triage-sns-region-mismatch")); err != nil {
				t.Fatal(err)
			}
		}
	}
	storm()
	if n := len(rec.alerts()); n != 1 {
		t.Fatalf("3 identical rejects sent %d alerts, want the first only", n)
	}

	out, err := h.Handle(t.Context(), json.RawMessage(`{"action":"flush"}`))
	if err != nil || out.(ActionResult).Action != ActionFlush || len(rec.alerts()) != 1 {
		t.Fatalf(`flush inside the window: %v, %v, %d alerts; want nothing sent`, out, err, len(rec.alerts()))
	}
	out, err = h.Handle(t.Context(), json.RawMessage(`{"action":"flush-all"}`))
	if err != nil || out.(ActionResult).Announced != 1 {
		t.Fatalf("flush-all = %+v, %v; want 1 summary", out, err)
	}
	if got := rec.alerts(); len(got) != 2 || got[1].Count != 2 {
		t.Fatalf("alerts after flush-all: %d, last count %d; want 2, the summary counting 2", len(got), got[len(got)-1].Count)
	}

	storm() // the keys were forgotten: the first goes out at once again
	clk.Add(cfg.AlertWindow + time.Second)
	if _, err := h.Handle(t.Context(), json.RawMessage(`{"action":"flush"}`)); err != nil {
		t.Fatal(err)
	}
	if got := rec.alerts(); len(got) != 4 || got[3].Count != 2 {
		t.Fatalf("after the window closed and flush: %d alerts; want 4, the last counting 2", len(got))
	}

	// Not an action: classified (invalid input, acknowledged), no error.
	if out, err := h.Handle(t.Context(), json.RawMessage(`{"action":"evaluate"}`)); err != nil || out != nil {
		t.Errorf(`{"action":"evaluate"} = %v, %v; want it handled as input (nil, nil)`, out, err)
	}
}
