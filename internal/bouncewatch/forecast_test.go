package bouncewatch

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	mx "github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// forecastRun fills a 24h window hour by hour: 21 hours at 1,000 sends and
// 2% hard bounces, then 3 hours at 1,000 sends and 10%, and evaluates at
// the end (SES's own rate ses, if given).
func forecastRun(t *testing.T, perHour int64, ses *float64) (*Report, *memCloudWatch, []alert.Alert) {
	t.Helper()
	end := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	now := end.Add(-24 * time.Hour)
	cw := newMemCloudWatch(func() time.Time { return now })
	acct := []string{string(mx.DimScopeType), mx.ScopeAccount, string(mx.DimScope), "us-east-1"}
	for h := range 24 {
		now = end.Add(time.Duration(h-24)*time.Hour + 30*time.Minute)
		pct := int64(2)
		if h >= 21 {
			pct = 10
		}
		cw.put(mx.DefaultNamespace, string(mx.Sends), float64(perHour), acct...)
		cw.put(mx.DefaultNamespace, string(mx.HardBounces), float64(perHour*pct/100), acct...)
	}
	if ses != nil {
		cw.put(mx.SESNamespace, mx.SESBounceRate, *ses)
	}
	cw.aggregate = true
	now = end
	var sent []alert.Alert
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error { sent = append(sent, a); return nil })
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Alerts: sink, Log: quiet})
	h.now = func() time.Time { return now }
	rep, err := h.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep, cw, sent
}

// TestForecastInAlertsAndMetric: the window holds 720 hard bounces out of
// 24,000 sends (3%); the last 3 hours ran at 10% of 1,000 an hour. The
// forecast is reputation's model in those numbers, shown in the warning
// alert (text and Slack) and published as ForecastHoursToCritical.
func TestForecastInAlertsAndMetric(t *testing.T) {
	rep, cw, sent := forecastRun(t, 1000, nil)
	want := reputation.HoursToReach(720, 24000, 24, 100, 1000, 0.05)
	f := rep.Scopes[0].Forecast
	if f == nil || math.Abs(f.Hours-want) > 1e-9 || f.Target != reputation.Critical {
		t.Fatalf("forecast = %+v, want %.3f h to critical", f, want)
	}
	if f.PaceSends != 1000 || f.PaceSpan != time.Hour {
		t.Fatalf("pace = %d sends over %s, want 1000 over 1h", f.PaceSends, f.PaceSpan)
	}
	got := cw.datums()["ForecastHoursToCritical/account/us-east-1"]
	if math.Abs(got-want) > 1e-9 {
		t.Fatalf("ForecastHoursToCritical = %v, want %v", got, want)
	}
	if len(sent) != 1 || sent[0].Level != alert.LevelWarning {
		t.Fatalf("alerts = %+v", sent)
	}
	text := alert.RenderText(sent[0])
	if !strings.Contains(text, "Forecast: at this pace: 5% in about "+reputation.FormatHours(want)) || !strings.Contains(text, "SES may review at 5%") {
		t.Fatalf("alert lacks the forecast:\n%s", text)
	}
	slack, _ := json.Marshal(alert.SlackMessage(sent[0]))
	if !strings.Contains(string(slack), "at this pace: 5%") {
		t.Fatalf("Slack message lacks the forecast: %s", slack)
	}
}

// TestForecastWithheld: no forecast (nor metric) when SES's rate disagrees
// beyond the divergence margin, or below the minimum sample.
func TestForecastWithheld(t *testing.T) {
	far := 0.20
	for name, run := range map[string]func() (*Report, *memCloudWatch, []alert.Alert){
		"diverging":    func() (*Report, *memCloudWatch, []alert.Alert) { return forecastRun(t, 1000, &far) },
		"small sample": func() (*Report, *memCloudWatch, []alert.Alert) { return forecastRun(t, 20, nil) },
	} {
		rep, cw, _ := run()
		if rep.Scopes[0].Forecast != nil {
			t.Errorf("%s: forecast %+v", name, rep.Scopes[0].Forecast)
		}
		if _, ok := cw.datums()["ForecastHoursToCritical/account/us-east-1"]; ok {
			t.Errorf("%s: ForecastHoursToCritical published", name)
		}
	}
}
