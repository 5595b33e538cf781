package state

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sesguard/sesguard/internal/alert"
)

// ScanEvery is how often (by the caller's clock) an environment reads the
// whole window partition at the end of an invocation to announce counts
// held back by other environments in windows that have closed. In between
// it closes only the windows it has seen itself; the flush schedule (a
// separate invocation) finds the rest within its period at worst.
const ScanEvery = time.Minute

// AlertWindows is an alert.WindowStore (and alert.Undeliverer) over the
// Store's shared storm windows: the first occurrence of a key is announced
// by exactly one environment, the held-back count by exactly one.
//
// Pre-aggregation: an occurrence of a key this environment knows to be
// open (from its own earlier write) is only counted in memory; Close
// writes each such key's count with one ADD. So a hot key costs one write
// per invocation, whatever its number of records.
type AlertWindows struct {
	s *Store

	mu       sync.Mutex
	pending  map[string]*pendingCount
	openers  map[string]*Opened // this invocation's announcements that opened a window
	toOpen   map[string]*toOpen // windows precounted into while closed (Precount)
	taken    map[string]Summary // the last Close's summaries, for Undelivered
	lastScan time.Time
	// offering holds the keys whose window an Offer is deciding now: an
	// invocation's records are handled concurrently, and a storm's
	// occurrences of one key would otherwise all race to open its window
	// (one wins, the others pay a second write to count into it).
	offering map[string]*sync.Mutex
	offerers map[string]int
}

type pendingCount struct {
	n      int
	first  time.Time
	latest alert.Alert
	opened openInfo
}

// AlertWindows returns the Store's windows as an alert.WindowStore.
func (s *Store) AlertWindows() *AlertWindows {
	return &AlertWindows{s: s, pending: map[string]*pendingCount{}, openers: map[string]*Opened{}, taken: map[string]Summary{},
		toOpen: map[string]*toOpen{}, offering: map[string]*sync.Mutex{}, offerers: map[string]int{}}
}

var (
	_ alert.WindowStore = (*AlertWindows)(nil)
	_ alert.Undeliverer = (*AlertWindows)(nil)
)

func count(a alert.Alert) int { return max(a.Count, 1) }

// Observe implements alert.WindowStore.
func (w *AlertWindows) Observe(ctx context.Context, a alert.Alert, now time.Time, window time.Duration) ([]alert.Alert, error) {
	k := a.Key()
	if w.hold(k, a, now, window) {
		return nil, nil
	}
	defer w.offered(k)()
	if w.hold(k, a, now, window) { // opened meanwhile by the Offer waited for
		return nil, nil
	}
	latest, _ := encodeBody(a) // unencodable: the summary is made from the key
	op := w.s.Offer(ctx, Offer{Key: k, N: count(a), Latest: latest, Now: now, Window: window})
	if op == nil {
		return nil, nil
	}
	out := a
	out.Count = count(a) + op.Carried
	if op.Carried > 0 {
		out.Since = op.Since
	}
	w.mu.Lock()
	w.openers[k] = op
	w.mu.Unlock()
	return []alert.Alert{out}, nil
}

// hold counts a into this invocation's pending count of k if this
// environment knows k's window to be open (Close writes the count).
func (w *AlertWindows) hold(k string, a alert.Alert, now time.Time, window time.Duration) bool {
	opened, ok := w.s.knownOpen(k, now, window)
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[k]
	if p == nil {
		p = &pendingCount{first: now, opened: opened}
		w.pending[k] = p
	}
	p.n += count(a)
	p.latest = a
	return true
}

// offered waits for any Offer of k in progress in this environment and
// returns the function ending the caller's own.
func (w *AlertWindows) offered(k string) (done func()) {
	w.mu.Lock()
	m := w.offering[k]
	if m == nil {
		m = &sync.Mutex{}
		w.offering[k] = m
	}
	w.offerers[k]++
	w.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		w.mu.Lock()
		if w.offerers[k]--; w.offerers[k] == 0 {
			delete(w.offering, k)
			delete(w.offerers, k)
		}
		w.mu.Unlock()
	}
}

// Close implements alert.WindowStore: it writes this invocation's
// pre-aggregated counts, opens the windows its claims counted into while
// closed (Precount), then takes the held-back counts of closed windows
// (this environment's own, or all of them every ScanEvery, on the flush
// schedule, and with all).
func (w *AlertWindows) Close(ctx context.Context, now time.Time, window time.Duration, all bool) ([]alert.Alert, error) {
	w.mu.Lock()
	pending, opening := w.pending, w.toOpen
	w.pending, w.toOpen = map[string]*pendingCount{}, map[string]*toOpen{}
	clear(w.openers)
	clear(w.taken)
	// A new environment's first scan waits ScanEvery too: environments
	// started together (a scale-out) would otherwise all read the
	// partition at once and race for the same counts.
	if w.lastScan.IsZero() {
		w.lastScan = now
	}
	scan := all || now.Sub(w.lastScan) >= ScanEvery || now.Before(w.lastScan)
	if scan {
		w.lastScan = now
	}
	w.mu.Unlock()

	var out []alert.Alert
	for k, p := range pending {
		if a, ok := w.writePending(ctx, k, p, now, window); ok {
			out = append(out, a)
		}
	}
	for k, o := range opening {
		if a, op := w.open(ctx, k, o, now, window); op != nil {
			out = append(out, a)
			w.mu.Lock()
			w.openers[k] = op
			w.mu.Unlock()
		}
	}
	w.s.drainMemoryWindows(ctx, now)
	var sums []Summary
	if scan {
		sums = w.s.Flush(ctx, now, window, all)
	} else {
		sums = w.s.flushKnown(ctx, now, window)
	}
	for _, sm := range sums {
		a, err := decodeBody(sm.Latest)
		if err != nil {
			// The count is taken: announce it from what the key says
			// rather than lose it (giving it back would fail the same way
			// at every flush).
			var ok bool
			if a, ok = keyAlert(sm.Key); !ok {
				w.s.log.ErrorContext(ctx, "storm window summary without its alert: count dropped", "key", sm.Key, "count", sm.Count, "err", err)
				continue
			}
			w.s.log.ErrorContext(ctx, "storm window summary without its alert: announced from its key", "key", sm.Key, "count", sm.Count, "err", err)
			a.Time = sm.Since
		}
		a.Count, a.Since = sm.Count, sm.Since
		if sm.LastAt.After(a.Time) {
			a.Time = sm.LastAt // counted since without its body (Precount)
		}
		out = append(out, a)
		w.mu.Lock()
		w.taken[a.Key()] = sm
		w.mu.Unlock()
	}
	return out, nil
}

// writePending counts p into its window with one conditional ADD; if the
// window closed meanwhile, p opens the next one and is announced (ok).
func (w *AlertWindows) writePending(ctx context.Context, k string, p *pendingCount, now time.Time, window time.Duration) (alert.Alert, bool) {
	latest, _ := encodeBody(p.latest) // unencodable: the summary is made from the key
	o := Offer{Key: k, N: p.n, Latest: latest, Now: p.first, Window: window}
	if w.s.db != nil {
		err := w.s.addHeld(ctx, o, expression.Name("opened").GreaterThan(expression.Value(ms(now.Add(-window)))))
		switch {
		case err == nil:
			return alert.Alert{}, false
		case !conditionFailed(err):
			// Hold it in memory until the window closes; drained into
			// the table when it answers again.
			w.s.fellBack(ctx, "window count", k, err)
			w.s.mem.hold(k, p.n, latest, p.first, p.opened.at)
			return alert.Alert{}, false
		}
		w.s.forgetOpen(k)
	}
	o.Now = now
	op := w.s.Offer(ctx, o)
	if op == nil {
		return alert.Alert{}, false
	}
	op.reheld = p.n // these records are settled: a failed announcement keeps them held
	a := p.latest
	a.Count = p.n + op.Carried
	if op.Carried > 0 {
		a.Since = op.Since
	}
	w.mu.Lock()
	w.openers[k] = op
	w.mu.Unlock()
	return a, true
}

// Undelivered implements alert.Undeliverer: an opening announcement that
// reached no sink leaves its window closed holding what it carried (its
// own occurrences come back with the retried records); a summary's count
// goes back to its window.
func (w *AlertWindows) Undelivered(ctx context.Context, a alert.Alert) {
	k := a.Key()
	w.mu.Lock()
	op, opened := w.openers[k]
	sm, took := w.taken[k]
	delete(w.openers, k)
	delete(w.taken, k)
	w.mu.Unlock()
	switch {
	case opened:
		w.s.Reopen(ctx, k, op, a.Time)
	case took:
		w.s.GiveBack(ctx, sm)
	}
}

// knownOpen reports whether this environment opened or counted into k's
// window recently enough that it is still open at now.
func (s *Store) knownOpen(k string, now time.Time, window time.Duration) (openInfo, bool) {
	if s.db == nil {
		return openInfo{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.opened[k]
	return o, ok && o.at > ms(now.Add(-window)) && o.at <= ms(now)
}

func (s *Store) forgetOpen(k string) {
	s.mu.Lock()
	delete(s.opened, k)
	s.mu.Unlock()
}

// flushKnown takes the held-back counts of the closed windows this
// environment opened, without reading the partition, and forgets every
// window it knows to have closed.
func (s *Store) flushKnown(ctx context.Context, now time.Time, window time.Duration) []Summary {
	out := s.mem.flush(now, window, false)
	if s.db == nil {
		return out
	}
	cutoff := ms(now.Add(-window))
	s.mu.Lock()
	var keys []string
	for k, o := range s.opened {
		if o.at <= cutoff {
			if o.own {
				keys = append(keys, k)
			}
			delete(s.opened, k)
		}
	}
	s.mu.Unlock()
	for _, k := range keys {
		if sm, ok := s.take(ctx, k, cutoff, false); ok {
			out = append(out, sm)
		}
	}
	return out
}

// take takes the held-back count of k's window if it has closed by cutoff
// (any window with all).
func (s *Store) take(ctx context.Context, k string, cutoff int64, all bool) (Summary, bool) {
	held, opened := expression.Name("held"), expression.Name("opened")
	cond := held.GreaterThan(expression.Value(0))
	if !all {
		cond = cond.And(opened.LessThanEqual(expression.Value(cutoff)))
	}
	upd := expression.Set(held, expression.Value(0)).Remove(expression.Name("firstHeld"))
	if all {
		upd = upd.Set(opened, expression.Value(0))
	}
	var old winItem
	err := s.update(ctx, windowPK, k, upd, &cond, types.ReturnValueAllOld, &old)
	switch {
	case err == nil:
		return Summary{Key: k, Count: int(old.Held), Since: fromMS(old.FirstHeld), Latest: old.Latest, LastAt: fromMS(old.LastAt), taken: old}, true
	case !conditionFailed(err):
		s.fellBack(ctx, "window flush", k, err)
	}
	return Summary{}, false
}

// drainMemoryWindows moves counts held in memory while the table failed
// back into the table's windows once it answers, so that they are
// announced with the rest (by one environment) instead of by this one
// alone, or never if this environment is not the one the flush reaches.
func (s *Store) drainMemoryWindows(ctx context.Context, now time.Time) {
	if s.db == nil {
		return
	}
	held := s.mem.takeHeld()
	for i, w := range held {
		upd := heldUpdate(int(w.Held), w.FirstHeld, w.Latest).
			Set(expression.Name("opened"), expression.IfNotExists(expression.Name("opened"), expression.Value(w.Opened))).
			Set(expression.Name(AttrTTL), expression.Value(s.ttl(now, 24*time.Hour)))
		if err := s.update(ctx, windowPK, w.SK, upd, nil, types.ReturnValueNone, nil); err != nil {
			s.fellBack(ctx, "window drain", w.SK, err)
			for _, w := range held[i:] { // still unavailable: keep them all
				s.mem.hold(w.SK, int(w.Held), w.Latest, fromMS(w.FirstHeld), w.Opened)
			}
			return
		}
	}
}

// Precount is an invocation's storm occurrences counted into their shared
// windows by the transactions that claim the invocation's records
// (Store.ClaimBatch): one update per alert key per transaction, written
// if and only if those records are claimed. The caller does not offer a
// precounted alert to the aggregator (Counted): it is counted already.
//
// A key's count is first offered on condition that its window is open by
// the caller's clock; whichever environment opened it (this environment
// need not know it), the occurrences are held back, with no call of their
// own. A window found closed (or never opened) cancels the transaction;
// the retried one counts the occurrences into it regardless, and Close
// then opens it, announcing what it holds, unless another environment
// has opened it meanwhile (which then announced them, or holds them in
// its new window). A window this environment did not open closes
// unnoticed here; whoever reads the partition (ScanEvery, the flush
// schedule) or reopens it announces its count.
type Precount struct {
	w       *AlertWindows
	now     time.Time
	window  time.Duration
	cutoff  int64             // windows opened after it are open at now
	recs    [][]precounted    // per record, one entry per alert key
	closed  map[string]bool   // found closed: counted regardless, opened by Close
	dropped map[string]bool   // left to Observe
	counted []map[string]bool // per record, the keys counted with its claim
	// wrote is, per key, the body digest the last writes carried as the
	// window's latest (committed records it), or absent: the short form.
	wrote map[string][sha256.Size]byte
}

type precounted struct {
	key    string
	n      int
	latest alert.Alert
}

// Precount prepares the counts of alerts (alerts[i]: those record i will
// offer, with their Time set) for ClaimBatch: pass the result as its
// BatchWrites, then ask Counted. window is the aggregator's window.
func (w *AlertWindows) Precount(alerts [][]alert.Alert, now time.Time, window time.Duration) *Precount {
	p := &Precount{w: w, now: now, window: window, cutoff: ms(now.Add(-window)), recs: make([][]precounted, len(alerts)),
		closed: map[string]bool{}, dropped: map[string]bool{}, counted: make([]map[string]bool, len(alerts)),
		wrote: map[string][sha256.Size]byte{}}
	for i, as := range alerts {
		for _, a := range as {
			k := a.Key()
			j := slices.IndexFunc(p.recs[i], func(c precounted) bool { return c.key == k })
			if j < 0 {
				p.recs[i] = append(p.recs[i], precounted{key: k})
				j = len(p.recs[i]) - 1
			}
			p.recs[i][j].n += count(a)
			p.recs[i][j].latest = a
		}
	}
	return p
}

var _ BatchWrites = (*Precount)(nil)

// Counted reports whether record i's alert a was counted into its window
// with the record's claim (do not offer it again).
func (p *Precount) Counted(i int, a alert.Alert) bool {
	return p != nil && i < len(p.counted) && p.counted[i][a.Key()]
}

func (p *Precount) touches(i int) []string {
	var out []string
	for _, c := range p.recs[i] {
		if !p.dropped[c.key] {
			out = append(out, c.key)
		}
	}
	return out
}

// sum is the count of one key over some records.
type sum struct {
	n      int
	latest alert.Alert
}

// sums adds up the counts of recs' keys, in first-seen order.
func (p *Precount) sums(recs []int) (map[string]*sum, []string) {
	sums := map[string]*sum{}
	var order []string
	for _, i := range recs {
		for _, c := range p.recs[i] {
			if p.dropped[c.key] {
				continue
			}
			sm := sums[c.key]
			if sm == nil {
				sm = &sum{}
				sums[c.key] = sm
				order = append(order, c.key)
			}
			sm.n += c.n
			sm.latest = c.latest
		}
	}
	return sums, order
}

// bodyDigest is the digest of a's content as a window's latest: what
// varies from one occurrence of a storm to the next (its time, and the
// count and first time an aggregator sets) left out.
func bodyDigest(a alert.Alert) ([sha256.Size]byte, error) {
	a.Time, a.Count, a.Since = time.Time{}, 0, time.Time{}
	b, err := json.Marshal(a)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// writes counts each key's occurrences into its window. The window's
// latest (the alert a summary announces, about 600 bytes deflated, most
// of the transaction's request) is left out when this environment wrote
// the same content there within the last window length: the short form
// sets lastAt instead, the time a summary then announces. (DynamoDB
// charges an update by the larger of the item's sizes before and after
// it, and the item keeps its body: this saves request bytes, not write
// units; the deflated body keeps the item under 1 KB, encodeBody.) It is
// safe because latest is never removed from a window item, and the item
// cannot expire (TTL) while a window opened within the last window
// length is open: its TTL is 2×window+1h after the opening, and the short
// form's condition asks for such a window. The item may still have been
// deleted and made anew without latest (a TTL long past, a window
// reopened): the condition also asks for latest, and a short form whose
// condition fails falls back as any failed condition does (refused): the
// next transaction counts the occurrences regardless, with the body.
// Another environment may have written a different content there since:
// the summary then announces that one, at the latest time.
func (p *Precount) writes(acquired []int) ([]txWrite, error) {
	sums, order := p.sums(acquired)
	out := make([]txWrite, 0, len(order))
	clear(p.wrote)
	for _, k := range order {
		digest, err := bodyDigest(sums[k].latest)
		if err != nil {
			return nil, fmt.Errorf("state: encode alert of window %s: %w", k, err)
		}
		opened := expression.Name("opened").GreaterThan(expression.Value(p.cutoff))
		upd := heldUpdate(sums[k].n, ms(p.now), nil).Set(expression.Name("lastAt"), expression.Value(ms(p.now)))
		size := 300 + len(k)
		var cond *expression.ConditionBuilder
		switch {
		case !p.closed[k] && p.w.s.mem.bodyFresh(k, digest, p.cutoff, ms(p.now)):
			c := opened.And(expression.AttributeExists(expression.Name("latest")))
			cond = &c
		default:
			latest, err := encodeBody(sums[k].latest)
			if err != nil {
				return nil, fmt.Errorf("state: encode alert of window %s: %w", k, err)
			}
			upd = upd.Set(expression.Name("latest"), expression.Value(latest))
			size += len(latest)
			p.wrote[k] = digest
			if p.closed[k] {
				// Counted regardless, always with the body, and with the
				// TTL of a window opened now (Close opens it): an old
				// window's TTL may have passed while DynamoDB has not yet
				// deleted the item, and the count must outlive it. It
				// never shortens one: a window open now opened after
				// now-window.
				upd = upd.Set(expression.Name(AttrTTL), expression.Value(p.w.s.windowTTL(p.now, p.window)))
			} else {
				cond = &opened
			}
		}
		it, err := p.w.s.txUpdate(windowPK, k, upd, cond)
		if err != nil {
			return nil, err
		}
		out = append(out, txWrite{sk: k, item: it, bytes: size})
	}
	return out, nil
}

func (p *Precount) refused(k string, condition bool) {
	if _, full := p.wrote[k]; condition && !full {
		// A short form: the item may not hold this environment's body.
		p.w.s.mem.forgetBody(k)
	}
	if condition && !p.closed[k] {
		p.closed[k] = true
		return
	}
	p.dropped[k] = true
}

func (p *Precount) committed(acquired []int) {
	for _, i := range acquired {
		for _, c := range p.recs[i] {
			if p.dropped[c.key] {
				continue
			}
			if p.counted[i] == nil {
				p.counted[i] = map[string]bool{}
			}
			p.counted[i][c.key] = true
		}
	}
	sums, order := p.sums(acquired)
	for _, k := range order {
		if !p.closed[k] {
			p.w.s.sawOpen(k, p.now, p.window)
		}
		if digest, ok := p.wrote[k]; ok {
			p.w.s.mem.sentBody(k, digest, ms(p.now))
		}
	}
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	for _, k := range order {
		if !p.closed[k] {
			continue
		}
		o := p.w.toOpen[k]
		if o == nil {
			o = &toOpen{cutoff: p.cutoff}
			p.w.toOpen[k] = o
		}
		o.n += sums[k].n
		o.latest = sums[k].latest
	}
}

// toOpen is a window an invocation counted occurrences into while it was
// closed: Close opens it and announces them.
type toOpen struct {
	n      int
	latest alert.Alert
	cutoff int64
}

// open opens k's window if it is still closed and still holds the
// invocation's o.n occurrences, and returns the announcement (nil Opened:
// another environment opened it first, and announced them or holds them
// in its window; or a flush announced them). As Observe would have it,
// the announcement is the first occurrence plus what was held before it
// (by other environments meanwhile, or in the previous window); the
// invocation's other occurrences stay held in the new window.
func (w *AlertWindows) open(ctx context.Context, k string, o *toOpen, now time.Time, window time.Duration) (alert.Alert, *Opened) {
	opened, held, first := expression.Name("opened"), expression.Name("held"), expression.Name("firstHeld")
	cond := expression.AttributeNotExists(opened).Or(opened.LessThanEqual(expression.Value(o.cutoff))).
		And(held.GreaterThanEqual(expression.Value(o.n)))
	gen := rand.Int64()
	upd := expression.Set(opened, expression.Value(ms(now))).
		Set(expression.Name("gen"), expression.Value(gen)).
		Set(held, expression.Value(o.n-1)).
		Set(expression.Name(AttrTTL), expression.Value(w.s.windowTTL(now, window)))
	if o.n > 1 {
		upd = upd.Set(first, expression.Value(ms(now)))
	} else {
		upd = upd.Remove(first)
	}
	var old winItem
	err := w.s.update(ctx, windowPK, k, upd, &cond, types.ReturnValueAllOld, &old)
	switch {
	case err == nil:
	case conditionFailed(err):
		return alert.Alert{}, nil
	default:
		// Still held in the window: the next opener or a flush announces.
		w.s.fellBack(ctx, "window open", k, err)
		return alert.Alert{}, nil
	}
	w.s.remember(k, openInfo{at: ms(now), own: true})
	// What is announced is carried: a failed announcement puts it back
	// (Reopen), beside the occurrences still held.
	announced := int(old.Held) - o.n + 1
	op := &Opened{Carried: announced, Since: fromMS(old.FirstHeld), openedAt: ms(now), gen: gen, carriedFirst: old.FirstHeld}
	a := o.latest
	a.Count, a.Since = announced, time.Time{}
	if announced > 1 {
		a.Since = op.Since // held before the first occurrence
	}
	return a, op
}

// A window's latest alert is stored deflated: the bench storm's alert is
// 1,424 bytes of JSON and a hard bounce's about 940, which put the window
// item over 1 KB, and DynamoDB bills an update (transactional or not) by
// the larger of the item's sizes before and after it, in 1 KB units: each
// storm count then cost 2 write units (4 in a transaction) even when it
// did not rewrite the body. Deflated they are about 630 and 530 bytes and
// the item stays under 1 KB (TestWindowItemSize measures it).
//
// The stored form is bodyDeflated followed by raw DEFLATE (RFC 1951) of
// the JSON (zlib's header and checksum would add 6 bytes guarding what
// DynamoDB stores intact). Bodies written before are plain JSON, which
// starts with '{'; both are read. An environment still running the
// version before reads a deflated body as unreadable and drops that
// window's count (logged): only during a deployment, for the windows it
// happens to summarise. Level: DefaultCompression makes these alerts 15
// to 25 bytes smaller than BestSpeed (629 against 654 for the storm's)
// for about 15 µs more per encoding (34 against 19 µs,
// BenchmarkEncodeBody), and a body is encoded about once per key and
// invocation.
const (
	bodyDeflated = 0x01
	bodyLevel    = flate.DefaultCompression
	// maxBodyJSON bounds what a stored body may inflate to: an alert is a
	// few KB, and garbage must not take the memory of a bomb.
	maxBodyJSON = 64 << 10
)

// deflaters reuse flate writers: each holds about 1 MB of tables, whose
// allocation costs far more than compressing an alert.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, bodyLevel) // the level is valid: no error
	return w
}}

// encodeBody is a's stored form as a window's latest.
func encodeBody(a alert.Alert) ([]byte, error) {
	js, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(js)/2+16))
	buf.WriteByte(bodyDeflated)
	fw := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(fw)
	fw.Reset(buf)
	if _, err := fw.Write(js); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeBody reads a window's latest in either stored form.
func decodeBody(b []byte) (alert.Alert, error) {
	var a alert.Alert
	if len(b) == 0 {
		return a, errors.New("state: window body is empty")
	}
	js := b
	switch b[0] {
	case '{': // plain JSON, as written before bodies were deflated
	case bodyDeflated:
		r := flate.NewReader(bytes.NewReader(b[1:]))
		defer r.Close()
		var err error
		js, err = io.ReadAll(io.LimitReader(r, maxBodyJSON+1))
		switch {
		case err != nil:
			return a, fmt.Errorf("state: window body (%d bytes) does not inflate: %w", len(b), err)
		case len(js) > maxBodyJSON:
			return a, fmt.Errorf("state: window body (%d bytes) inflates past %d bytes", len(b), maxBodyJSON)
		}
	default:
		return a, fmt.Errorf("state: window body (%d bytes) has unknown encoding 0x%02x", len(b), b[0])
	}
	if err := json.Unmarshal(js, &a); err != nil {
		return alert.Alert{}, fmt.Errorf("state: window body (%d bytes) is not an alert: %w", len(b), err)
	}
	return a, nil
}

// keyAlert is the alert a summary announces when its window's body cannot
// be read: what its key (alert.Alert.Key) says, checked by making the key
// again from it.
func keyAlert(k string) (alert.Alert, bool) {
	f := strings.SplitN(k, "\x00", 4)
	if len(f) != 4 {
		return alert.Alert{}, false
	}
	a := alert.Alert{Kind: alert.Kind(f[0]), Rule: f[1], Identity: f[2], Region: f[3], Level: alert.LevelWarning,
		Summary: "Held back in a storm window whose stored alert could not be read: only its count is known."}
	if a.Key() != k {
		return alert.Alert{}, false
	}
	a.Title = cmp.Or(a.Rule, string(a.Kind))
	if a.Identity != "" {
		a.Title += ": " + a.Identity
	}
	if a.Region != "" {
		a.Title += " (" + a.Region + ")"
	}
	return a, true
}
