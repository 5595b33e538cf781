package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Fanout sends each alert to every sink, concurrently. A failing or slow
// sink does not stop or delay the others: each gets its own deadline (see
// SinkBudget). Send returns nil when every sink accepted, else a
// *FanoutError naming the failures (errors.Is/As see each of them).
//
// The first sink is the record (the alerts topic, which email and AWS
// Chatbot subscribe to); the others are best effort. An alert the first
// sink accepted is delivered: retrying it for a failing Slack would send
// it to the topic twice.
type Fanout []Sink

// MetricsReserve is the part of an invocation's remaining time the sinks
// leave for what comes after them (publishing the metrics): a Slack
// webhook that hangs must not cost the invocation its counts.
const MetricsReserve = 3 * time.Second

// MaxSinkTime bounds one sink's Send when the context has no deadline.
const MaxSinkTime = 10 * time.Second

// SinkBudget returns how long one sink may take: what remains of ctx's
// deadline minus MetricsReserve, at most MaxSinkTime, and never below a
// small floor (a sink given no time at all would fail for sure; the floor
// only spends part of the reserve).
func SinkBudget(ctx context.Context) time.Duration {
	d := MaxSinkTime
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-MetricsReserve)
	}
	return max(d, 500*time.Millisecond)
}

// FanoutError is a Fanout send that at least one sink refused.
type FanoutError struct {
	Accepted int     // sinks that accepted the alert
	First    bool    // the first sink accepted it
	Errs     []error // one per failing sink, naming its position and type
}

func (e *FanoutError) Error() string {
	return errors.Join(e.Errs...).Error()
}

// Unwrap returns the sinks' errors.
func (e *FanoutError) Unwrap() []error { return e.Errs }

// Delivered reports whether the first sink accepted the alert: it is
// announced, and sending it again would repeat it where it did arrive.
func (e *FanoutError) Delivered() bool { return e.First }

// Delivered reports whether an alert whose Send returned err reached at
// least one sink: err is nil, or a *FanoutError with an accepting sink.
func Delivered(err error) bool {
	if err == nil {
		return true
	}
	var fe *FanoutError
	return errors.As(err, &fe) && fe.Delivered()
}

// Send sends a to every sink.
func (f Fanout) Send(ctx context.Context, a Alert) error {
	budget := SinkBudget(ctx)
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, s := range f {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			if err := s.Send(sctx, a); err != nil {
				errs[i] = fmt.Errorf("alert sink %d (%T): %w", i, s, err)
			}
		}()
	}
	wg.Wait()
	fe := &FanoutError{}
	for i, err := range errs {
		switch {
		case err != nil:
			fe.Errs = append(fe.Errs, err)
		case f[i] != nil:
			fe.Accepted++
			fe.First = fe.First || i == firstSink(f)
		}
	}
	if len(fe.Errs) == 0 {
		return nil
	}
	return fe
}

// Sink returns f as one Sink: nil when f is empty (alerts are then only
// logged), the sink itself when there is one.
func (f Fanout) Sink() Sink {
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return f
}

// firstSink is the index of f's first non-nil sink.
func firstSink(f Fanout) int {
	for i, s := range f {
		if s != nil {
			return i
		}
	}
	return -1
}
