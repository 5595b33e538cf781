package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/lambdaevent"
)

// CloudWatchAPI is the part of *cloudwatch.Client bouncewatch uses.
type CloudWatchAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// AccountAPI is the part of *sesv2.Client bouncewatch uses. kumo does not
// implement GetAccount; tests fake it here.
type AccountAPI interface {
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

// Source names this function in alerts.
const Source = "sesguard-bouncewatch"

// dedupCapacity bounds the keys remembered across invocations (about 2 MB).
const dedupCapacity = 1 << 16

// Deps are the Handler's collaborators. CloudWatch is required.
type Deps struct {
	CloudWatch CloudWatchAPI
	// Account is nil when GetAccount is not consulted.
	Account AccountAPI
	// Alerts is nil when alerts are only logged.
	Alerts alert.Sink
	// Levels keeps the announced levels; nil reads them back from the
	// AlertLevel metric (metricLevels).
	Levels LevelStore
	Log    *slog.Logger
	Now    func() time.Time

	// ConfigSets reads the watched configuration sets' sending flags and,
	// with Config.AutoPause on, pauses one (pause.go); nil: neither.
	ConfigSets ConfigSetAPI
	// Records keeps SES status changes and pauses once across
	// environments; nil keeps them in this environment's memory.
	Records RecordStore
	// Instance names this execution environment in pause records (e.g.
	// the Lambda log stream name).
	Instance string
	// State reports the operations of the shared state table behind
	// Levels, Records and Events answered from memory since it was last
	// asked (state.Store); each evaluation and each counted batch
	// publishes them as StateFallbacks, as triage does. nil: no state
	// table, nothing to report.
	State FallbackCounter
	// Events decides, across environments and redeliveries, which of a
	// batch's events this environment counts (state.EventClaims); nil:
	// this environment's memory alone decides (a duplicate delivered to
	// another environment is counted again there).
	Events EventClaimer
}

// FallbackCounter is the part of state.Store the evaluation reads.
type FallbackCounter interface{ Fallbacks() int }

// EventClaimer is the part of state.EventClaims counting uses: Claim
// claims a batch's event keys (state.EventKey) and says which this
// environment counts; Release gives the claims up when the counts were
// not published, so that the batch's retry counts them.
type EventClaimer interface {
	Claim(ctx context.Context, keys []string, now time.Time) *state.Claimed
	Release(ctx context.Context, c *state.Claimed)
}

// Handler handles bouncewatch invocations. Build it with New.
type Handler struct {
	cfg    Config
	cw     CloudWatchAPI
	ses    AccountAPI // nil: GetAccount is not consulted
	alerts alert.Sink // nil: alerts are only logged
	levels LevelStore // nil: metricLevels of each evaluation's read
	log    *slog.Logger
	now    func() time.Time
	seen   *dedup

	configSets ConfigSetAPI // nil: no configuration-set watch or pause
	records    RecordStore
	instance   string
	state      FallbackCounter // nil: no state table
	claims     EventClaimer    // nil: dedup in this environment's memory only
	// unpublished are fallbacks taken from state whose publish failed:
	// published with the next batch or evaluation.
	unpublished atomic.Int64
}

// New returns a Handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if d.CloudWatch == nil {
		return nil, errors.New("bouncewatch: Deps.CloudWatch is nil")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Records == nil {
		d.Records = NewMemoryRecords()
	}
	return &Handler{cfg: cfg, cw: d.CloudWatch, ses: d.Account, alerts: d.Alerts, levels: d.Levels, configSets: d.ConfigSets, records: d.Records, instance: d.Instance, state: d.State, claims: d.Events,
		log: d.Log, now: d.Now, seen: newDedup(dedupCapacity)}, nil
}

// ErrUnknownEvent is returned for an invocation that is neither an SQS
// event, an SNS event nor a scheduled event.
var ErrUnknownEvent = errors.New("bouncewatch: unrecognized invocation (want an SQS event, an SNS event or a scheduled event)")

// Handle is the Lambda entry point. It tells the three shapes apart: SQS
// and SNS events are counted, a scheduled event ({"source":"aws.events"},
// detail-type "Scheduled Event", or {"action":"evaluate"}) evaluates.
//
// The invocation is read as a stream: each record of "Records" is decoded,
// counted and dropped before the next, so a 10,000-record batch (6 MB)
// never exists as 10,000 decoded records at once.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	// Records are counted, and remembered for dedup, as they stream by;
	// lambdaevent.Scan finds a syntax error before the first one is.
	var (
		inv lambdaevent.Invocation
		b   *batch
	)
	for r, err := range lambdaevent.Scan(raw, &inv) {
		if r == nil {
			if b != nil {
				h.seen.rollback() // nothing of this batch was published
			}
			return nil, err
		}
		if b == nil {
			b = h.newBatch()
		}
		b.res.Records++
		if err != nil {
			h.poison(ctx, b.t, r.Index, r.MessageID, fmt.Errorf("decode record: %w", err))
			continue
		}
		if r.Index == 0 {
			b.firstSNS = r.SNS != nil
		}
		b.add(ctx, r)
	}
	switch {
	case b != nil && b.res.Records > 0:
		claimed := b.claim(ctx)
		res, err := b.publish(ctx)
		if err != nil {
			// Lambda retries the batch: its records must count then, in
			// whichever environment the retry lands. The claims are given
			// up (even past the invocation's deadline, briefly) and this
			// environment's memory forgets the batch.
			if claimed != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
				h.claims.Release(rctx, claimed)
				cancel()
			}
			h.seen.rollback()
			return nil, err
		}
		h.seen.commit()
		h.log.InfoContext(ctx, "counted batch", "records", res.Records, "counted", res.Counted, "duplicates", res.Duplicates,
			"ignored", res.Ignored, "poison", res.Poison, "putMetricDataCalls", res.Calls, "stateFallbacks", res.StateFallbacks)
		if b.firstSNS {
			return nil, nil
		}
		// Poison records are acknowledged, and a failed publish fails the
		// whole batch, so there are never partial failures to report.
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, nil
	case inv.Source == "aws.events" || inv.Source == "aws.scheduler" || inv.DetailType == "Scheduled Event" || inv.Action == "evaluate":
		rep, err := h.evaluate(ctx, h.evaluationTime(ctx, &inv))
		if err != nil {
			return nil, err
		}
		return rep, nil
	}
	return nil, ErrUnknownEvent
}

// BatchResult summarises one counted batch.
type BatchResult struct {
	Records    int // records in the batch
	Counted    int // recipient-events counted
	Duplicates int // recipient-events or SNS messages seen before
	Ignored    int // events that do not bear on the rates (Open, Click, ...)
	Poison     int // records that could not be decoded (acknowledged)
	Calls      int // PutMetricData calls made
	// StateFallbacks are the state table operations answered from memory
	// published with the batch (its claims', and any before them).
	StateFallbacks int
}

// batch counts the records of one invocation as they are decoded and
// publishes the counters with one PutMetricData call (more only past the
// API's limits): one datum per counter, scope and minute of the events'
// own times (countMinute). Undecodable records are logged, counted as PoisonRecords
// and skipped; an error is returned only when publishing fails, so the
// batch is retried.
type batch struct {
	h        *Handler
	t        *tally
	res      BatchResult
	firstSNS bool // the first record came from SNS directly: Lambda wants no response

	// Reused from record to record.
	env    lambdaevent.Envelope
	doc    []byte
	scopes []*Counts
}

func (h *Handler) newBatch() *batch {
	t := newTally(h.cfg.Region, h.now())
	t.claim = h.claims != nil
	return &batch{h: h, t: t}
}

// releaseTimeout bounds giving claims up after a failed publish (the
// invocation may be at its deadline).
const releaseTimeout = 3 * time.Second

// claim settles the batch's events that this environment's memory took
// for new: one claim of all their keys in the state table (one
// TransactWriteItems per 100 events), and only those this environment
// claimed are counted. Nil without a state table or nothing to claim.
//
// Which way counting errs when something fails: an operator would rather
// see an event counted twice than not at all. In a bounce storm the
// batches that are lost or doubled are richer in bounces than the window
// around them, so a lost batch lowers the bounce rate (a late warning)
// and a doubled one raises it (an early warning). Hence a batch whose
// counts are not published gives its claims back (Release) and its retry
// counts them, and a table that cannot answer is answered from memory
// (an event delivered to two environments meanwhile counts twice; the
// fallbacks are published as StateFallbacks). One window errs the other
// way: an environment killed (timeout, crash) between its claim and its
// publish leaves its claims behind, and the retry takes those events for
// duplicates (that batch goes uncounted); so does a retry landing in
// another environment before a failed release is made again. Closing it
// would take a second write per batch (claim pending, confirm once
// published): twice the table's calls, for a window one PutMetricData
// call long.
func (b *batch) claim(ctx context.Context) *state.Claimed {
	t := b.t
	if len(t.pending) == 0 {
		t.settle(nil, b.h.seen) // the messages without events to claim
		return nil
	}
	keys := make([]string, len(t.pending))
	for i, p := range t.pending {
		keys[i] = p.key
	}
	cl := b.h.claims.Claim(ctx, keys, b.h.now())
	t.settle(cl.Fresh, b.h.seen)
	return cl
}

// takeFallbacks returns the state fallbacks to publish now; keepFallbacks
// puts back those whose publish failed.
func (h *Handler) takeFallbacks() int {
	n := int(h.unpublished.Swap(0))
	if h.state != nil {
		n += h.state.Fallbacks()
	}
	return n
}

func (h *Handler) keepFallbacks(n int) { h.unpublished.Add(int64(n)) }

// add counts record r.
func (b *batch) add(ctx context.Context, r *lambdaevent.Record) {
	i := r.Index
	h, t := b.h, b.t
	var snsID, msg string
	switch {
	case r.SNS != nil:
		snsID, msg = r.SNS.MessageID, r.SNS.Message
	case r.Body != nil:
		b.env = lambdaevent.Envelope{}
		if err := json.Unmarshal(b.bytes(*r.Body), &b.env); err != nil {
			h.poison(ctx, t, i, r.MessageID, fmt.Errorf("decode SQS body: %w", err))
			return
		}
		if b.env.Message != nil {
			snsID, msg = b.env.MessageID, *b.env.Message
		} else {
			msg = *r.Body // raw message delivery: the body is the SES event
		}
	default:
		h.poison(ctx, t, i, r.MessageID, errors.New("neither an SQS body nor an SNS message"))
		return
	}
	var sns uint64
	if snsID != "" {
		sns = h.seen.hash("sns", snsID)
		if t.claim && h.seen.has(sns) || !t.claim && !h.seen.insert(sns) {
			t.duplicates++
			return
		}
	}
	from := len(t.pending)
	var err error
	if b.scopes, err = t.addRecord(b.bytes(msg), h.seen, b.scopes); err != nil {
		h.poison(ctx, t, i, r.MessageID, err)
		return
	}
	if t.claim && snsID != "" {
		t.msgs = append(t.msgs, pendingMsg{sns: sns, from: from, to: len(t.pending)})
	}
}

// bytes copies s into the batch's reused buffer (json.Unmarshal wants a
// []byte; converting would allocate a fresh copy per record).
func (b *batch) bytes(s string) []byte {
	b.doc = append(b.doc[:0], s...)
	return b.doc
}

// publish sends the batch's counters.
func (b *batch) publish(ctx context.Context) (BatchResult, error) {
	h, t, res := b.h, b.t, b.res
	res.Counted, res.Duplicates, res.Ignored, res.Poison = t.counted, t.duplicates, t.ignored, t.poison

	pub := metrics.NewPublisher(h.cw, h.cfg.Namespace)
	for _, s := range t.order {
		c := t.byScope[s]
		at := time.Unix(s.minute, 0).UTC()
		for k, v := range c {
			if v == 0 {
				continue
			}
			if err := pub.AddAt(counterMetric[k], float64(v), at, s.Type, s.Name); err != nil {
				return res, fmt.Errorf("count %s for %s: %w", counterMetric[k], s.Scope, err)
			}
		}
	}
	if t.poison > 0 {
		_ = pub.Add(metrics.PoisonRecords, float64(t.poison), metrics.FunctionBouncewatch)
	}
	// The environments counting events are not always the one the
	// schedule evaluates in: their fallbacks go out with their counts.
	if n := h.takeFallbacks(); n > 0 {
		res.StateFallbacks = n
		_ = pub.Add(metrics.StateFallbacks, float64(n), metrics.FunctionBouncewatch)
	}
	calls, err := pub.Flush(ctx)
	res.Calls = calls
	if err != nil {
		h.keepFallbacks(res.StateFallbacks)
	}
	return res, err
}

func (h *Handler) poison(ctx context.Context, t *tally, i int, id string, err error) {
	t.poison++
	h.log.WarnContext(ctx, "poison record acknowledged", "record", i, "messageId", id, "err", err)
}
