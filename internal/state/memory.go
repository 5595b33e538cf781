package state

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// maxMemoryKeys bounds each of memory's maps; past it a map starts again
// (a warm container must not grow without bound during a long outage).
const maxMemoryKeys = 100_000

// memory is the in-process state of one environment: the whole state
// without a table, and the fallback while the table is unavailable. Same
// semantics as the table, within this environment only.
type memory struct {
	mu      sync.Mutex
	fails   map[string]bool // failed while the table was down: to write there
	dones   map[string]bool // done while the table was down: to write there
	idem    map[string]*memIdem
	windows map[string]*winItem
	levels  map[string]*levelItem
	facts   map[string]factItem
	// bodies are, per window key, the alert this environment last wrote
	// to the table as its window's latest (Precount): not a fallback, a
	// cache of what the table holds, so that the next count need not
	// carry the same body again.
	bodies map[string]bodySent
}

// bodySent is an alert body written as a window's latest: its normalised
// content's digest (alertwindows.go: bodyDigest) and when (the writer's
// clock, Unix ms).
type bodySent struct {
	digest [sha256.Size]byte
	at     int64
}

type memIdem struct {
	status string
	until  time.Time
	flags  []string
}

func newMemory() memory {
	return memory{fails: map[string]bool{}, dones: map[string]bool{}, idem: map[string]*memIdem{}, windows: map[string]*winItem{}, levels: map[string]*levelItem{}, facts: map[string]factItem{},
		bodies: map[string]bodySent{}}
}

func bound[V any](m map[string]V) {
	if len(m) >= maxMemoryKeys {
		clear(m)
	}
}

func (m *memory) claim(k string, now time.Time, hold time.Duration) Claim {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.idem[k]
	switch {
	case ok && r.status == statusDone:
		return Claim{Outcome: AlreadyDone}
	case ok && r.status == statusClaimed && r.until.After(now):
		return Claim{Outcome: InProgress}
	case !ok:
		bound(m.idem)
		r = &memIdem{}
		m.idem[k] = r
	}
	r.status, r.until = statusClaimed, now.Add(hold)
	return Claim{Outcome: Acquired, Flags: slices.Clone(r.flags)}
}

func (m *memory) done(k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.idem)
	m.idem[k] = &memIdem{status: statusDone}
}

func (m *memory) fail(k string, flags []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.idem[k]
	if !ok {
		bound(m.idem)
		r = &memIdem{}
		m.idem[k] = r
	}
	r.status = statusFailed
	for _, f := range flags {
		if !slices.Contains(r.flags, f) {
			r.flags = append(r.flags, f)
		}
	}
}

// finish is FinishAll in memory.
func (m *memory) finish(f Finish) {
	if f.Failed {
		m.fail(f.Key, f.Flags)
	} else {
		m.done(f.Key)
	}
}

func (m *memory) pendingFail(k string) {
	m.mu.Lock()
	bound(m.fails)
	m.fails[k] = true
	m.mu.Unlock()
}

func (m *memory) pendingDone(k string) {
	m.mu.Lock()
	bound(m.dones)
	m.dones[k] = true
	m.mu.Unlock()
}

func (m *memory) takePendingDones() []string { return m.takeKeys(m.dones) }

// takeKeys empties set, one of m's pending sets, and returns its keys.
func (m *memory) takeKeys(set map[string]bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	clear(set)
	return out
}

// isDone reports whether this environment finished k in memory (the
// table was down).
func (m *memory) isDone(k string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.idem[k]
	return ok && r.status == statusDone
}

func (m *memory) takePendingFails() []string { return m.takeKeys(m.fails) }

// flags returns the steps a failed attempt kept in memory for k.
func (m *memory) flags(k string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.idem[k]; ok {
		return slices.Clone(r.flags)
	}
	return nil
}

// forget drops a record the table now holds (a claim taken from memory
// during an outage and finished in the table).
func (m *memory) forget(k string) {
	m.mu.Lock()
	delete(m.idem, k)
	m.mu.Unlock()
}

func (m *memory) offer(o Offer) *Opened {
	now, cutoff := ms(o.Now), ms(o.Now.Add(-o.Window))
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[o.Key]
	if ok && w.Opened > cutoff {
		if w.Held == 0 {
			w.FirstHeld = now
		}
		w.Held += int64(o.N)
		w.Latest = o.Latest
		return nil
	}
	op := &Opened{openedAt: now, n: o.N, inMemory: true}
	if ok && w.Held > 0 {
		op.Carried, op.Since, op.carriedFirst = int(w.Held), fromMS(w.FirstHeld), w.FirstHeld
	}
	if !ok {
		bound(m.windows)
	}
	m.windows[o.Key] = &winItem{SK: o.Key, Opened: now}
	return op
}

// hold counts n occurrences into k's window without announcing them (the
// table's window, opened at opened, is known to be open).
func (m *memory) hold(k string, n int, latest []byte, first time.Time, opened int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[k]
	if !ok {
		bound(m.windows)
		w = &winItem{SK: k, Opened: opened}
		m.windows[k] = w
	}
	if w.Held == 0 || ms(first) < w.FirstHeld {
		w.FirstHeld = ms(first)
	}
	w.Held += int64(n)
	w.Latest = latest
}

// takeHeld removes and returns every window holding occurrences.
func (m *memory) takeHeld() []winItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []winItem
	for k, w := range m.windows {
		if w.Held > 0 {
			out = append(out, *w)
			delete(m.windows, k)
		}
	}
	return out
}

func (m *memory) reopen(k string, op *Opened) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[k]
	if !ok || w.Opened != op.openedAt {
		return
	}
	w.Opened = 0
	w.Held += int64(op.Carried + op.reheld)
	if op.carriedFirst != 0 {
		w.FirstHeld = op.carriedFirst
	}
}

func (m *memory) flush(now time.Time, window time.Duration, all bool) []Summary {
	cutoff := ms(now.Add(-window))
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Summary
	for k, w := range m.windows {
		if !all && w.Opened > cutoff {
			continue
		}
		if w.Held > 0 {
			out = append(out, Summary{Key: k, Count: int(w.Held), Since: fromMS(w.FirstHeld), Latest: w.Latest, taken: *w, inMemory: true})
		}
		delete(m.windows, k)
	}
	slices.SortFunc(out, func(a, b Summary) int { return a.Since.Compare(b.Since) })
	return out
}

func (m *memory) giveBack(sm Summary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[sm.Key]
	if !ok {
		w = &winItem{SK: sm.Key, Latest: sm.Latest}
		m.windows[sm.Key] = w
	}
	w.Held += int64(sm.Count)
	if sm.taken.FirstHeld != 0 && (w.FirstHeld == 0 || sm.taken.FirstHeld < w.FirstHeld) {
		w.FirstHeld = sm.taken.FirstHeld
	}
}

func (m *memory) level(k string) LevelState {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.levels[k]
	if !ok {
		return LevelState{}
	}
	return LevelState{Announced: it.Announced, Pending: it.Pending, Sent: slices.Clone(it.Sent)}
}

func (m *memory) beginLevel(k, target string, now time.Time, lease time.Duration) *LevelClaim {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.levels[k]
	if !ok {
		bound(m.levels)
		it = &levelItem{}
		m.levels[k] = it
	}
	if it.Announced == target && it.Pending == "" || it.Lease > ms(now) {
		return nil
	}
	if it.Pending != target {
		it.Sent = nil
	}
	it.Version++
	it.Lease = ms(now.Add(lease))
	it.Pending = target
	return &LevelClaim{Key: k, Target: target, Skip: slices.Clone(it.Sent), version: it.Version, inMemory: true}
}

func (m *memory) finishLevel(c *LevelClaim, accepted []string, complete bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.levels[c.Key]
	if !ok {
		it = &levelItem{Pending: c.Target, Sent: slices.Clone(c.Skip)}
		m.levels[c.Key] = it
	}
	it.Lease = 0
	if len(accepted) > 0 {
		it.Announced = c.Target
		for _, a := range accepted {
			if !slices.Contains(it.Sent, a) {
				it.Sent = append(it.Sent, a)
			}
		}
	}
	if complete {
		it.Pending = ""
	}
}

func (m *memory) fact(k string, now time.Time) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.facts[k]
	return it.Data, ok && it.Expires > ms(now)
}

func (m *memory) putFact(k string, v []byte, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.facts)
	m.facts[k] = factItem{Data: v, Expires: ms(until)}
}

// bodyFresh reports whether this environment wrote a body of digest as
// k's latest after cutoff (and not after now), both Unix ms.
func (m *memory) bodyFresh(k string, digest [sha256.Size]byte, cutoff, now int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bodies[k]
	return ok && b.digest == digest && b.at > cutoff && b.at <= now
}

// sentBody records that this environment wrote a body of digest as k's
// latest at at (Unix ms).
func (m *memory) sentBody(k string, digest [sha256.Size]byte, at int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.bodies[k]; !ok {
		bound(m.bodies)
	}
	m.bodies[k] = bodySent{digest: digest, at: at}
}

// forgetBody drops what sentBody recorded for k (the table's item turned
// out not to hold it).
func (m *memory) forgetBody(k string) {
	m.mu.Lock()
	delete(m.bodies, k)
	m.mu.Unlock()
}
