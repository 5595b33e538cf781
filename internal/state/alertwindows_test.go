package state_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
)

// sent records what reached a sink, failing while down is set.
type sent struct {
	mu     sync.Mutex
	alerts []alert.Alert
	down   bool
}

func (s *sent) Send(_ context.Context, a alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return &alert.FanoutError{Errs: []error{errors.New("sns: 500")}}
	}
	s.alerts = append(s.alerts, a)
	return nil
}

// TestAggregatorsShareWindows: N aggregators (one per environment) over
// one table announce each key's first occurrence once and every other
// occurrence in exactly one summary, with one environment's flush-all
// reaching the counts the others held; a first alert that reached no
// sink is announced by the retry.
func TestAggregatorsShareWindows(t *testing.T) {
	for _, n := range []int{1, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			db, name := table(t)
			envs := environments(t, db, name, n)
			sink := &sent{}
			now := t0
			var clock sync.Mutex
			aggs := make([]*alert.Aggregator, n)
			for i, s := range envs {
				aggs[i] = alert.NewAggregator(sink, alert.AggregatorOptions{Store: s.AlertWindows(),
					Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
			}
			ctx := context.Background()
			// The very first alert fails (SNS down) and is retried.
			sink.down = true
			if err := aggs[0].Send(ctx, alert.Alert{Rule: "r0", Region: "us-east-1"}); err == nil {
				t.Fatal("no error with SNS down")
			}
			sink.down = false
			if err := aggs[n-1].Send(ctx, alert.Alert{Rule: "r0", Region: "us-east-1"}); err != nil {
				t.Fatal(err)
			}
			offered := map[string]int{"r0": 1}
			var mu sync.Mutex
			for round := range 5 {
				parallel(n, func(i int) {
					for j := range 30 {
						rule := fmt.Sprintf("r%d", (i+j+round)%4)
						if err := aggs[i].Send(ctx, alert.Alert{Rule: rule, Region: "us-east-1"}); err != nil {
							t.Error(err)
						}
						mu.Lock()
						offered[rule]++
						mu.Unlock()
					}
					if err := aggs[i].Flush(ctx); err != nil {
						t.Error(err)
					}
				})
				clock.Lock()
				now = now.Add(time.Minute)
				clock.Unlock()
			}
			if _, err := aggs[0].FlushAll(ctx); err != nil {
				t.Fatal(err)
			}
			firsts, total := map[string]int{}, map[string]int{}
			for _, a := range sink.alerts {
				if a.Since.IsZero() {
					firsts[a.Rule]++
				}
				total[a.Rule] += a.Count
			}
			for rule, want := range offered {
				if firsts[rule] != 1 || total[rule] != want {
					t.Errorf("%s: %d first alerts, %d occurrences announced; want 1 and %d", rule, firsts[rule], total[rule], want)
				}
			}
		})
	}
}
