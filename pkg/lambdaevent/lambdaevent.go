// Package lambdaevent reads a Lambda invocation as a stream: the records of
// an SQS or SNS event one at a time, never all at once, and the top-level
// fields that tell an EventBridge schedule or a direct invocation apart.
// Both functions read their invocations through it: bouncewatch counts a
// 10,000-record batch (6 MB) without ever holding 10,000 decoded records,
// and triage splits a batch into independent records.
//
// A Record holds the fields of aws-lambda-go's events.SQSMessage and
// events.SNSEventRecord that sesguard reads, under the same JSON keys (a
// test checks them against those types' tags). It does not decode into the
// events types themselves: their attribute maps and signatures would cost
// about a dozen allocations per record that nothing reads.
package lambdaevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
)

// Record is one record of an SQS or SNS Lambda event.
type Record struct {
	// Index is the record's position in "Records", from 0.
	Index int `json:"-"`
	// EventSource is "aws:sqs" (SQS's key eventSource) or "aws:sns" (SNS
	// spells it EventSource; keys match ignoring case, as encoding/json's
	// do).
	EventSource string `json:"eventSource"`
	// MessageID and Body are an SQS message's (events.SQSMessage).
	MessageID string  `json:"messageId"`
	Body      *string `json:"body"`
	// SNS is an SNS record's message (events.SNSEventRecord.SNS).
	SNS *SNS `json:"Sns"`
	// Raw is the record as it stands in the input (a slice of it).
	Raw json.RawMessage `json:"-"`
}

// SNS is the part of events.SNSEntity sesguard reads.
type SNS struct {
	MessageID string `json:"MessageId"`
	Message   string `json:"Message"`
}

// Envelope is an SNS message as an SQS subscriber receives it in a body
// without raw message delivery: the fields of events.SNSEntity sesguard
// reads. A nil Message means the body is not an envelope (raw delivery:
// the body is the message itself).
type Envelope struct {
	Type      string  `json:"Type"`
	MessageID string  `json:"MessageId"`
	Message   *string `json:"Message"`
}

// Invocation is what Scan found at the top level besides the records.
type Invocation struct {
	// Records says the invocation has a "Records" key (even null or []).
	Records bool
	// Source, DetailType and Action are the top-level "source",
	// "detail-type" (EventBridge) and "action" (a Scheduler's Input).
	Source, DetailType, Action string
	// Time is an EventBridge event's "time" as written (a scheduled
	// event's is the time it was scheduled for); "" when absent or not a
	// string, which is not an error: the caller uses its own clock.
	Time string
}

// Scan reads the invocation data and yields the records of its "Records"
// array as each is decoded. The yielded *Record is reused: it is valid
// until the next iteration. After the loop, inv holds the top-level
// fields. Top-level keys match as encoding/json matches struct fields,
// ignoring case; other keys are skipped.
//
// Errors come in two kinds:
//   - a record of the wrong shape (not an object, a field of the wrong
//     type) is yielded with its Record (Index and Raw set, and whatever
//     fields were read) and the error; the stream goes on;
//   - anything else (invalid JSON, a top level that is not an object, a
//     "Records" that is not an array) is yielded with a nil Record, and the
//     stream stops. Invalid JSON is found before any record is yielded, so
//     a consumer never acts on part of a batch that cannot be read.
//
// A top-level JSON null yields nothing and leaves inv zero.
func Scan(data []byte, inv *Invocation) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		*inv = Invocation{}
		if !json.Valid(data) {
			err := json.Unmarshal(data, new(json.RawMessage)) // for the error's text and offset
			if err == nil {
				err = errors.New("invalid JSON")
			}
			yield(nil, fmt.Errorf("decode invocation: %w", err))
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		tok, err := dec.Token()
		switch d, ok := tok.(json.Delim); {
		case err != nil:
			yield(nil, fmt.Errorf("decode invocation: %w", err))
			return
		case tok == nil:
			return
		case !ok || d != '{':
			yield(nil, fmt.Errorf("decode invocation: want a JSON object, got %s", tokenKind(tok)))
			return
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				yield(nil, fmt.Errorf("decode invocation: %w", err))
				return
			}
			key, _ := tok.(string)
			var dst any
			switch {
			case strings.EqualFold(key, "Records"):
				inv.Records = true
				more, err := records(data, dec, yield)
				if err != nil {
					yield(nil, fmt.Errorf("decode invocation: field %q: %w", key, err))
					return
				}
				if !more {
					return
				}
				continue
			case strings.EqualFold(key, "source"):
				dst = &inv.Source
			case strings.EqualFold(key, "detail-type"):
				dst = &inv.DetailType
			case strings.EqualFold(key, "action"):
				dst = &inv.Action
			case strings.EqualFold(key, "time"):
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					yield(nil, fmt.Errorf("decode invocation: field %q: %w", key, err))
					return
				}
				_ = json.Unmarshal(raw, &inv.Time) // not a string: left ""
				continue
			default:
				dst = new(json.RawMessage) // skipped; scheduled events carry small ones ("detail")
			}
			if err := dec.Decode(dst); err != nil {
				yield(nil, fmt.Errorf("decode invocation: field %q: %w", key, err))
				return
			}
		}
	}
}

// records yields the records of the "Records" value dec is at (an array,
// or null). more is false when the consumer stopped.
func records(data []byte, dec *json.Decoder, yield func(*Record, error) bool) (more bool, err error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	if tok == nil {
		return true, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return false, fmt.Errorf("want an array, got %s", tokenKind(tok))
	}
	var r Record
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		r = Record{Index: i} // Decode leaves absent fields as they were
		err := dec.Decode(&r)
		r.Raw = json.RawMessage(bytes.TrimLeft(data[start:dec.InputOffset()], ", \t\r\n"))
		if err != nil {
			// A record of the wrong shape is poison, and dec has moved past
			// it. Any other error (none, as the input was checked first)
			// leaves dec where it was: stop rather than loop.
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				return false, fmt.Errorf("record %d: %w", i, err)
			}
			if !yield(&r, err) {
				return false, nil
			}
			continue
		}
		if !yield(&r, nil) {
			return false, nil
		}
	}
	_, err = dec.Token() // ']'
	return true, err
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return string(t)
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", tok)
}
