// Package triage is the triage Lambda: it takes SES send failures delivered
// by SNS or SQS (SES events, the application's failure envelopes, plain
// error text), gathers the account facts that explain them, classifies them
// with pkg/ruleset, acts on hard bounces and complaints (account-level
// suppression), alerts on what needs a person, and counts every failure in
// CloudWatch.
//
// Every record is independent. A record that cannot be decoded is poison:
// it is logged with the reason, counted as PoisonRecords and acknowledged,
// never retried. Only temporary failures (alert.Temporary: SNS Publish,
// PutMetricData or PutSuppressedDestination still throttled, failing on
// the server side or unanswered after the SDK's retries) fail a record: an SQS record is then reported in the batch response's
// BatchItemFailures, an SNS invocation returns an error so Lambda retries
// it. Account facts never fail a record; a look-up that fails leaves the
// fact unknown.
//
// What is remembered across invocations: the facts cache (facts.Gatherer),
// the alert storm windows (alert.WindowStore, behind alert.Aggregator),
// the addresses already suppressed (SuppressionMemory) and which records
// were acted on (RecordClaims). With the state table (STATE_TABLE,
// package internal/state) the facts, the windows and the records are
// shared by every execution environment; without it each environment
// keeps its own. With the table an invocation costs two calls to it: its
// records are claimed together, with the storm counts of their alerts,
// before anything is acted on, and finished together after the metrics
// are published (see process).
package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/lambdaevent"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Source names this function in alerts.
const Source = "sesguard-triage"

// unknownRegion is the Region dimension of a failure whose Region nobody
// knows (CloudWatch refuses empty dimension values).
const unknownRegion = "unknown"

// FactsSource gathers account facts; *facts.Gatherer satisfies it.
type FactsSource interface {
	GatherRegions(ctx context.Context, sendingRegion string, regions, identities []string) *ruleset.Facts
}

// Suppressor is the part of *sesv2.Client that suppression uses. kumo
// (v0.33.1) has no PutSuppressedDestination; tests fake it here.
type Suppressor interface {
	PutSuppressedDestination(ctx context.Context, in *sesv2.PutSuppressedDestinationInput, opts ...func(*sesv2.Options)) (*sesv2.PutSuppressedDestinationOutput, error)
}

// AlertSink delivers alerts and announces what it held back: Flush, at
// the end of every invocation and on ActionFlush, the counts whose window
// has closed; FlushAll, on ActionFlushAll, every count held, returning how
// many summaries it sent. *alert.Aggregator satisfies it.
type AlertSink interface {
	Send(ctx context.Context, a alert.Alert) error
	Flush(ctx context.Context) error
	FlushAll(ctx context.Context) (int, error)
}

// MetricsPublisher collects datums and sends them once per invocation;
// *metrics.Publisher satisfies it.
type MetricsPublisher interface {
	Add(name metrics.Name, value float64, dims ...string) error
	Flush(ctx context.Context) (calls int, err error)
}

// Deps are the Handler's collaborators. Rules and Metrics are required.
type Deps struct {
	Rules *ruleset.Set
	// Facts is nil when no look-ups are wanted: every diagnosis is then
	// made without facts.
	Facts FactsSource
	// Suppressors returns the SES client for a Region (suppression lists
	// are per Region); nil means never suppress.
	Suppressors func(region string) Suppressor
	// Suppressed remembers the recipients already suppressed; nil is
	// NewMemorySuppressions.
	Suppressed SuppressionMemory
	// Sinks are where alerts go; New puts them behind a storm aggregator
	// (Config.AlertWindow, its windows kept in Windows). None means alerts
	// are only logged.
	Sinks alert.Fanout
	// Windows keeps the aggregator's storm windows; nil is an
	// alert.MemoryWindows.
	Windows alert.WindowStore
	// Alerts, when set, is used as is instead of Sinks behind an
	// aggregator (tests that must see every alert).
	Alerts  AlertSink
	Metrics MetricsPublisher
	// Records decides across execution environments that a record is
	// acted on once (SNS and SQS deliver at least once, sometimes to
	// another environment); nil: no such check (one environment's
	// duplicates are still collapsed by the windows and suppression
	// memory). *state.Store satisfies it.
	Records RecordClaims
	// Region is the function's own Region, assumed for failures that name
	// none (SNS and SQS records usually carry one).
	Region string
	Log    *slog.Logger
	Now    func() time.Time
}

// RecordClaims is the idempotency part of *state.Store: claim an
// invocation's records together, act, then finish them together (done, or
// failed with the steps completed, so the retry skips them). with (may be
// nil) are writes committed with the claims: the storm counts of the
// records' alerts (WindowPrecounter). Fallbacks says how many operations
// the table could not answer.
type RecordClaims interface {
	ClaimBatch(ctx context.Context, keys []string, now time.Time, hold time.Duration, with state.BatchWrites) []state.Claim
	FinishAll(ctx context.Context, fs []state.Finish, now time.Time)
	Fallbacks() int
}

// WindowPrecounter is a storm window store (Deps.Windows) that counts an
// invocation's held-back alerts with its record claims, one write per
// alert key instead of one per record after acting; *state.AlertWindows
// satisfies it. The alerts it counted are not offered to the aggregator.
type WindowPrecounter interface {
	Precount(alerts [][]alert.Alert, now time.Time, window time.Duration) *state.Precount
}

// RecordHold is how long a claim on a record holds before another
// environment may take it over: past the function's timeout (30 s), its
// holder has died.
const RecordHold = time.Minute

// Steps of a record an attempt completed, remembered by a failed claim.
const (
	stepCounted    = "counted"    // its Failures datums were published
	stepAlerted    = "alerted"    // its alerts were announced or held back
	stepSuppressed = "suppressed" // its suppressions were made (or not needed)
)

// errInProgress fails a record another environment is processing now: it
// comes back, and is then done or retaken.
var errInProgress = errors.New("record in progress in another execution environment")

// Handler handles triage invocations. Build it with New; it is safe for
// concurrent use.
type Handler struct {
	cfg Config
	d   Deps
	// pre counts held-back alerts with the record claims: set when the
	// alerts go through an aggregator over a WindowPrecounter.
	pre WindowPrecounter
}

// New returns a Handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if d.Rules == nil {
		return nil, errors.New("triage: Deps.Rules is nil")
	}
	if d.Metrics == nil {
		return nil, errors.New("triage: Deps.Metrics is nil")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.SuppressMode == "" {
		cfg.SuppressMode = DefaultSuppressMode
	}
	var pre WindowPrecounter
	if next := d.Sinks.Sink(); next != nil && d.Alerts == nil {
		d.Alerts = alert.NewAggregator(next, alert.AggregatorOptions{Window: cfg.AlertWindow, Now: d.Now, Store: d.Windows})
		pre, _ = d.Windows.(WindowPrecounter)
	}
	if cfg.AlertWindow <= 0 {
		cfg.AlertWindow = alert.DefaultWindow // the aggregator's default
	}
	if d.Suppressed == nil {
		d.Suppressed = NewMemorySuppressions()
	}
	return &Handler{cfg: cfg, d: d, pre: pre}, nil
}

// Result summarises one invocation (logged; tests read it).
type Result struct {
	Records     int // records in the invocation
	Diagnoses   int // diagnoses made (one per failing identity or recipient)
	Poison      int // undecodable inputs, acknowledged
	Failed      int // records failed for a transient error
	Suppressed  int // PutSuppressedDestination calls that succeeded
	Alerts      int // alerts offered to the sink (before aggregation)
	MetricCalls int // PutMetricData calls made
	// Failures are the SQS message IDs to report as batch item failures.
	Failures []string
}

// record is one independent input of an invocation.
type record struct {
	index int
	// key identifies the delivered message across redeliveries and
	// environments: the SNS MessageId (SNS record, or SQS body that is an
	// SNS envelope), else the SQS messageId.
	key    string
	id     string // SQS messageId (batch item failures), SNS MessageId
	source string // for logs and Diagnosis.Source
	data   []byte // what ruleset.Decode reads
}

// Handle is the Lambda entry point. An SQS event gets an
// events.SQSEventResponse naming the records that failed transiently; an
// SNS event (or any other payload, handled as one direct input) gets an
// error only for a transient failure, so Lambda retries it. Poison never
// produces an error.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if act, ok := actionOf(raw); ok {
		return h.runAction(ctx, act)
	}
	recs, isSQS := splitRecords(raw)
	res, err := h.process(ctx, recs, !isSQS)
	h.d.Log.InfoContext(ctx, "triage done", "records", res.Records, "diagnoses", res.Diagnoses, "poison", res.Poison,
		"failed", res.Failed, "suppressed", res.Suppressed, "alerts", res.Alerts, "putMetricDataCalls", res.MetricCalls)
	if isSQS {
		if err != nil {
			// The batch response carries only message IDs: without this
			// line nobody learns why the records come back.
			h.d.Log.WarnContext(ctx, "records failed transiently; reported for retry", "err", facts.MaskAddresses(err.Error()))
		}
		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		for _, id := range res.Failures {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return resp, nil
	}
	if err != nil {
		// Lambda logs the returned error's text as the invocation's
		// errorMessage.
		return nil, maskedError{err}
	}
	return nil, nil
}

// Actions triage takes as a whole invocation, from a schedule or an
// operator, instead of failures to classify.
const (
	// ActionFlush announces the storm counts whose window has closed (a
	// schedule's Input, so that counts are not held until the next failure
	// happens to arrive).
	ActionFlush = "flush"
	// ActionFlushAll announces every held-back count now, open windows
	// included (before a deploy recycles the environment; the local stack
	// at the end of a replay).
	ActionFlushAll = "flush-all"
)

// ActionResult is the response to an action.
type ActionResult struct {
	Action string `json:"action"`
	// Announced is the number of summaries FlushAll sent (flush-all only).
	Announced int `json:"announced"`
}

// actionOf recognises {"action":"flush"} and {"action":"flush-all"}; any
// other payload is input to classify (an unknown action among it).
func actionOf(raw json.RawMessage) (string, bool) {
	if !bytes.Contains(raw, []byte(`"action"`)) {
		return "", false
	}
	var p struct {
		Action  string          `json:"action"`
		Records json.RawMessage `json:"Records"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Records != nil {
		return "", false
	}
	return p.Action, p.Action == ActionFlush || p.Action == ActionFlushAll
}

func (h *Handler) runAction(ctx context.Context, act string) (ActionResult, error) {
	res := ActionResult{Action: act}
	if h.d.Alerts == nil {
		return res, nil
	}
	var err error
	if act == ActionFlushAll {
		res.Announced, err = h.d.Alerts.FlushAll(ctx)
	} else {
		err = h.d.Alerts.Flush(ctx)
	}
	h.d.Log.InfoContext(ctx, "alerts flushed", "action", act, "announced", res.Announced)
	if err != nil {
		// Reported as the invocation's error (Lambda's Errors metric). The
		// aggregator has already forgotten what it tried to send, so a retry
		// finds nothing: the metrics remain the complete record.
		return res, fmt.Errorf("%s: %w", act, err)
	}
	return res, nil
}

// maskedError is err with the addresses in its text masked; errors.Is and
// errors.As still see err.
type maskedError struct{ err error }

func (e maskedError) Error() string { return facts.MaskAddresses(e.err.Error()) }
func (e maskedError) Unwrap() error { return e.err }

// splitRecords turns an invocation into independent records, each wrapped
// as a one-record event so that ruleset.Decode still sees the envelope
// (the topic ARN and awsRegion tell it the Region). Anything that is not
// an SQS or SNS event with records is one direct input.
func splitRecords(raw json.RawMessage) (recs []record, isSQS bool) {
	var inv lambdaevent.Invocation
	for r := range lambdaevent.Scan(raw, &inv) {
		if r == nil {
			// Not a Lambda batch; or a top-level field after the records
			// (none that triage reads) is malformed.
			if len(recs) > 0 {
				break
			}
			return []record{{source: "invocation", data: raw}}, false
		}
		// A record of the wrong shape keeps what was read of it (its
		// error is not read here: Decode finds it poison).
		rec := record{index: r.Index, data: wrapRecord(r.Raw)}
		switch {
		case strings.EqualFold(r.EventSource, "aws:sqs") || r.Body != nil:
			isSQS = true
			rec.id, rec.source = r.MessageID, "sqs:"+r.MessageID
			rec.key = "sqs:" + r.MessageID
			if r.Body != nil {
				// An SNS envelope: SNS's own duplicates are new SQS
				// messages carrying the same SNS MessageId.
				var env struct{ Type, MessageId string }
				if json.Unmarshal([]byte(*r.Body), &env) == nil && env.Type == "Notification" && env.MessageId != "" {
					rec.key = "sns:" + env.MessageId
				}
			}
		case r.SNS != nil:
			rec.id, rec.source = r.SNS.MessageID, "sns:"+r.SNS.MessageID
			rec.key = "sns:" + r.SNS.MessageID
		default:
			rec.source = fmt.Sprintf("record %d", r.Index)
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return []record{{source: "invocation", data: raw}}, false
	}
	return recs, isSQS
}

func wrapRecord(r json.RawMessage) []byte {
	b := make([]byte, 0, len(r)+14)
	b = append(b, `{"Records":[`...)
	b = append(b, r...)
	return append(b, "]}"...)
}

// process handles records in three steps: prepare them (decode, gather
// facts, classify; concurrently, at most Config.Concurrency at a time),
// claim them together (RecordClaims, with the storm counts of their
// alerts), then act on the ones claimed (suppress, alert; concurrently).
// It then flushes the alert aggregator, publishes the metrics with one
// PutMetricData call and finishes the claims. The error joins the
// transient failures.
//
// retryAll says a failure brings the whole invocation back (SNS, direct
// invocation) rather than the failed records alone (SQS with batch item
// failures). What is counted and what is retried is settle's decision.
func (h *Handler) process(ctx context.Context, recs []record, retryAll bool) (Result, error) {
	preps := make([]prepared, len(recs))
	h.each(len(recs), func(i int) { preps[i] = h.prepare(ctx, &recs[i]) })
	claims, precounted := h.claim(ctx, recs, preps)
	outs := make([]recordOutcome, len(recs))
	h.each(len(recs), func(i int) {
		var c state.Claim // no claim: act
		if claims[i] != nil {
			c = *claims[i]
		}
		switch c.Outcome {
		case state.AlreadyDone:
			h.d.Log.InfoContext(ctx, "duplicate delivery skipped", "record", i, "source", recs[i].source)
			return
		case state.InProgress:
			outs[i] = recordOutcome{err: errInProgress}
			return
		}
		outs[i] = h.act(ctx, &recs[i], &preps[i], c.Has(stepAlerted), c.Has(stepSuppressed), func(a alert.Alert) bool { return precounted(i, a) })
		if c.Has(stepCounted) {
			outs[i].counts, outs[i].poison = nil, 0 // published by the earlier attempt
		}
	})

	var errs []error
	for i, o := range outs {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("record %d (%s): %w", i, recs[i].source, o.err))
		}
	}
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].id
	}
	res, counted := settle(ids, outs, retryAll, false)
	poison := 0
	for i, o := range outs {
		if !counted[i] {
			continue
		}
		poison += o.poison
		for _, c := range o.counts {
			if err := h.d.Metrics.Add(metrics.Failures, 1, c.rule, c.region); err != nil {
				// A malformed dimension (an operator's rule ID with
				// '@'?) must not cost the other counts: log and go on.
				h.d.Log.ErrorContext(ctx, "count failure", "rule", c.rule, "err", err)
			}
		}
	}
	if poison > 0 {
		if err := h.d.Metrics.Add(metrics.PoisonRecords, float64(poison), metrics.FunctionTriage); err != nil {
			h.d.Log.ErrorContext(ctx, "count poison records", "err", err)
		}
	}
	if h.d.Alerts != nil {
		if err := h.d.Alerts.Flush(ctx); err != nil {
			// What it announces is held in the windows (this batch's
			// occurrences among it, counted with the claims): an
			// announcement that reached no sink goes back to its window
			// for a later flush or occurrence; failing this batch would
			// not bring it back sooner.
			h.d.Log.WarnContext(ctx, "alert flush failed", "err", err)
		}
	}
	if h.d.Records != nil {
		if n := h.d.Records.Fallbacks(); n > 0 {
			if err := h.d.Metrics.Add(metrics.StateFallbacks, float64(n), metrics.FunctionTriage); err != nil {
				h.d.Log.ErrorContext(ctx, "count state fallbacks", "err", err)
			}
		}
	}
	// Publishing the counts and finishing the claims are calls to two
	// services that do not wait for each other: one round trip, not two.
	// A record marked done whose counts are then lost is finished again,
	// as failed with the steps it completed, so that the retry its batch
	// item failure brings retakes it and counts it. A duplicate delivery
	// that saw it done in between is skipped; the retry still counts it.
	// Both calls end FinishReserve before the invocation's deadline, so a
	// call that hangs fails in time for that. What this gives up: a
	// process killed outright between the two calls' answers (not timed
	// out: out of memory) can leave a batch done and uncounted, where
	// finishing after publishing would have counted it twice on retry.
	pctx, cancel := reserve(ctx, FinishReserve)
	defer cancel()
	finished := make(chan []state.Finish, 1)
	go func() {
		fs := h.finishes(recs, outs, claims, counted, retryAll, false)
		h.finishClaims(pctx, fs)
		finished <- fs
	}()
	calls, err := h.d.Metrics.Flush(pctx)
	done := <-finished
	if err != nil {
		errs = append(errs, fmt.Errorf("publish metrics: %w", err))
		res, _ = settle(ids, outs, retryAll, true)
		h.finishClaims(ctx, retaken(done, h.finishes(recs, outs, claims, counted, retryAll, true)))
	}
	res.MetricCalls = calls
	return res, errors.Join(errs...)
}

// FinishReserve is the part of an invocation's remaining time that
// publishing the counts and finishing the claims leave for taking the
// claims back (as failed) when the counts are lost.
const FinishReserve = time.Second

// reserve returns ctx ending d before ctx's deadline; ctx itself when that
// leaves less than d (there is no better use of the time).
func reserve(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*d {
		return context.WithDeadline(ctx, dl.Add(-d))
	}
	return ctx, func() {}
}

// each runs f(i) for every i in [0,n), at most Config.Concurrency at a
// time, and waits.
func (h *Handler) each(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, h.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// claim claims the records that have a key (claims[i] nil: no claim, the
// record is acted on), with the storm counts of the alerts the claimed
// records will offer when the windows support it. precounted(i, a) says
// record i's alert a was counted so.
func (h *Handler) claim(ctx context.Context, recs []record, preps []prepared) (claims []*state.Claim, precounted func(i int, a alert.Alert) bool) {
	claims = make([]*state.Claim, len(recs))
	precounted = func(int, alert.Alert) bool { return false }
	if h.d.Records == nil {
		return claims, precounted
	}
	var keys []string
	var idx []int
	for i := range recs {
		if recs[i].key != "" {
			keys = append(keys, recs[i].key)
			idx = append(idx, i)
		}
	}
	if len(keys) == 0 {
		return claims, precounted
	}
	now := h.d.Now()
	var with state.BatchWrites
	var pc *state.Precount
	if h.pre != nil {
		alerts := make([][]alert.Alert, len(keys))
		for j, i := range idx {
			alerts[j] = preps[i].alerts(now)
		}
		pc = h.pre.Precount(alerts, now, h.cfg.AlertWindow)
		with = pc
	}
	got := h.d.Records.ClaimBatch(ctx, keys, now, RecordHold, with)
	pos := make([]int, len(recs)) // record i's position in keys
	for j, i := range idx {
		claims[i] = &got[j]
		pos[i] = j
	}
	if pc != nil {
		precounted = func(i int, a alert.Alert) bool { return claims[i] != nil && pc.Counted(pos[i], a) }
	}
	return claims, precounted
}

// finishes says how each claim taken on recs ends, following settle's
// decisions: done for a record that will not come back, failed (with the
// steps it completed) for one that will.
func (h *Handler) finishes(recs []record, outs []recordOutcome, claims []*state.Claim, counted []bool, retryAll, metricsLost bool) []state.Finish {
	if h.d.Records == nil {
		return nil
	}
	anyFailed := false
	for _, o := range outs {
		anyFailed = anyFailed || o.err != nil
	}
	var fs []state.Finish
	for i, o := range outs {
		c := claims[i]
		if c == nil || c.Outcome != state.Acquired {
			continue
		}
		back := o.err != nil || (retryAll && anyFailed) || (metricsLost && o.diagnoses > 0)
		if !back {
			fs = append(fs, state.Finish{Key: recs[i].key})
			continue
		}
		flags := slices.Clone(c.Flags)
		add := func(f string) {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
		if counted[i] && !metricsLost {
			add(stepCounted)
		}
		if o.alertsDone {
			add(stepAlerted)
		}
		if o.suppressDone {
			add(stepSuppressed)
		}
		fs = append(fs, state.Finish{Key: recs[i].key, Failed: true, Flags: flags})
	}
	return fs
}

// finishClaims records fs with one call (FinishAll).
func (h *Handler) finishClaims(ctx context.Context, fs []state.Finish) {
	if h.d.Records != nil {
		h.d.Records.FinishAll(ctx, fs, h.d.Now())
	}
}

// retaken returns the finishes of after that fail a record done in
// before: what changes when the counts turn out lost.
func retaken(before, after []state.Finish) []state.Finish {
	wasDone := make(map[string]bool, len(before))
	for _, f := range before {
		wasDone[f.Key] = !f.Failed
	}
	var out []state.Finish
	for _, f := range after {
		if f.Failed && wasDone[f.Key] {
			out = append(out, f)
		}
	}
	return out
}

// settle is process's bookkeeping, without side effects. From each
// record's outcome (ids[i] is record i's SQS message ID, "" if none) it
// sums the Result and says which records' counts (Failures, poison) are
// published now (counted[i]). metricsLost says the PutMetricData carrying
// them failed.
//
//   - A record that failed transiently is not counted: it comes back and is
//     counted then.
//   - With retryAll (SNS, direct invocation: a failure brings the whole
//     invocation back) nothing is counted when any record failed.
//   - When the metrics are lost, every record that made a diagnosis is
//     failed too, so it comes back and its counts with it (its alerts and
//     suppression are idempotent across the retry); poison-only records
//     are not retried for their count.
//
// Result.Failed counts the failed records, Result.Failures lists their
// IDs (records without one are left out).
func settle(ids []string, outs []recordOutcome, retryAll, metricsLost bool) (res Result, counted []bool) {
	res.Records = len(outs)
	failed := make([]bool, len(outs))
	anyFailed := false
	for i, o := range outs {
		res.Diagnoses += o.diagnoses
		res.Poison += o.poison
		res.Suppressed += o.suppressed
		res.Alerts += o.alerts
		failed[i] = o.err != nil
		anyFailed = anyFailed || failed[i]
	}
	counted = make([]bool, len(outs))
	for i := range outs {
		counted[i] = !failed[i] && !(retryAll && anyFailed)
	}
	for i, o := range outs {
		if metricsLost && o.diagnoses > 0 {
			failed[i] = true
		}
		if failed[i] {
			res.Failed++
			if ids[i] != "" {
				res.Failures = append(res.Failures, ids[i])
			}
		}
	}
	return res, counted
}

type recordOutcome struct {
	diagnoses, poison, suppressed, alerts int
	// alertsDone says every alert of the record was announced or held
	// back (a retry must not offer them again); suppressDone, that every
	// suppression was made or needed none.
	alertsDone, suppressDone bool
	// counts are the record's Failures datums, added by process once it
	// knows the record will not come back.
	counts []countKey
	err    error // transient
}

// countKey is the dimensions of one Failures datum.
type countKey struct{ rule, region string }

// prepared is a record decoded and classified, before any action.
type prepared struct {
	inputs []preparedInput
}

// preparedInput is one input of a record (an SNS event may carry several).
type preparedInput struct {
	d      ruleset.Decoded
	region string
	fx     *ruleset.Facts
	diags  []ruleset.Diagnosis
	// alerts[j] is diags[j]'s alert (toAlert), made once for the claim's
	// storm counts and for act; raises[j] false: it raises none.
	alerts []alert.Alert
	raises []bool
}

// prepare decodes a record, gathers the facts its failures need and
// classifies them: everything but acting, so that the record's alerts are
// known when it is claimed. Logging waits for act: a duplicate delivery is
// not logged twice.
func (h *Handler) prepare(ctx context.Context, r *record) (p prepared) {
	for _, d := range ruleset.Decode(r.data, r.source) {
		in := preparedInput{d: d}
		if d.Err == nil && d.Failure.Kind != ruleset.KindNotFailure {
			f := d.Failure
			in.region = f.Region
			if in.region == "" {
				in.region = ruleset.NormaliseRegion(h.d.Region)
			}
			in.fx = h.gather(ctx, in.region, f)
			// Facts whose every look-up failed are no facts: ranking with
			// them would mark the diagnosis (and its alert and log line) as
			// made from gathered facts.
			known := in.fx
			if !facts.AnyKnown(in.fx) {
				known = nil
			}
			in.diags = h.d.Rules.ClassifyDecoded(d, known)
			in.alerts, in.raises = make([]alert.Alert, len(in.diags)), make([]bool, len(in.diags))
			for j, dg := range in.diags {
				in.alerts[j], in.raises[j] = toAlert(dg, in.region)
			}
		}
		p.inputs = append(p.inputs, in)
	}
	return p
}

// alerts returns the alerts the record's diagnoses raise, as act offers
// them at now.
func (p *prepared) alerts(now time.Time) []alert.Alert {
	var out []alert.Alert
	for _, in := range p.inputs {
		for j, a := range in.alerts {
			if in.raises[j] {
				a.Time = now
				out = append(out, a)
			}
		}
	}
	return out
}

// act suppresses and alerts for a prepared record, skipping the steps an
// earlier attempt completed (alerted, suppressed) and the alerts counted
// with the record's claim (precounted).
func (h *Handler) act(ctx context.Context, r *record, p *prepared, alerted, suppressed bool, precounted func(alert.Alert) bool) (o recordOutcome) {
	var errs []error
	o.alertsDone, o.suppressDone = true, true
	for _, in := range p.inputs {
		d := in.d
		if d.Err != nil {
			o.poison++
			h.d.Log.WarnContext(ctx, "poison record acknowledged", "record", r.index, "source", d.Source, "reason", d.Err.Error())
			continue
		}
		f := d.Failure
		if f.Kind == ruleset.KindNotFailure {
			h.d.Log.InfoContext(ctx, "not a failure", "source", d.Source, "note", d.Note, "eventType", f.EventType)
			continue
		}
		for j, dg := range in.diags {
			o.diagnoses++
			o.counts = append(o.counts, countFor(dg, in.region))
			h.logDiagnosis(ctx, dg)
			if !suppressed {
				ok, err := h.suppress(ctx, dg, in.region, in.fx)
				if ok {
					o.suppressed++
				}
				if err != nil {
					errs = append(errs, err)
					o.suppressDone = false
				}
			}
			if alerted {
				continue // announced or held by an earlier attempt
			}
			if !in.raises[j] {
				continue
			}
			a := in.alerts[j]
			if precounted(a) {
				o.alerts++ // held back: counted into its window with the claim
				continue
			}
			sent, err := h.alert(ctx, a, dg.Rule)
			if sent {
				o.alerts++
			}
			if err != nil {
				errs = append(errs, err)
				o.alertsDone = false
			}
		}
	}
	o.err = errors.Join(errs...)
	return o
}

// gather asks for the facts a failure's diagnosis can use: for a send
// error, the failing identities in the sending and candidate Regions; for
// a recipient's bounce, complaint or delay, the sending Region's account
// settings only (the suppression decision needs them).
func (h *Handler) gather(ctx context.Context, region string, f *ruleset.Failure) *ruleset.Facts {
	if h.d.Facts == nil || region == "" {
		return nil
	}
	if len(f.Recipients) > 0 {
		return h.d.Facts.GatherRegions(ctx, region, []string{}, nil)
	}
	ids := make([]string, 0, len(f.Identities)+1)
	for _, id := range f.Identities {
		if id.Value != "" {
			ids = append(ids, id.Value)
		}
	}
	if len(ids) == 0 && f.From != "" {
		ids = append(ids, f.From)
	}
	return h.d.Facts.GatherRegions(ctx, region, h.candidates(), ids)
}

func (h *Handler) candidates() []string {
	if h.cfg.CandidateRegions == nil {
		return facts.DefaultCandidateRegions
	}
	return h.cfg.CandidateRegions
}

// countFor is the Failures datum of a diagnosis made for a failure in
// region: the diagnosis's own Region wins.
func countFor(d ruleset.Diagnosis, region string) countKey {
	if d.Region != "" {
		region = d.Region
	}
	if region == "" {
		region = unknownRegion
	}
	return countKey{rule: d.Rule, region: region}
}

func (h *Handler) logDiagnosis(ctx context.Context, d ruleset.Diagnosis) {
	h.d.Log.InfoContext(ctx, "classified", "rule", d.Rule, "severity", string(d.Severity), "identity", facts.Masked(d.Identity),
		"region", d.Region, "confidence", d.Confidence, "factsKnown", d.FactsKnown, "source", d.Source)
}
