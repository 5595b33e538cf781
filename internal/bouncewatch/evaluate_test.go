package bouncewatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/sesguard/sesguard/internal/alert"
	mx "github.com/sesguard/sesguard/internal/metrics"
)

func evalOnce(t *testing.T, cfg Config, sends, bounces int, ses *float64, sink alert.Sink) (*Report, *memCloudWatch) {
	t.Helper()
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	cw := newMemCloudWatch(func() time.Time { return now.Add(-time.Minute) })
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Alerts: sink, Log: quiet})
	h.now = func() time.Time { return now }
	if _, err := h.Handle(context.Background(), scenarioBatch(0, sends, bounces)); err != nil {
		t.Fatal(err)
	}
	if ses != nil {
		cw.put(mx.SESNamespace, mx.SESBounceRate, *ses)
	}
	rep, err := h.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep, cw
}

// TestSmallSampleNoCritical: 20 bounces out of 200 sends is 10%, but below
// MIN_SENDS: a warning that says why, and AlertLevel says warning too.
func TestSmallSampleNoCritical(t *testing.T) {
	rep, cw := evalOnce(t, testConfig(), 200, 20, nil, nil)
	if len(rep.Alerts) != 1 {
		t.Fatalf("alerts = %+v", rep.Alerts)
	}
	a := rep.Alerts[0]
	if a.Level != alert.LevelWarning || !strings.Contains(strings.Join(a.Evidence, " "), "200 sends are fewer than the 500 needed") {
		t.Fatalf("alert = %+v", a)
	}
	if !strings.Contains(alert.RenderText(a), "Sample: 200 sends") {
		t.Fatalf("alert does not state the sample size:\n%s", alert.RenderText(a))
	}
	d := cw.datums()
	if d["AlertLevel/account/us-east-1/bounce"] != 1 || d["BounceRate/account/us-east-1"] != 0.1 {
		t.Fatalf("metrics: level %v rate %v", d["AlertLevel/account/us-east-1/bounce"], d["BounceRate/account/us-east-1"])
	}
}

func TestDivergenceAlert(t *testing.T) {
	ses := 0.045 // SES sees 4.5%, we see 1%: our events are going missing
	rep, cw := evalOnce(t, testConfig(), 1000, 10, &ses, nil)
	var div []alert.Alert
	for _, a := range rep.Alerts {
		if a.Kind == alert.KindDivergence {
			div = append(div, a)
		}
	}
	if len(div) != 1 || div[0].Level != alert.LevelWarning || !strings.Contains(div[0].Title, "our rate 1.00%, SES says 4.50%") {
		t.Fatalf("divergence alerts = %+v", div)
	}
	if cw.datums()["AlertLevel/account/us-east-1/divergence"] != 1 {
		t.Fatal("divergence state not recorded")
	}
	// Within the margin: nothing.
	ses = 0.015
	if rep, _ := evalOnce(t, testConfig(), 1000, 10, &ses, nil); len(rep.Alerts) != 0 {
		t.Fatalf("alerts within margin: %+v", rep.Alerts)
	}
}

// TestFailedAlertRetried: when the sink fails, the level is not recorded as
// announced, so the next run alerts again.
func TestFailedAlertRetried(t *testing.T) {
	fail := alert.SinkFunc(func(context.Context, alert.Alert) error { return errors.New("sns down") })
	rep, cw := evalOnce(t, testConfig(), 1000, 30, nil, fail)
	if len(rep.Alerts) != 0 || cw.datums()["AlertLevel/account/us-east-1/bounce"] != 0 {
		t.Fatalf("failed alert counted as announced: %+v %v", rep.Alerts, cw.datums())
	}
}

// TestRefusedAlertNotRetried: an alert refused for good (a Slack 404) is
// not tried again every run (alert.Temporary, as in triage).
func TestRefusedAlertNotRetried(t *testing.T) {
	refuse := alert.SinkFunc(func(context.Context, alert.Alert) error { return &alert.WebhookError{StatusCode: 404} })
	rep, cw := evalOnce(t, testConfig(), 1000, 30, nil, refuse)
	if len(rep.Alerts) != 1 || cw.datums()["AlertLevel/account/us-east-1/bounce"] != 1 {
		t.Fatalf("refused alert not counted as announced: %+v %v", rep.Alerts, cw.datums())
	}
}

// TestTinySampleNoWarning: one hard bounce out of three sends is a 33% rate
// from a sample too small to mean anything: no alert (and so no recovery
// alert a run later), and the level recorded stays ok.
func TestTinySampleNoWarning(t *testing.T) {
	rep, cw := evalOnce(t, testConfig(), 3, 1, nil, nil)
	if len(rep.Alerts) != 0 {
		t.Fatalf("alerts from 3 sends: %+v", rep.Alerts)
	}
	b := rep.Scopes[0].Bounce
	if b.Level.String() != "ok" || !strings.Contains(b.Note, "3 sends are fewer than the 100 needed") {
		t.Fatalf("assessment = %+v", b)
	}
	if d := cw.datums(); d["AlertLevel/account/us-east-1/bounce"] != 0 {
		t.Fatalf("AlertLevel = %v, want 0", d["AlertLevel/account/us-east-1/bounce"])
	}
}

// TestLevelReadBackLatestInBucket: evaluations a minute apart, with
// CloudWatch's bucketing. Critical, then recovery to ok; the third run
// must read the level back as ok (the newest datum), not as the maximum of
// a bucket holding both, which would announce the recovery again.
func TestLevelReadBackLatestInBucket(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	cw := newMemCloudWatch(clock)
	cw.aggregate = true
	cfg := testConfig()
	cfg.Window = time.Hour
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Log: quiet})
	h.now = clock
	ctx := context.Background()
	var levels []string
	for run, batch := range []struct{ sends, bounces int }{{1000, 100}, {10_000, 0}, {0, 0}} {
		if batch.sends > 0 {
			if _, err := h.Handle(ctx, scenarioBatch(run, batch.sends, batch.bounces)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := h.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range rep.Alerts {
			levels = append(levels, fmt.Sprintf("run %d: %s", run+1, a.Level))
		}
		now = now.Add(time.Minute)
	}
	want := []string{"run 1: critical", "run 2: ok"}
	if !slices.Equal(levels, want) {
		t.Fatalf("alerts %q, want %q", levels, want)
	}
}

// TestGetMetricDataPages: when GetMetricData pages, every page is read:
// the counts are whole, and the previous level (in a later page) is found,
// so the second run stays quiet.
func TestGetMetricDataPages(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	cw := newMemCloudWatch(clock)
	cw.pageSize = 2
	cfg := testConfig()
	cfg.Window = time.Hour
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Log: quiet})
	h.now = clock
	ctx := context.Background()
	for run := range 2 {
		// Two batches a run, so each counter has two points and the pages cut through series.
		for b := range 2 {
			if _, err := h.Handle(ctx, scenarioBatch(10*run+b, 500, 15)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := h.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acct := rep.Scopes[0]
		if want := int64(1000 * (run + 1)); acct.Counts[cSends] != want || acct.Counts[cHardBounces] != want*3/100 {
			t.Fatalf("run %d: read back sends=%d hard=%d, want %d and %d", run+1, acct.Counts[cSends], acct.Counts[cHardBounces], want, want*3/100)
		}
		if rep.GetCalls < 2 {
			t.Fatalf("run %d: %d GetMetricData calls; the fake pages, want more than one", run+1, rep.GetCalls)
		}
		wantAlerts := 1 - run // a warning, then nothing: the level was read back
		if len(rep.Alerts) != wantAlerts {
			t.Fatalf("run %d: prev %s, alerts %+v", run+1, acct.PrevBounce, rep.Alerts)
		}
		now = now.Add(5 * time.Minute)
	}
}

// endlessPages hands out a NextToken on every GetMetricData call.
type endlessPages struct{ countingPut }

func (e *endlessPages) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, o ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	e.gets.Add(1)
	return &cloudwatch.GetMetricDataOutput{NextToken: aws.String("more")}, nil
}

// TestGetMetricDataEndlessPages: an API that never stops paging ends the
// evaluation with an error instead of looping.
func TestGetMetricDataEndlessPages(t *testing.T) {
	cw := &endlessPages{}
	_, err := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet}).Evaluate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "still paging") || cw.gets.Load() != maxGetPages {
		t.Fatalf("err = %v after %d calls", err, cw.gets.Load())
	}
}

// TestPublishFailureAfterAlerts: the alert went out but the metrics (the
// announced level among them) could not be published. The run must not
// fail, or EventBridge's retries would send the same alert again; with no
// alert sent, the failure is returned.
func TestPublishFailureAfterAlerts(t *testing.T) {
	for _, tc := range []struct {
		bounces    int
		wantAlerts int
	}{{30, 1}, {0, 0}} {
		now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
		cw := newMemCloudWatch(func() time.Time { return now.Add(-time.Minute) })
		var sent int
		sink := alert.SinkFunc(func(context.Context, alert.Alert) error { sent++; return nil })
		h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Alerts: sink, Log: quiet})
		h.now = func() time.Time { return now }
		if _, err := h.Handle(context.Background(), scenarioBatch(0, 1000, tc.bounces)); err != nil {
			t.Fatal(err)
		}
		cw.putErr = errors.New("throttled")
		rep, err := h.Evaluate(context.Background())
		if sent != tc.wantAlerts || len(rep.Alerts) != tc.wantAlerts {
			t.Fatalf("%d bounces: %d alerts sent, want %d", tc.bounces, sent, tc.wantAlerts)
		}
		if tc.wantAlerts > 0 && (err != nil || !strings.Contains(rep.PublishErr, "throttled")) {
			t.Fatalf("alerts sent: err = %v, report publish error %q; want nil and the failure in the report", err, rep.PublishErr)
		}
		if tc.wantAlerts == 0 && (err == nil || !strings.Contains(err.Error(), "throttled")) {
			t.Fatalf("no alerts: err = %v, want the publish failure", err)
		}
	}
}
