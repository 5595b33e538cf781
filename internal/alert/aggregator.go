package alert

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultWindow is the Aggregator's default storm window.
const DefaultWindow = 15 * time.Minute

// DefaultMaxKeys bounds how many distinct alerts an Aggregator remembers.
const DefaultMaxKeys = 1024

// AggregatorOptions configures an Aggregator. Zero values mean the defaults.
type AggregatorOptions struct {
	Window  time.Duration    // DefaultWindow
	MaxKeys int              // DefaultMaxKeys
	Now     func() time.Time // time.Now
}

// Aggregator collapses storms of identical alerts (same Alert.Key: kind,
// rule, identity, Region) into one alert with a count. It is meant to live in
// a warm Lambda container, across invocations.
//
// Semantics, per key:
//   - The first alert is passed to the next sink at once, and opens a window
//     of Window length starting at that moment (by the injected clock).
//   - Identical alerts inside the window are not sent; they are counted, and
//     the latest one is kept.
//   - The first identical alert after the window closes is sent with Count =
//     1 + the number held back and Since = the time of the first held-back
//     one ("N more since …"), and opens a new window.
//   - Flush, called at the end of an invocation, sends the held-back count of
//     every window that has closed (the latest held-back alert, Count = number
//     held back, Since = first held back) and forgets those keys, so the next
//     identical alert is again sent at once.
//   - At most MaxKeys keys are remembered; adding one more evicts the key
//     whose window opened first, sending its held-back count first if any, so
//     counts are delayed, never lost, by eviction.
//
// Counts held back when a container is shut down are lost; the metrics, not
// the alerts, are the complete record. An alert's own Count (if > 1) is added
// as that many occurrences.
type Aggregator struct {
	next    Sink
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*aggEntry
	order   []string // keys in window-opening order, oldest first
}

type aggEntry struct {
	opened    time.Time // when the current window opened
	held      int       // occurrences held back in this window
	firstHeld time.Time
	latest    Alert // latest held-back alert
}

// NewAggregator returns an Aggregator sending to next.
func NewAggregator(next Sink, o AggregatorOptions) *Aggregator {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Aggregator{next: next, window: o.Window, maxKeys: o.MaxKeys, now: o.Now, entries: map[string]*aggEntry{}}
}

// Send passes a on, or counts it if an identical alert was sent within the
// window. It returns the next sink's errors (including those of a summary
// sent for an evicted key). A failed send still opens the window: retrying
// a storm's first alert on each of its thousands of occurrences would turn a
// Slack outage into a retry storm.
func (g *Aggregator) Send(ctx context.Context, a Alert) error {
	now := g.now()
	key := a.Key()
	var out []Alert

	g.mu.Lock()
	e, ok := g.entries[key]
	switch {
	case ok && now.Sub(e.opened) < g.window:
		if e.held == 0 {
			e.firstHeld = now
		}
		e.held += a.count()
		e.latest = a
		g.mu.Unlock()
		return nil
	case ok: // window closed: send this one carrying the held-back count
		if e.held > 0 {
			a.Count = a.count() + e.held
			a.Since = e.firstHeld
		}
		g.remove(key)
	default:
		if len(g.entries) >= g.maxKeys {
			if s, ok := g.evictOldest(); ok {
				out = append(out, s)
			}
		}
	}
	g.entries[key] = &aggEntry{opened: now}
	g.order = append(g.order, key)
	out = append(out, a)
	g.mu.Unlock()

	return g.sendAll(ctx, out)
}

// Flush sends the held-back count of every key whose window has closed and
// forgets those keys. Call it at the end of each invocation.
func (g *Aggregator) Flush(ctx context.Context) error {
	now := g.now()
	var out []Alert
	g.mu.Lock()
	keep := g.order[:0]
	for _, k := range g.order {
		e := g.entries[k]
		if now.Sub(e.opened) < g.window {
			keep = append(keep, k)
			continue
		}
		if s, ok := e.summary(); ok {
			out = append(out, s)
		}
		delete(g.entries, k)
	}
	clear(g.order[len(keep):])
	g.order = keep
	g.mu.Unlock()
	return g.sendAll(ctx, out)
}

// FlushAll sends the held-back count of every key, whether or not its
// window has closed, and forgets all keys: everything held is announced
// now (before a deploy, at the end of a local replay). It returns the
// number of summaries sent.
func (g *Aggregator) FlushAll(ctx context.Context) (int, error) {
	var out []Alert
	g.mu.Lock()
	for _, k := range g.order {
		if s, ok := g.entries[k].summary(); ok {
			out = append(out, s)
		}
	}
	clear(g.entries)
	g.order = nil
	g.mu.Unlock()
	return len(out), g.sendAll(ctx, out)
}

// Pending returns the number of occurrences currently held back, over all keys.
func (g *Aggregator) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, e := range g.entries {
		n += e.held
	}
	return n
}

// Len returns the number of keys remembered.
func (g *Aggregator) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}

func (e *aggEntry) summary() (Alert, bool) {
	if e.held == 0 {
		return Alert{}, false
	}
	s := e.latest
	s.Count = e.held
	s.Since = e.firstHeld
	return s, true
}

// evictOldest drops the key whose window opened first; g.mu is held.
func (g *Aggregator) evictOldest() (Alert, bool) {
	if len(g.order) == 0 {
		return Alert{}, false
	}
	k := g.order[0]
	e := g.entries[k]
	g.order[0] = ""
	g.order = g.order[1:]
	delete(g.entries, k)
	return e.summary()
}

// remove drops key from the map and the order; g.mu is held.
func (g *Aggregator) remove(key string) {
	delete(g.entries, key)
	for i, k := range g.order {
		if k == key {
			g.order = append(g.order[:i], g.order[i+1:]...)
			return
		}
	}
}

func (g *Aggregator) sendAll(ctx context.Context, as []Alert) error {
	var errs []error
	for _, a := range as {
		if err := g.next.Send(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
