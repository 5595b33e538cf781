package bouncewatch

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// counter indexes Counts.
type counter int

const (
	cSends counter = iota
	cDeliveries
	cHardBounces
	cSoftBounces
	cSuppressedBounces
	cSimulator
	cComplaints
	cRejects
	numCounters
)

// counterMetric maps each counter to its metric.
var counterMetric = [numCounters]metrics.Name{
	metrics.Sends, metrics.Deliveries, metrics.HardBounces, metrics.SoftBounces,
	metrics.SuppressedBounces, metrics.SimulatorEvents, metrics.Complaints, metrics.Rejects,
}

// Counts holds one scope's counters.
type Counts [numCounters]int64

// Get returns the counter published as metric name (0 for other names).
func (c *Counts) Get(name metrics.Name) int64 {
	for i, n := range counterMetric {
		if n == name {
			return c[i]
		}
	}
	return 0
}

// Eligible is the bounce-rate denominator: sends minus those to addresses
// on the account-level suppression list (SES counts neither the send nor
// its bounce). Simulator recipients are never in Sends.
func (c *Counts) Eligible() int64 { return max(0, c[cSends]-c[cSuppressedBounces]) }

// simulatorDomain is the mailbox simulator; SES leaves its recipients out of
// every reputation metric, so we count them apart.
const simulatorDomain = "@simulator.amazonses.com"

func isSimulator(addr string) bool {
	a := strings.TrimSpace(addr)
	if i := strings.LastIndexByte(a, '>'); i >= 0 {
		a = a[:i]
	}
	return len(a) >= len(simulatorDomain) && strings.EqualFold(a[len(a)-len(simulatorDomain):], simulatorDomain)
}

// domainOf returns the lower-cased domain of an address such as
// "Name <user@Example.com>", or "".
func domainOf(addr string) string {
	a := strings.TrimSpace(addr)
	if i := strings.LastIndexByte(a, '<'); i >= 0 {
		a = strings.TrimSuffix(a[i+1:], ">")
	}
	i := strings.LastIndexByte(a, '@')
	if i < 0 || i == len(a)-1 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(a[i+1:]))
}

// tally counts events per scope and minute for one batch.
type tally struct {
	region  string
	byScope map[scopeMinute]*Counts
	order   []scopeMinute
	// received is when the batch arrived: the time of events whose own
	// time is missing or unusable (countMinute).
	received time.Time
	// claim: events new to this environment's memory are held in pending
	// until the state table says which of them this environment counts
	// (settle), rather than counted at once.
	claim   bool
	pending []pendingEvent
	msgs    []pendingMsg
	// stats
	counted, duplicates, ignored, poison int
}

// scopeMinute is one scope's counts in one minute (Unix seconds), which
// become one datum per counter: the events' own times, to the minute
// (countMinute).
type scopeMinute struct {
	Scope
	minute int64
}

// pendingEvent is one recipient-event awaiting its claim: its keys in
// the table (state.EventKey) and in memory, and what it adds to which
// scopes if counted here.
type pendingEvent struct {
	key    string
	mem    uint64
	c      counter
	n      int // scopes used
	scopes [3]*Counts
}

// pendingMsg is an SNS message whose events are pending[from:to].
type pendingMsg struct {
	sns      uint64 // its key in memory
	from, to int
}

// count adds one event of counter c to scopes.
func (t *tally) count(c counter, scopes []*Counts) {
	for _, s := range scopes {
		s[c]++
	}
	t.counted++
}

// settle counts the pending events fresh says this environment claimed
// and remembers them (and the SNS messages all of whose events it
// claimed); the others were counted elsewhere (duplicates) and are not
// remembered here. Memory must hold only what this environment counted:
// a claim another environment holds now is released if that
// environment's publish fails, and the retry, landing here, must find
// the events new.
func (t *tally) settle(fresh []bool, seen *dedup) {
	for i, p := range t.pending {
		if fresh[i] {
			t.count(p.c, p.scopes[:p.n])
			seen.insert(p.mem)
		} else {
			t.duplicates++
		}
	}
	for _, m := range t.msgs {
		if !slices.Contains(fresh[m.from:m.to], false) {
			seen.insert(m.sns)
		}
	}
	t.pending, t.msgs = nil, nil
}

func newTally(region string, received time.Time) *tally {
	return &tally{region: region, byScope: map[scopeMinute]*Counts{}, received: received}
}

func (t *tally) scope(s Scope, minute int64) *Counts {
	k := scopeMinute{s, minute}
	c := t.byScope[k]
	if c == nil {
		c = new(Counts)
		t.byScope[k] = c
		t.order = append(t.order, k)
	}
	return c
}

// The tags SES adds to every event's mail object that name its scopes.
const (
	tagConfigurationSet = "ses:configuration-set"
	tagFromDomain       = "ses:from-domain"
)

// scopes returns the counters an event of the given minute adds to: the
// account, its configuration set and its sending domain (when known and
// usable as a dimension value).
func (t *tally) scopes(m *ruleset.SESMail, minute int64, buf []*Counts) []*Counts {
	buf = append(buf[:0], t.scope(Scope{metrics.ScopeAccount, t.region}, minute))
	if cs := m.Tags[tagConfigurationSet]; len(cs) > 0 && metrics.ValidateDimension(metrics.DimScope, cs[0]) == nil {
		buf = append(buf, t.scope(Scope{metrics.ScopeConfigurationSet, cs[0]}, minute))
	}
	d := ""
	if fd := m.Tags[tagFromDomain]; len(fd) > 0 {
		d = strings.ToLower(fd[0])
	} else {
		d = domainOf(m.Source)
	}
	if d != "" && metrics.ValidateDimension(metrics.DimScope, d) == nil {
		buf = append(buf, t.scope(Scope{metrics.ScopeDomain, d}, minute))
	}
	return buf
}

// dedup remembers recently counted keys, across invocations of a warm
// container, up to a fixed number (oldest forgotten first). Keys are 64-bit
// hashes, so no address is kept.
type dedup struct {
	seed maphash.Seed
	set  map[uint64]struct{}
	ring []uint64
	next int
	// capacity is how many keys are remembered. The set and ring grow to
	// it as keys come rather than being allocated up front: a fresh
	// environment would otherwise fault in a megabyte at cold start.
	capacity int
	// journal records what the batch in progress did to the ring, so a
	// batch whose counts could not be published can be undone exactly
	// (its keys forgotten, the keys it evicted remembered again, the ring
	// as it was) and counted again when Lambda retries it.
	journal []dedupOp
}

// dedupOp is one key added: at ring slot, appended or replacing evicted.
type dedupOp struct {
	key, evicted uint64
	slot         int
	replaced     bool
}

// commit ends the batch in progress: its keys stay remembered.
func (d *dedup) commit() { d.journal = d.journal[:0] }

// rollback undoes the batch in progress, newest key first, so the ring,
// its next slot and the set are as they were when the batch began.
func (d *dedup) rollback() {
	for i := len(d.journal) - 1; i >= 0; i-- {
		op := d.journal[i]
		delete(d.set, op.key)
		if op.replaced {
			d.ring[op.slot] = op.evicted
			d.set[op.evicted] = struct{}{}
			d.next = op.slot
		} else {
			d.ring = d.ring[:op.slot]
		}
	}
	d.journal = d.journal[:0]
}

func newDedup(capacity int) *dedup {
	return &dedup{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}, capacity: capacity}
}

// first records key and reports whether it was new.
func (d *dedup) first(parts ...string) bool { return d.insert(d.hash(parts...)) }

// hash is the key of parts.
func (d *dedup) hash(parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	for _, p := range parts {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// has reports whether key k is remembered, without recording it.
func (d *dedup) has(k uint64) bool {
	_, ok := d.set[k]
	return ok
}

// insert records key k and reports whether it was new.
func (d *dedup) insert(k uint64) bool {
	if _, ok := d.set[k]; ok {
		return false
	}
	op := dedupOp{key: k, slot: len(d.ring)}
	if len(d.ring) < d.capacity {
		d.ring = append(d.ring, k)
	} else {
		op.slot, op.evicted, op.replaced = d.next, d.ring[d.next], true
		delete(d.set, op.evicted)
		d.ring[d.next] = k
		d.next = (d.next + 1) % len(d.ring)
	}
	d.set[k] = struct{}{}
	d.journal = append(d.journal, op)
	return true
}

// bounceCounter is the one place that decides which bounces count toward
// the bounce rate: Permanent ones, except OnAccountSuppressionList (SES
// did not send). Transient and Undetermined bounces do not count; they are
// soft. RateRules must agree (a test classifies each kind with the rule set).
func bounceCounter(bounceType, subType string) counter {
	switch {
	case bounceType != "Permanent":
		return cSoftBounces
	case subType == "OnAccountSuppressionList":
		return cSuppressedBounces
	}
	return cHardBounces
}

// addRecord counts one SES JSON document, read into pkg/ruleset's SES
// event model (the one set of SES event types). It returns an error only when
// the document is not an SES event (poison).
func (t *tally) addRecord(body []byte, seen *dedup, buf []*Counts) ([]*Counts, error) {
	var e ruleset.SESEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return buf, fmt.Errorf("decode SES event: %w", err)
	}
	kind := e.Type()
	if kind == "" {
		return buf, fmt.Errorf("decode SES event: neither eventType nor notificationType is set")
	}
	mail := e.Mail
	if mail == nil {
		mail = &ruleset.SESMail{}
	}
	id := mail.MessageID
	minute := countMinute(&e, t.received).Unix()
	add := func(c counter, rcpt string) {
		var mem uint64
		if id != "" {
			// With claims, memory is only read here: what this
			// environment counts is recorded once claimed (settle).
			mem = seen.hash(id, rcpt, kind)
			if t.claim && seen.has(mem) || !t.claim && !seen.insert(mem) {
				t.duplicates++
				return
			}
		}
		if isSimulator(rcpt) {
			c = cSimulator
		}
		buf = t.scopes(mail, minute, buf)
		if t.claim && id != "" {
			p := pendingEvent{key: state.EventKey(id, rcpt, kind), mem: mem, c: c}
			p.n = copy(p.scopes[:], buf)
			t.pending = append(t.pending, p)
			return
		}
		t.count(c, buf)
	}
	switch kind {
	case ruleset.EventSend:
		for _, r := range mail.Destination {
			add(cSends, r)
		}
	case ruleset.EventDelivery:
		if e.Delivery != nil {
			for _, r := range e.Delivery.Recipients {
				add(cDeliveries, r)
			}
		}
	case ruleset.EventBounce:
		if e.Bounce == nil {
			return buf, fmt.Errorf("decode SES event: Bounce without a bounce object")
		}
		c := bounceCounter(e.Bounce.BounceType, e.Bounce.BounceSubType)
		for _, r := range e.Bounce.BouncedRecipients {
			add(c, r.EmailAddress)
		}
	case ruleset.EventComplaint:
		if e.Complaint == nil {
			return buf, fmt.Errorf("decode SES event: Complaint without a complaint object")
		}
		// OnAccountSuppressionList: SES did not send, so nobody complained.
		if e.Complaint.ComplaintSubType == "OnAccountSuppressionList" {
			t.ignored++
			return buf, nil
		}
		for _, r := range e.Complaint.ComplainedRecipients {
			add(cComplaints, r.EmailAddress)
		}
	case ruleset.EventReject:
		add(cRejects, "")
	default: // Open, Click, DeliveryDelay, Rendering Failure, Subscription
		t.ignored++
	}
	return buf, nil
}
