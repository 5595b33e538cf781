package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
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

// Handler handles bouncewatch invocations. Build it with New.
type Handler struct {
	cfg    Config
	cw     CloudWatchAPI
	ses    AccountAPI // nil: GetAccount is not consulted
	alerts alert.Sink // nil: alerts are only logged
	log    *slog.Logger
	now    func() time.Time
	seen   *dedup
}

// New returns a Handler. ses and alerts may be nil.
func New(cfg Config, cw CloudWatchAPI, ses AccountAPI, alerts alert.Sink, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, cw: cw, ses: ses, alerts: alerts, log: log, now: time.Now, seen: newDedup(dedupCapacity)}
}

// rawRecord decodes an SQS message and an SNS record alike (their keys do
// not collide), so the invocation is decoded once.
type rawRecord struct {
	EventSource string     `json:"eventSource"` // "aws:sqs"; SNS spells it EventSource, which json matches too
	MessageID   string     `json:"messageId"`   // SQS
	Body        *string    `json:"body"`        // SQS
	SNS         *snsRecord `json:"Sns"`
}

type snsRecord struct {
	MessageID string `json:"MessageId"`
	Message   string `json:"Message"`
}

type invocation struct {
	Records    []rawRecord `json:"Records"`
	Source     string      `json:"source"`
	DetailType string      `json:"detail-type"`
	Action     string      `json:"action"` // {"action":"evaluate"} from a Scheduler Input
}

// ErrUnknownEvent is returned for an invocation that is neither an SQS
// event, an SNS event nor a scheduled event.
var ErrUnknownEvent = errors.New("bouncewatch: unrecognized invocation (want an SQS event, an SNS event or a scheduled event)")

// Handle is the Lambda entry point. It tells the three shapes apart: SQS
// and SNS events are counted, a scheduled event ({"source":"aws.events"},
// detail-type "Scheduled Event", or {"action":"evaluate"}) evaluates.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var inv invocation
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, fmt.Errorf("decode invocation: %w", err)
	}
	switch {
	case len(inv.Records) > 0:
		res, err := h.handleRecords(ctx, inv.Records)
		if err != nil {
			return nil, err
		}
		h.log.InfoContext(ctx, "counted batch", "records", res.Records, "counted", res.Counted, "duplicates", res.Duplicates,
			"ignored", res.Ignored, "poison", res.Poison, "putMetricDataCalls", res.Calls)
		if inv.Records[0].SNS != nil {
			return nil, nil
		}
		// Poison records are acknowledged, and a failed publish fails the
		// whole batch, so there are never partial failures to report.
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, nil
	case inv.Source == "aws.events" || inv.Source == "aws.scheduler" || inv.DetailType == "Scheduled Event" || inv.Action == "evaluate":
		rep, err := h.Evaluate(ctx)
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
}

// handleRecords counts a batch of SQS or SNS records and publishes the
// counters with one PutMetricData call (more only past the API's limits).
// Undecodable records are logged, counted as PoisonRecords and skipped; an
// error is returned only when publishing fails, so the batch is retried.
func (h *Handler) handleRecords(ctx context.Context, recs []rawRecord) (BatchResult, error) {
	t := newTally(h.cfg.Region)
	res := BatchResult{Records: len(recs)}
	var buf []*Counts
	for i := range recs {
		r := &recs[i]
		var snsID, msg string
		switch {
		case r.SNS != nil:
			snsID, msg = r.SNS.MessageID, r.SNS.Message
		case r.Body != nil:
			var env snsEnvelope
			if err := json.Unmarshal([]byte(*r.Body), &env); err != nil {
				h.poison(ctx, t, i, r.MessageID, fmt.Errorf("decode SQS body: %w", err))
				continue
			}
			if env.Message != nil {
				snsID, msg = env.MessageID, *env.Message
			} else {
				msg = *r.Body // raw message delivery: the body is the SES event
			}
			r.Body = nil // let the GC take each body once read: a 10,000-record batch is up to 6 MB
		default:
			h.poison(ctx, t, i, r.MessageID, errors.New("neither an SQS body nor an SNS message"))
			continue
		}
		if snsID != "" && !h.seen.first("sns", snsID) {
			t.duplicates++
			continue
		}
		var err error
		if buf, err = t.addRecord([]byte(msg), h.seen, buf); err != nil {
			h.poison(ctx, t, i, r.MessageID, err)
		}
	}
	res.Counted, res.Duplicates, res.Ignored, res.Poison = t.counted, t.duplicates, t.ignored, t.poison

	pub := metrics.NewPublisher(h.cw, h.cfg.Namespace)
	for _, s := range t.order {
		c := t.byScope[s]
		for k, v := range c {
			if v == 0 {
				continue
			}
			if err := pub.Add(counterMetric[k], float64(v), s.Type, s.Name); err != nil {
				return res, fmt.Errorf("count %s for %s: %w", counterMetric[k], s, err)
			}
		}
	}
	if t.poison > 0 {
		_ = pub.Add(metrics.PoisonRecords, float64(t.poison), metrics.FunctionBouncewatch)
	}
	calls, err := pub.Flush(ctx)
	res.Calls = calls
	return res, err
}

func (h *Handler) poison(ctx context.Context, t *tally, i int, id string, err error) {
	t.poison++
	h.log.WarnContext(ctx, "poison record acknowledged", "record", i, "messageId", id, "err", err)
}
