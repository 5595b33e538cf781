package bouncewatch

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/scenario"
)

// TestStaleListForecast replays the local demo's story (scenario.Default,
// seeds 1 to 5: a newsletter mailed to a stale list; the critical level is
// reached by the newsletter's domain) into bouncewatch with the
// template's settings (24h window, MIN_SENDS 500), evaluating on the
// scenario's schedule, and checks the bar: the first forecast made
// before the account turns critical is within a factor of 2 of the time
// it actually took.
func TestStaleListForecast(t *testing.T) {
	if msg, ok := staleListForecast(t, 1); !ok {
		t.Fatal(msg)
	} else {
		t.Log(msg)
	}
	// Other seeds, measured, not asserted: the wave's bounces can arrive
	// within one 30-minute evaluation (no forecast before critical), or
	// the first forecast comes as they start (too early, too long).
	for seed := int64(2); seed <= 5; seed++ {
		msg, _ := staleListForecast(t, seed)
		t.Logf("seed %d: %s", seed, msg)
	}
}

// staleListForecast replays one seed and says how the first forecast
// before critical compared with the time critical took; ok when within a
// factor of 2.
func staleListForecast(t *testing.T, seed int64) (string, bool) {
	sc := scenario.Default(scenario.Options{Seed: seed})
	sc.Sort()
	now := sc.Start
	cw := newMemCloudWatch(func() time.Time { return now })
	cw.aggregate = true
	cfg := testConfig()
	cfg.Scopes = []Scope{{metrics.ScopeDomain, scenario.DomainNews}}
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Log: quiet})
	h.now = func() time.Time { return now }
	ctx := context.Background()

	var firstAt, criticalAt time.Time
	var first *reputation.Forecast
	next := 0
	for tick := sc.Start.Add(sc.EvaluateEvery); !tick.After(sc.End) && criticalAt.IsZero(); tick = tick.Add(sc.EvaluateEvery) {
		var recs []events.SQSMessage
		for ; next < len(sc.Events) && !sc.Events[next].Time.After(tick); next++ {
			e := sc.Events[next]
			if e.Topic != scenario.TopicSESEvents {
				continue
			}
			env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": fmt.Sprintf("sns-%d", next), "Message": e.Body()})
			recs = append(recs, events.SQSMessage{MessageId: fmt.Sprintf("sqs-%d", next), EventSource: "aws:sqs", Body: string(env)})
		}
		now = tick.Add(-time.Second)
		for i := 0; i < len(recs); i += 1000 {
			b, _ := json.Marshal(events.SQSEvent{Records: recs[i:min(i+1000, len(recs))]})
			if _, err := h.Handle(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		now = tick
		rep, err := h.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acct := rep.Scopes[1] // domain:news.yourapp.com
		if acct.Bounce.Level >= reputation.Critical {
			criticalAt = tick
		} else if f := acct.Forecast; f != nil && first == nil && f.Target == reputation.Critical {
			first, firstAt = f, tick
		}
	}
	if first == nil || criticalAt.IsZero() {
		return fmt.Sprintf("no forecast before critical (critical at %s)", criticalAt.Format("15:04")), false
	}
	actual := criticalAt.Sub(firstAt).Hours()
	r := first.Hours / actual
	return fmt.Sprintf("first forecast at %s: %s; critical at %s, %.2f h later (ratio %.2f)",
		firstAt.Format("15:04"), first.Text(), criticalAt.Format("15:04"), actual, r), r >= 0.5 && r <= 2
}
