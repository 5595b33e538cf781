package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultWindow is the Aggregator's default storm window.
const DefaultWindow = 15 * time.Minute

// DefaultMaxKeys bounds how many distinct alerts an Aggregator remembers.
const DefaultMaxKeys = 1024

// AggregatorOptions configures an Aggregator. Zero values mean the defaults.
type AggregatorOptions struct {
	Window time.Duration    // DefaultWindow
	Now    func() time.Time // time.Now
	// Store keeps the windows; nil is a MemoryWindows of MaxKeys keys.
	Store   WindowStore
	MaxKeys int // DefaultMaxKeys; only for the default Store
}

// Aggregator collapses storms of identical alerts (same Alert.Key: kind,
// rule, identity, Region) into one alert with a count. Its windows live in
// a WindowStore, which decides what is announced (see WindowStore for the
// semantics, per key); the Aggregator sends what the store returns. With
// the default MemoryWindows it is meant to live in a warm Lambda
// container, across invocations: counts held back when a container is
// shut down are lost, and each execution environment keeps its own
// windows. The metrics, not the alerts, are the complete record. An
// alert's own Count (if > 1) is added as that many occurrences.
type Aggregator struct {
	next   Sink
	window time.Duration
	now    func() time.Time
	store  WindowStore
}

// NewAggregator returns an Aggregator sending to next.
func NewAggregator(next Sink, o AggregatorOptions) *Aggregator {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Store == nil {
		o.Store = NewMemoryWindows(o.MaxKeys)
	}
	return &Aggregator{next: next, window: o.Window, now: o.Now, store: o.Store}
}

// Send passes a on, or counts it if an identical alert was sent within the
// window. It returns the next sink's errors (including those of a summary
// sent for an evicted key). A failed send still opens the window: retrying
// a storm's first alert on each of its thousands of occurrences would turn a
// Slack outage into a retry storm.
func (g *Aggregator) Send(ctx context.Context, a Alert) error {
	out, err := g.store.Observe(ctx, a, g.now(), g.window)
	if err != nil {
		// Announcing twice beats not announcing (DESIGN.md).
		return errors.Join(fmt.Errorf("storm window of %s: %w", a.Rule, err), g.sendAll(ctx, []Alert{a}))
	}
	return g.sendAll(ctx, out)
}

// Flush sends the held-back count of every key whose window has closed and
// forgets those keys. Call it at the end of each invocation.
func (g *Aggregator) Flush(ctx context.Context) error {
	_, err := g.close(ctx, false)
	return err
}

// FlushAll sends the held-back count of every key, whether or not its
// window has closed, and forgets all keys: everything held is announced
// now (before a deploy, at the end of a local replay). It returns the
// number of summaries sent.
func (g *Aggregator) FlushAll(ctx context.Context) (int, error) {
	return g.close(ctx, true)
}

func (g *Aggregator) close(ctx context.Context, all bool) (int, error) {
	out, err := g.store.Close(ctx, g.now(), g.window, all)
	if err != nil {
		err = fmt.Errorf("close storm windows: %w", err)
	}
	return len(out), errors.Join(err, g.sendAll(ctx, out))
}

func (g *Aggregator) sendAll(ctx context.Context, as []Alert) error {
	var errs []error
	for _, a := range as {
		if err := g.next.Send(ctx, a); err != nil {
			errs = append(errs, err)
			if u, ok := g.store.(Undeliverer); ok && !Delivered(err) {
				u.Undelivered(ctx, a)
			}
		}
	}
	return errors.Join(errs...)
}

// Undeliverer is an optional method of a WindowStore: the Aggregator tells
// the store that an alert it returned reached no sink. A shared store then
// puts what the alert carried back (the window counts as closed, holding
// the carried count), so that the retried record announces it instead of
// finding the window open and holding it back: a first alert lost to an
// SNS outage is announced on the retry. MemoryWindows keeps today's
// behaviour (the window stays open).
type Undeliverer interface {
	Undelivered(ctx context.Context, a Alert)
}

// WindowStore keeps an Aggregator's storm windows and decides, per key
// (Alert.Key), which alerts are announced. Per key it holds when the
// current window opened, the occurrences held back since, when the first
// of them arrived and the latest held-back alert. window is the
// Aggregator's Window and now its clock (the caller's: simulated time
// works, and a shared store must not read its own).
//
// Observe(a, now, window), a standing for a.Count occurrences (at least 1):
//   - no window for the key: open one at now and return [a]: the caller
//     announces the first occurrence;
//   - a window open (now - opened < window): add the occurrences to the
//     held-back count (the first held-back time is now if none was held),
//     keep a as the latest, and return nothing;
//   - the window closed: return [a] with Count = its occurrences + the held
//     back ones and, if any were held, Since = the first held-back time; a
//     new window opens at now with nothing held.
//
// A store may return further summaries first (MemoryWindows, bounded,
// returns that of the key it evicts).
//
// Close(now, window, all) is called at the end of every invocation and by
// the flush schedule (all: flush-all). It forgets every key whose window
// has closed (every key when all) and returns, for each that held
// occurrences back, the latest held-back alert with Count = the held-back
// occurrences and Since = the first held-back time. A store that gathers
// an invocation's counts before writing them must have written them when
// Close returns.
//
// Every occurrence is counted into exactly one announcement, and each
// returned alert goes to exactly one caller: a store shared by execution
// environments decides it with a conditional write, so that a storm is
// announced once (first occurrence, then the held-back count) whichever
// environment the occurrences reach. A store whose shared backing fails
// should fall back to its own memory (DESIGN.md: duplicates accepted,
// never alerts lost) rather than return an error; if Observe does fail,
// the Aggregator sends the alert anyway and returns the error.
//
// MemoryWindows is the in-process store; a DynamoDB store (package
// internal/state) shares windows across environments.
type WindowStore interface {
	Observe(ctx context.Context, a Alert, now time.Time, window time.Duration) ([]Alert, error)
	Close(ctx context.Context, now time.Time, window time.Duration, all bool) ([]Alert, error)
}

// MemoryWindows is a WindowStore in process memory, for one execution
// environment. At most MaxKeys keys are remembered; adding one more evicts
// the key whose window opened first, returning its held-back count first
// if any, so counts are delayed, never lost, by eviction.
type MemoryWindows struct {
	maxKeys int

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

// NewMemoryWindows returns a MemoryWindows of at most maxKeys keys
// (DefaultMaxKeys if maxKeys <= 0).
func NewMemoryWindows(maxKeys int) *MemoryWindows {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &MemoryWindows{maxKeys: maxKeys, entries: map[string]*aggEntry{}}
}

// Observe implements WindowStore.
func (m *MemoryWindows) Observe(_ context.Context, a Alert, now time.Time, window time.Duration) ([]Alert, error) {
	key := a.Key()
	var out []Alert
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	switch {
	case ok && now.Sub(e.opened) < window:
		if e.held == 0 {
			e.firstHeld = now
		}
		e.held += a.count()
		e.latest = a
		return nil, nil
	case ok: // window closed: send this one carrying the held-back count
		if e.held > 0 {
			a.Count = a.count() + e.held
			a.Since = e.firstHeld
		}
		m.remove(key)
	default:
		if len(m.entries) >= m.maxKeys {
			if s, ok := m.evictOldest(); ok {
				out = append(out, s)
			}
		}
	}
	m.entries[key] = &aggEntry{opened: now}
	m.order = append(m.order, key)
	return append(out, a), nil
}

// Close implements WindowStore.
func (m *MemoryWindows) Close(_ context.Context, now time.Time, window time.Duration, all bool) ([]Alert, error) {
	var out []Alert
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := m.order[:0]
	for _, k := range m.order {
		e := m.entries[k]
		if !all && now.Sub(e.opened) < window {
			keep = append(keep, k)
			continue
		}
		if s, ok := e.summary(); ok {
			out = append(out, s)
		}
		delete(m.entries, k)
	}
	clear(m.order[len(keep):])
	m.order = keep
	return out, nil
}

// Pending returns the number of occurrences currently held back, over all keys.
func (m *MemoryWindows) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		n += e.held
	}
	return n
}

// Len returns the number of keys remembered.
func (m *MemoryWindows) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
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

// evictOldest drops the key whose window opened first; m.mu is held.
func (m *MemoryWindows) evictOldest() (Alert, bool) {
	if len(m.order) == 0 {
		return Alert{}, false
	}
	k := m.order[0]
	e := m.entries[k]
	m.order[0] = ""
	m.order = m.order[1:]
	delete(m.entries, k)
	return e.summary()
}

// remove drops key from the map and the order; m.mu is held.
func (m *MemoryWindows) remove(key string) {
	delete(m.entries, key)
	for i, k := range m.order {
		if k == key {
			m.order = append(m.order[:i], m.order[i+1:]...)
			return
		}
	}
}
