package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// recorder is a Sink that keeps what it was sent (safe for Fanout's
// concurrent sends).
type recorder struct {
	mu   sync.Mutex
	sent []Alert
	err  error
}

func (r *recorder) Send(_ context.Context, a Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, a)
	return r.err
}

func newTestAggregator(maxKeys int) (*Aggregator, *recorder, *clock) {
	c := &clock{t: t0}
	r := &recorder{}
	return NewAggregator(r, AggregatorOptions{Window: 15 * time.Minute, MaxKeys: maxKeys, Now: c.now}), r, c
}

// mem is g's default store.
func mem(g *Aggregator) *MemoryWindows { return g.store.(*MemoryWindows) }

func TestAggregatorStorm(t *testing.T) {
	ctx := context.Background()
	g, r, c := newTestAggregator(0)
	a := diagnosisAlert()
	a.Count, a.Since = 0, time.Time{}

	for i := range 10000 {
		a.Summary = fmt.Sprintf("occurrence %d", i)
		if err := g.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.advance(time.Second) // the held-back ones start a second later
		}
	}
	if len(r.sent) != 1 || r.sent[0].Summary != "occurrence 0" || r.sent[0].count() != 1 {
		t.Fatalf("sent %d alerts, want only the first: %+v", len(r.sent), r.sent)
	}
	if mem(g).Pending() != 9999 {
		t.Errorf("Pending() = %d, want 9999", mem(g).Pending())
	}

	// Flush before the window closes sends nothing.
	c.advance(14 * time.Minute)
	if err := g.Flush(ctx); err != nil || len(r.sent) != 1 {
		t.Fatalf("early Flush sent %d, err %v", len(r.sent)-1, err)
	}

	// After the window, Flush reports the held-back count once.
	c.advance(time.Minute)
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.sent) != 2 {
		t.Fatalf("sent %d, want 2", len(r.sent))
	}
	s := r.sent[1]
	if s.Count != 9999 || !s.Since.Equal(t0.Add(time.Second)) || s.Summary != "occurrence 9999" {
		t.Errorf("summary: count %d since %v summary %q; want 9999 since %v, latest content", s.Count, s.Since, s.Summary, t0.Add(time.Second))
	}
	if mem(g).Len() != 0 || mem(g).Pending() != 0 {
		t.Errorf("after Flush: %d keys, %d pending", mem(g).Len(), mem(g).Pending())
	}
	if err := g.Flush(ctx); err != nil || len(r.sent) != 2 {
		t.Errorf("second Flush sent again")
	}

	// The storm's next alert is news again.
	if err := g.Send(ctx, a); err != nil || len(r.sent) != 3 || r.sent[2].count() != 1 {
		t.Errorf("after flush: sent %d, err %v", len(r.sent), err)
	}
}

func TestAggregatorSendAfterWindowCarriesCount(t *testing.T) {
	ctx := context.Background()
	g, r, c := newTestAggregator(0)
	a := diagnosisAlert()
	a.Count, a.Since = 1, time.Time{}
	_ = g.Send(ctx, a)
	c.advance(time.Minute)
	_ = g.Send(ctx, a)
	c.advance(time.Minute)
	a.Count = 5 // an alert that already stands for 5 occurrences
	_ = g.Send(ctx, a)
	c.advance(13 * time.Minute) // exactly the window after the first: closed
	a.Count = 1
	_ = g.Send(ctx, a)
	if len(r.sent) != 2 {
		t.Fatalf("sent %d, want 2", len(r.sent))
	}
	if got := r.sent[1]; got.Count != 7 || !got.Since.Equal(t0.Add(time.Minute)) {
		t.Errorf("second send: count %d since %v, want 7 (1 + 6 held) since %v", got.Count, got.Since, t0.Add(time.Minute))
	}
	// That send opened a new window.
	c.advance(time.Minute)
	_ = g.Send(ctx, a)
	if len(r.sent) != 2 || mem(g).Pending() != 1 {
		t.Errorf("new window: sent %d, pending %d", len(r.sent), mem(g).Pending())
	}
}

func TestAggregatorKeys(t *testing.T) {
	ctx := context.Background()
	g, r, _ := newTestAggregator(0)
	base := diagnosisAlert()
	base.Count = 1
	variants := []func(*Alert){
		func(*Alert) {},
		func(a *Alert) { a.Rule = "reject.sandbox-recipient" },
		func(a *Alert) { a.Identity = "other@yourapp.com" },
		func(a *Alert) { a.Region = "eu-west-1" },
		func(a *Alert) { a.Kind = KindDivergence },
	}
	for _, v := range variants {
		a := base
		v(&a)
		_ = g.Send(ctx, a)
		_ = g.Send(ctx, a)
	}
	if len(r.sent) != len(variants) || mem(g).Pending() != len(variants) {
		t.Errorf("sent %d, pending %d; want %d each", len(r.sent), mem(g).Pending(), len(variants))
	}
	// Title, summary and level are content, not identity.
	a := base
	a.Title, a.Summary, a.Level = "other", "other", LevelWarning
	_ = g.Send(ctx, a)
	if len(r.sent) != len(variants) {
		t.Errorf("a content change was sent as a new alert")
	}
}

func TestAggregatorBoundedEvictsOldest(t *testing.T) {
	ctx := context.Background()
	g, r, c := newTestAggregator(3)
	mk := func(i int) Alert { a := diagnosisAlert(); a.Identity = fmt.Sprintf("id%d", i); a.Count = 1; return a }
	for i := range 3 {
		_ = g.Send(ctx, mk(i))
		c.advance(time.Second)
	}
	_ = g.Send(ctx, mk(0)) // held back on the oldest key
	_ = g.Send(ctx, mk(0))
	_ = g.Send(ctx, mk(3)) // evicts id0, whose held-back count must not be lost
	if mem(g).Len() != 3 {
		t.Errorf("Len() = %d, want 3", mem(g).Len())
	}
	if len(r.sent) != 5 {
		t.Fatalf("sent %d, want 3 firsts + id0's summary + id3", len(r.sent))
	}
	if s := r.sent[3]; s.Identity != "id0" || s.Count != 2 {
		t.Errorf("eviction summary = %s x%d, want id0 x2", s.Identity, s.Count)
	}
	if r.sent[4].Identity != "id3" {
		t.Errorf("then sent %s", r.sent[4].Identity)
	}
	_ = g.Send(ctx, mk(0)) // id0 forgotten: sent at once, evicting id1 (no count)
	if len(r.sent) != 6 || r.sent[5].Identity != "id0" || r.sent[5].count() != 1 {
		t.Errorf("re-sent after eviction: %d sent", len(r.sent))
	}

	for i := range 10000 { // memory stays bounded
		_ = g.Send(ctx, mk(100+i))
	}
	if mem(g).Len() != 3 || len(mem(g).order) != 3 {
		t.Errorf("Len() = %d, order %d after 10000 keys", mem(g).Len(), len(mem(g).order))
	}
}

func TestAggregatorFailedSendStillOpensWindow(t *testing.T) {
	ctx := context.Background()
	g, r, _ := newTestAggregator(0)
	r.err = errors.New("slack down")
	if err := g.Send(ctx, diagnosisAlert()); !errors.Is(err, r.err) {
		t.Errorf("error %v, want the sink's", err)
	}
	_ = g.Send(ctx, diagnosisAlert())
	if len(r.sent) != 1 {
		t.Errorf("sent %d: a failing sink turned the storm into retries", len(r.sent))
	}
}

func TestAggregatorDefaults(t *testing.T) {
	g := NewAggregator(&recorder{}, AggregatorOptions{})
	if g.window != DefaultWindow || mem(g).maxKeys != DefaultMaxKeys || g.now == nil {
		t.Errorf("defaults: %v %d", g.window, mem(g).maxKeys)
	}
}

func TestFanout(t *testing.T) {
	ctx := context.Background()
	bad1, good, bad2 := &recorder{err: errors.New("first down")}, &recorder{}, &recorder{err: errors.New("third down")}
	err := Fanout{bad1, nil, good, bad2}.Send(ctx, rateAlert())
	if len(bad1.sent) != 1 || len(good.sent) != 1 || len(bad2.sent) != 1 {
		t.Errorf("sends: %d %d %d, want 1 each", len(bad1.sent), len(good.sent), len(bad2.sent))
	}
	if !errors.Is(err, bad1.err) || !errors.Is(err, bad2.err) {
		t.Errorf("error %v lacks a sink's error", err)
	}
	if want := "alert sink 0 (*alert.recorder): first down\nalert sink 3 (*alert.recorder): third down"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if err := (Fanout{good}).Send(ctx, rateAlert()); err != nil {
		t.Errorf("all good: %v", err)
	}
}

// FlushAll announces every held-back count at once, open windows included,
// and forgets the keys, so the next identical alert goes out at once.
func TestAggregatorFlushAll(t *testing.T) {
	ctx := context.Background()
	g, r, c := newTestAggregator(0)
	a, b := diagnosisAlert(), diagnosisAlert()
	a.Count, a.Since, b.Count, b.Since = 1, time.Time{}, 1, time.Time{}
	b.Identity = "other@example.com"
	for range 5 {
		if err := g.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Send(ctx, b); err != nil { // b alone: nothing held back
		t.Fatal(err)
	}
	c.advance(time.Minute) // well inside the window
	n, err := g.FlushAll(ctx)
	if err != nil || n != 1 {
		t.Fatalf("FlushAll = %d, %v; want 1 summary", n, err)
	}
	if got := r.sent[len(r.sent)-1]; got.Identity != a.Identity || got.Count != 4 {
		t.Errorf("summary = %s ×%d, want %s ×4", got.Identity, got.Count, a.Identity)
	}
	if mem(g).Len() != 0 || mem(g).Pending() != 0 {
		t.Errorf("after FlushAll: Len %d, Pending %d; want 0, 0", mem(g).Len(), mem(g).Pending())
	}
	sent := len(r.sent)
	if err := g.Send(ctx, a); err != nil || len(r.sent) != sent+1 {
		t.Errorf("the next identical alert was not sent at once (err %v)", err)
	}
}

// windowsFunc is a WindowStore of functions, as a shared store is seen
// by the Aggregator.
type windowsFunc struct {
	observe func(Alert, time.Time, time.Duration) ([]Alert, error)
	close   func(time.Time, time.Duration, bool) ([]Alert, error)
}

func (w windowsFunc) Observe(_ context.Context, a Alert, now time.Time, window time.Duration) ([]Alert, error) {
	return w.observe(a, now, window)
}

func (w windowsFunc) Close(_ context.Context, now time.Time, window time.Duration, all bool) ([]Alert, error) {
	return w.close(now, window, all)
}

// TestAggregatorStore: the Aggregator sends what its store decides, with
// its own clock and window, and sends an alert anyway when the store fails.
func TestAggregatorStore(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0}
	r := &recorder{}
	var calls []string
	first, summary := diagnosisAlert(), diagnosisAlert()
	summary.Count = 7
	storeErr := errors.New("table unavailable")
	fail := false
	store := windowsFunc{
		observe: func(a Alert, now time.Time, w time.Duration) ([]Alert, error) {
			calls = append(calls, fmt.Sprintf("observe %s %v", now.Sub(t0), w))
			if fail {
				return nil, storeErr
			}
			if len(calls) == 1 {
				return []Alert{a}, nil
			}
			return nil, nil // another environment announced it
		},
		close: func(now time.Time, w time.Duration, all bool) ([]Alert, error) {
			calls = append(calls, fmt.Sprintf("close %s %v %t", now.Sub(t0), w, all))
			return []Alert{summary}, nil
		},
	}
	g := NewAggregator(r, AggregatorOptions{Window: time.Hour, Now: c.now, Store: store})
	_ = g.Send(ctx, first)
	c.advance(time.Minute)
	_ = g.Send(ctx, first)
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := g.FlushAll(ctx); n != 1 || err != nil {
		t.Fatalf("FlushAll = %d, %v", n, err)
	}
	want := []string{"observe 0s 1h0m0s", "observe 1m0s 1h0m0s", "close 1m0s 1h0m0s false", "close 1m0s 1h0m0s true"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("store calls %q, want %q", calls, want)
	}
	if len(r.sent) != 3 || r.sent[0].Count != first.Count || r.sent[1].Count != 7 || r.sent[2].Count != 7 {
		t.Fatalf("sent %+v", r.sent)
	}
	fail = true
	if err := g.Send(ctx, first); !errors.Is(err, storeErr) || len(r.sent) != 4 {
		t.Errorf("store failure: err %v, %d sent; want the store's error and the alert sent", err, len(r.sent))
	}
}

// TestFanoutConcurrentWithBudget: sinks run at once, each with a deadline
// that leaves MetricsReserve of the invocation; one accepting sink makes
// the alert delivered.
func TestFanoutConcurrentWithBudget(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pdl, _ := parent.Deadline()
	started := make(chan struct{})
	var got time.Time
	slow := SinkFunc(func(ctx context.Context, _ Alert) error {
		got, _ = ctx.Deadline()
		<-started // the fast sink is running meanwhile: concurrent
		return errors.New("slack: 500")
	})
	fast := SinkFunc(func(context.Context, Alert) error { close(started); return nil })
	err := Fanout{fast, slow}.Send(parent, Alert{Rule: "r"})
	var fe *FanoutError
	if !errors.As(err, &fe) || fe.Accepted != 1 || len(fe.Errs) != 1 || !Delivered(err) {
		t.Fatalf("err = %v, want a FanoutError with the first sink accepted: delivered", err)
	}
	started = make(chan struct{})
	if err := (Fanout{slow, fast}).Send(parent, Alert{Rule: "r"}); Delivered(err) {
		t.Fatalf("only the best-effort sink accepted, yet delivered: %v", err)
	}
	if want := min(time.Until(pdl)-MetricsReserve, MaxSinkTime); time.Until(got) > want+time.Second {
		t.Errorf("sink deadline in %v, want at most %v", time.Until(got), want)
	}
	if Delivered(&FanoutError{Errs: []error{errors.New("x")}}) {
		t.Error("no sink accepted, yet delivered")
	}
}

type undeliveredStore struct {
	*MemoryWindows
	back []Alert
}

func (u *undeliveredStore) Undelivered(_ context.Context, a Alert) { u.back = append(u.back, a) }

func TestAggregatorTellsStoreOfUndeliveredAlerts(t *testing.T) {
	st := &undeliveredStore{MemoryWindows: NewMemoryWindows(0)}
	down := true
	next := SinkFunc(func(context.Context, Alert) error {
		if down {
			return &FanoutError{Errs: []error{errors.New("sns: 500")}}
		}
		return &FanoutError{Accepted: 1, First: true, Errs: []error{errors.New("slack: 500")}}
	})
	g := NewAggregator(next, AggregatorOptions{Store: st, Now: func() time.Time { return time.Unix(0, 0) }})
	if err := g.Send(context.Background(), Alert{Rule: "r1"}); err == nil {
		t.Fatal("no error with every sink down")
	}
	down = false
	if err := g.Send(context.Background(), Alert{Rule: "r2"}); err == nil || !Delivered(err) {
		t.Fatalf("partial delivery: %v", err)
	}
	if len(st.back) != 1 || st.back[0].Rule != "r1" {
		t.Fatalf("store told of %+v, want only r1 (r2 reached a sink)", st.back)
	}
}
