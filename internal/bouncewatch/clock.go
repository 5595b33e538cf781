package bouncewatch

import (
	"context"
	"time"

	"github.com/sesguard/sesguard/pkg/lambdaevent"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// The times bouncewatch's datums carry. Counts are stamped with the SES
// events' own times (to the minute) rather than left for CloudWatch to
// stamp on arrival, and an evaluation reads and writes as of the time its
// schedule fired: the trailing window then has the shape of when mail was
// sent and bounced, which the forecast's recent pace reads, however late
// or bunched the batches came (SQS backlogs, retries, a replay that
// passes a simulated day in seconds).

// CloudWatch accepts a datum timestamped from two weeks before to two
// hours after its own clock (PutMetricData, API reference); a single datum
// outside fails the whole call, and with it the batch.
const (
	maxDatumAge   = 14 * 24 * time.Hour
	maxDatumAhead = 2 * time.Hour
	// datumMargin keeps a stamp clear of those edges: the call comes a
	// moment after the check, and clocks differ a little.
	datumMargin = 10 * time.Minute
)

// acceptable reports whether CloudWatch, its clock reading about now,
// would take a datum stamped at.
func acceptable(at, now time.Time) bool {
	return !at.Before(now.Add(-maxDatumAge+datumMargin)) && !at.After(now.Add(maxDatumAhead-datumMargin))
}

// evaluationTime is the time a scheduled invocation evaluates as of: the
// time EventBridge scheduled it for (its event's "time"), so that a late
// or retried delivery judges the window it was scheduled for, and a
// replay can drive the schedule on a simulated clock. It is the wall
// clock when the event has no time ({"action":"evaluate"}, a schedule
// with its own Input), one that does not read as RFC 3339, or one whose
// datums CloudWatch would refuse (an old sample event invoked by hand).
func (h *Handler) evaluationTime(ctx context.Context, inv *lambdaevent.Invocation) time.Time {
	now := h.now()
	if inv.Time == "" {
		return now
	}
	t, err := time.Parse(time.RFC3339, inv.Time)
	switch {
	case err != nil:
		h.log.WarnContext(ctx, "scheduled event's time unreadable; evaluating as of now", "time", inv.Time, "err", err)
		return now
	case !acceptable(t, now):
		h.log.WarnContext(ctx, "scheduled event's time is further from now than CloudWatch accepts datums; evaluating as of now",
			"time", inv.Time, "now", now.UTC().Format(time.RFC3339))
		return now
	}
	return h.notBeforeNewest(ctx, t, now)
}

// evaluatedRecord keeps, in the shared records, the latest time an
// evaluation ran as of.
const evaluatedRecord = "evaluation/as-of"

// notBeforeNewest returns t unless an evaluation as of a later time has
// run already (in any environment): a scheduled event delivered late (an
// async retry, one held in Lambda's event queue) would judge a window a
// newer evaluation judged, and announcing from it would take the level
// back; it evaluates as of now instead. It records t as the latest
// otherwise. A store that cannot answer lets t through.
func (h *Handler) notBeforeNewest(ctx context.Context, t, now time.Time) time.Time {
	rec, err := h.records.Get(ctx, evaluatedRecord)
	if err != nil {
		return t
	}
	if newest, err := time.Parse(time.RFC3339Nano, rec.Value); err == nil && t.Before(newest) {
		h.log.WarnContext(ctx, "scheduled event older than an evaluation already run; evaluating as of now",
			"time", t.UTC().Format(time.RFC3339), "newest", rec.Value)
		return now
	}
	// Lost to another evaluation's write: theirs or ours is the later,
	// both are recorded soon enough for a retry minutes later.
	_, _, _ = h.records.Swap(ctx, evaluatedRecord, rec, t.UTC().Format(time.RFC3339Nano))
	return t
}

// countMinute is the minute an SES event's counts are stamped with: the
// event's own time (eventTime), or the time its batch was received when
// it has none or CloudWatch would refuse it (older than two weeks, more
// than two hours ahead): the count is then kept, at the wrong time,
// rather than failing the batch. (CloudWatch can take hours to show
// datums stamped more than three hours back; events normally reach
// bouncewatch within minutes.)
func countMinute(e *ruleset.SESEvent, received time.Time) time.Time {
	at, ok := eventTime(e)
	if !ok || !acceptable(at, received) {
		at = received
	}
	return at.UTC().Truncate(time.Minute)
}

// eventTime is when an SES event happened by its own timestamp: the
// bounce's, complaint's or delivery's (when the receiving side reported
// it), else the mail's (when SES accepted the message: a Send's and a
// Reject's time). ok is false when none reads as a time.
func eventTime(e *ruleset.SESEvent) (t time.Time, ok bool) {
	var own string
	switch {
	case e.Bounce != nil:
		own = e.Bounce.Timestamp
	case e.Complaint != nil:
		own = e.Complaint.Timestamp
	case e.Delivery != nil:
		own = e.Delivery.Timestamp
	}
	if t, ok = ruleset.ParseSESTime(own); ok {
		return t, true
	}
	if e.Mail != nil {
		return ruleset.ParseSESTime(e.Mail.Timestamp)
	}
	return time.Time{}, false
}
