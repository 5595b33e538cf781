package ruleset

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The fast path decodes the shapes nearly every production input has — a
// Lambda SNS event or an SQS event carrying SES records, or a bare SES
// record — with a hand-written scanner that reads only the keys
// fromSESEvent uses and validates everything else. encoding/json spends
// most of a classification's time on these inputs (issue 2).
//
// Why hand-written: measured against the candidates on the corpus
// payloads (decode time divided by this scanner's, same run; issue 15),
// github.com/goccy/go-json v0.12 took 1.65x (and 1.97 MB more bootstrap;
// v0.10 disagreed with encoding/json on 29 of 76 probes),
// github.com/bytedance/sonic 2.07x (and 152 ms for its first call, the
// JIT), github.com/valyala/fastjson 3.05x (its validator accepts a raw
// control character in some strings), encoding/json/v2 3.74x (behind an
// experiment flag). encoding/json itself is BenchmarkDecodeOnly.
//
// It must return exactly what decodeAt returns or nothing at all: whenever
// encoding/json's semantics are subtle (case-insensitive key matching,
// duplicate keys, type errors, invalid UTF-8, odd envelopes) it gives up
// and the slow path runs. What keeps it honest: each key table lists
// exactly the json tags of the struct it mirrors
// (TestFastKeyTablesMatchStructTags), the corpus and edge cases decode the
// same both ways, and FuzzFastDecodeMatchesSlow (which CI runs for 30 s,
// make fuzz-ci) holds it to that on anything else.

// fastMaxDepth bounds nesting in the fast scanner; deeper input goes to
// encoding/json, which allows far more.
const fastMaxDepth = 64

// fastMaxEnvelope is the deepest decodeAt depth the fast path follows: SQS
// body (1) → SNS envelope → SES record (2).
const fastMaxEnvelope = 2

// fastDecode is Decode for the common shapes; ok is false when the input is
// not one of them, or has anything the fast path does not mirror exactly.
func fastDecode(data []byte, source string) (out []Decoded, ok bool) {
	if len(data) > MaxInputBytes || !utf8.Valid(data) {
		// Invalid UTF-8 is valid for encoding/json (it becomes U+FFFD);
		// checking once here lets the scanner copy string bytes verbatim.
		return nil, false
	}
	return fastDoc(data, source, hints{}, 0, nil)
}

// Field indices of wire, in wireNames order; the names are every JSON key
// json.Unmarshal into wire would fill.
const (
	wRecords = iota
	wType
	wMessageID
	wTopicArn
	wMessage
	wSubscribeURL
	wNotificationType
	wEventType
	wMail
	wBounce
	wComplaint
	wDelivery
	wReject
	wFailure
	wDeliveryDelay
)

var wireNames = []string{
	"Records", "Type", "MessageId", "TopicArn", "Message", "SubscribeURL",
	"notificationType", "eventType", "mail", "bounce", "complaint", "delivery", "reject", "failure", "deliveryDelay",
	// Keys the fast path never reads: any of them sends the input to the slow path.
	"source", "detail-type", "detail", "error", "region", "from", "to", "cc", "bcc",
	"returnPath", "sourceArn", "configurationSet", "transport", "account",
	"content", "receipt", // SES receiving's Received notification (email_ses.go)
}

const (
	wMaskRecords = 1 << wRecords
	wMaskSNS     = 1<<wType | 1<<wMessageID | 1<<wTopicArn | 1<<wMessage | 1<<wSubscribeURL
	wMaskSES     = 1<<wNotificationType | 1<<wEventType | 1<<wMail | 1<<wBounce | 1<<wComplaint |
		1<<wDelivery | 1<<wReject | 1<<wFailure | 1<<wDeliveryDelay
)

// fastDoc mirrors decodeAt for one JSON document.
func fastDoc(data []byte, source string, h hints, depth int, out []Decoded) ([]Decoded, bool) {
	if len(data) > MaxInputBytes || depth > fastMaxEnvelope {
		return nil, false
	}
	s := scanner{data: data}
	s.ws()
	if s.peek() != '{' {
		return nil, false
	}
	var (
		ev            SESEvent
		typ, topicArn string
		msg           *msgBuf
		nrec          int
		seen          uint64
	)
	defer func() {
		if msg != nil {
			msg.free()
		}
	}()
	seen = s.obj(wireNames, 0, func(i int) {
		switch i {
		case wRecords:
			if depth != 0 || s.peek() != '[' {
				s.fail()
				return
			}
			s.array(func() {
				out = s.record(source+"#"+strconv.Itoa(nrec), h, depth, out)
				nrec++
			})
		case wType:
			typ = s.str()
		case wTopicArn:
			topicArn = s.str()
		case wMessage:
			msg = s.strBuf()
		case wMessageID, wSubscribeURL:
			s.ignoreStr()
		case wNotificationType:
			ev.NotificationType = s.str()
		case wEventType:
			ev.EventType = s.str()
		case wMail:
			ev.Mail = object(&s, mailFields, func(s *scanner) *SESMail { return &s.arena().mail })
		case wBounce:
			ev.Bounce = object(&s, bounceFields, func(s *scanner) *SESBounce { return &s.arena().bounce })
		case wComplaint:
			ev.Complaint = object(&s, complaintFields, func(s *scanner) *SESComplaint { return &s.arena().complaint })
		case wDelivery:
			ev.Delivery = object(&s, deliveryFields, nil)
		case wReject:
			ev.Reject = object(&s, rejectFields, nil)
		case wFailure:
			ev.Failure = object(&s, renderingFields, nil)
		case wDeliveryDelay:
			ev.DeliveryDelay = object(&s, delayFields, func(s *scanner) *SESDeliveryDelay { return &s.arena().delay })
		default:
			s.fail()
		}
	})
	s.ws()
	if s.bad || s.pos != len(s.data) {
		return nil, false
	}
	switch {
	case seen == wMaskRecords:
		if nrec == 0 {
			return nil, false
		}
		return out, true
	case seen&^wMaskSNS == 0:
		// A bare SNS envelope, or one in an SQS body.
		if typ == "" || msg == nil || isSNSConfirmation(typ) {
			return nil, false
		}
		if r := regionFromArn(topicArn); r != "" && h.region == "" {
			h.region = r
		}
		return fastDoc(msg.b, source, h, depth+1, out)
	case seen&^wMaskSES == 0:
		if ev.Type() == "" {
			return nil, false
		}
		return append(out, fromSESEvent(&ev, source, h)), true
	}
	return nil, false
}

func isSNSConfirmation(typ string) bool {
	return typ == "SubscriptionConfirmation" || typ == "UnsubscribeConfirmation"
}

// wireRecord's keys. EventSource and messageId are never read, so a key
// matching them only case-insensitively (SQS's "eventSource") is harmless.
var (
	recordNames = []string{"EventSource", "Sns", "body", "awsRegion", "messageId"}
	snsNames    = []string{"Type", "MessageId", "TopicArn", "Message"}
)

const (
	recordLoose = 1<<0 | 1<<4
	snsLoose    = 1 << 1
)

// record mirrors decodeRecord for one element of "Records" at depth 0.
func (s *scanner) record(src string, h hints, depth int, out []Decoded) []Decoded {
	var (
		hasSNS, hasBody       bool
		typ, topic, awsRegion string
		msg                   *msgBuf
	)
	defer func() {
		if msg != nil {
			msg.free()
		}
	}()
	s.obj(recordNames, recordLoose, func(j int) {
		switch j {
		case 1:
			hasSNS = true
			s.obj(snsNames, snsLoose, func(k int) {
				switch k {
				case 0:
					typ = s.str()
				case 2:
					topic = s.str()
				case 3:
					msg = s.strBuf()
				default:
					s.ignoreStr()
				}
			})
		case 2:
			hasBody = true
			msg = s.strBuf()
		case 3:
			awsRegion = s.str()
		default:
			s.ignoreStr()
		}
	})
	if s.bad {
		return out
	}
	switch {
	case hasSNS && !hasBody:
		if msg == nil || isSNSConfirmation(typ) {
			s.fail()
			return out
		}
		if r := regionFromArn(topic); r != "" && h.region == "" {
			h.region = r
		}
	case hasBody && !hasSNS:
		if rr := regionFromText(awsRegion); rr != "" && h.region == "" {
			h.region = rr
		}
	default:
		s.fail()
		return out
	}
	out, ok := fastDoc(msg.b, src, h, depth+1, out)
	if !ok {
		s.fail()
	}
	return out
}

// The SES record's objects are read by key tables: each key of the struct
// json.Unmarshal fills on the slow path (TestFastKeyTablesMatchStructTags
// holds the tables to the json tags), with what reading its value means.

// field is one key of a struct the scanner fills. read consumes the value
// into *T; nil is a string field fromSESEvent never reads, which is only
// validated.
type field[T any] struct {
	name string
	read func(s *scanner, v *T)
}

// fields is a struct's key table, in the form scanner.obj takes.
type fields[T any] struct {
	names []string
	reads []func(*scanner, *T)
}

func table[T any](fs ...field[T]) *fields[T] {
	t := &fields[T]{}
	for _, f := range fs {
		t.names = append(t.names, f.name)
		t.reads = append(t.reads, f.read)
	}
	return t
}

// into reads an object into v by t.
func into[T any](s *scanner, t *fields[T], v *T) {
	s.obj(t.names, 0, func(i int) {
		if read := t.reads[i]; read != nil {
			read(s, v)
		} else {
			s.ignoreStr()
		}
	})
}

// object reads a value of a *T field: null, or an object read into a fresh
// (or, for new nil, an arena) T.
func object[T any](s *scanner, t *fields[T], alloc func(*scanner) *T) *T {
	if s.null() {
		return nil
	}
	var v *T
	if alloc != nil {
		v = alloc(s)
	} else {
		v = new(T)
	}
	into(s, t, v)
	return v
}

var mailFields = table(
	field[SESMail]{"timestamp", nil},
	field[SESMail]{"messageId", func(s *scanner, m *SESMail) { m.MessageID = s.str() }},
	field[SESMail]{"source", func(s *scanner, m *SESMail) { m.Source = s.str() }},
	field[SESMail]{"sourceArn", func(s *scanner, m *SESMail) { m.SourceArn = s.str() }},
	field[SESMail]{"sourceIp", nil},
	field[SESMail]{"sendingAccountId", func(s *scanner, m *SESMail) { m.SendingAccountID = s.str() }},
	field[SESMail]{"callerIdentity", nil},
	field[SESMail]{"destination", func(s *scanner, m *SESMail) { m.Destination = s.strs(s.arena().destination[:0]) }},
	field[SESMail]{"commonHeaders", func(s *scanner, m *SESMail) {
		m.CommonHeaders = object(s, commonHeaderFields, func(s *scanner) *SESCommonHeaders { return &s.arena().headers })
	}},
	field[SESMail]{"tags", func(s *scanner, m *SESMail) { m.Tags = s.tags() }},
)

var commonHeaderFields = table(
	field[SESCommonHeaders]{"from", func(s *scanner, h *SESCommonHeaders) { h.From = s.strs(s.arena().from[:0]) }},
	field[SESCommonHeaders]{"to", func(s *scanner, _ *SESCommonHeaders) { s.ignoreStrs() }},
	field[SESCommonHeaders]{"returnPath", func(s *scanner, h *SESCommonHeaders) { h.ReturnPath = s.str() }},
	field[SESCommonHeaders]{"subject", nil},
	field[SESCommonHeaders]{"messageId", nil},
)

// tags keeps only the tag fromSESEvent reads. A map takes the last of
// duplicate keys, as json.Unmarshal does.
func (s *scanner) tags() map[string][]string {
	if s.null() {
		return nil
	}
	var cs []string
	found := false
	s.mapObj(func(key []byte) {
		if string(key) == "ses:configuration-set" {
			cs, found = s.strs(s.arena().configSet[:0]), true
			return
		}
		s.ignoreStrs()
	})
	if !found {
		return map[string][]string{}
	}
	return map[string][]string{"ses:configuration-set": cs}
}

var bounceFields = table(
	field[SESBounce]{"bounceType", func(s *scanner, b *SESBounce) { b.BounceType = s.str() }},
	field[SESBounce]{"bounceSubType", func(s *scanner, b *SESBounce) { b.BounceSubType = s.str() }},
	field[SESBounce]{"bouncedRecipients", func(s *scanner, b *SESBounce) { b.BouncedRecipients = s.recipients(s.arena().bounced[:0]) }},
	field[SESBounce]{"timestamp", nil},
	field[SESBounce]{"feedbackId", nil},
	field[SESBounce]{"reportingMTA", nil},
	field[SESBounce]{"remoteMtaIp", nil},
)

var recipientFields = table(
	field[SESBouncedRecipient]{"emailAddress", func(s *scanner, r *SESBouncedRecipient) { r.EmailAddress = s.str() }},
	field[SESBouncedRecipient]{"action", func(s *scanner, r *SESBouncedRecipient) { r.Action = s.str() }},
	field[SESBouncedRecipient]{"status", func(s *scanner, r *SESBouncedRecipient) { r.Status = s.str() }},
	field[SESBouncedRecipient]{"diagnosticCode", func(s *scanner, r *SESBouncedRecipient) { r.DiagnosticCode = s.str() }},
)

// recipients decodes []SESBouncedRecipient, appending to out (empty, not
// nil); a null element is a zero recipient, as json.Unmarshal leaves it.
func (s *scanner) recipients(out []SESBouncedRecipient) []SESBouncedRecipient {
	if s.null() {
		return nil
	}
	s.array(func() {
		var r SESBouncedRecipient
		if !s.null() {
			into(s, recipientFields, &r)
		}
		out = append(out, r)
	})
	return out
}

var complaintFields = table(
	field[SESComplaint]{"complainedRecipients", func(s *scanner, c *SESComplaint) {
		if s.null() {
			return
		}
		c.ComplainedRecipients = []SESAddress{}
		s.array(func() {
			var a SESAddress
			if !s.null() {
				into(s, addressFields, &a)
			}
			c.ComplainedRecipients = append(c.ComplainedRecipients, a)
		})
	}},
	field[SESComplaint]{"timestamp", nil},
	field[SESComplaint]{"feedbackId", nil},
	field[SESComplaint]{"complaintSubType", func(s *scanner, c *SESComplaint) { c.ComplaintSubType = s.str() }},
	field[SESComplaint]{"complaintFeedbackType", func(s *scanner, c *SESComplaint) { c.ComplaintFeedbackType = s.str() }},
	field[SESComplaint]{"userAgent", nil},
	field[SESComplaint]{"arrivalDate", nil},
)

var addressFields = table(
	field[SESAddress]{"emailAddress", func(s *scanner, a *SESAddress) { a.EmailAddress = s.str() }},
)

// deliveryFields only check types: fromSESEvent does not read a delivery,
// but a wrong type there fails json.Unmarshal.
var deliveryFields = table(
	field[SESDelivery]{"timestamp", nil},
	field[SESDelivery]{"recipients", func(s *scanner, _ *SESDelivery) { s.ignoreStrs() }},
)

var rejectFields = table(
	field[SESReject]{"reason", func(s *scanner, r *SESReject) { r.Reason = s.str() }},
)

var renderingFields = table(
	field[SESRendering]{"templateName", func(s *scanner, r *SESRendering) { r.TemplateName = s.str() }},
	field[SESRendering]{"errorMessage", func(s *scanner, r *SESRendering) { r.ErrorMessage = s.str() }},
)

var delayFields = table(
	field[SESDeliveryDelay]{"delayType", func(s *scanner, d *SESDeliveryDelay) { d.DelayType = s.str() }},
	field[SESDeliveryDelay]{"delayedRecipients", func(s *scanner, d *SESDeliveryDelay) { d.DelayedRecipients = s.recipients(s.arena().delayed[:0]) }},
	field[SESDeliveryDelay]{"expirationTime", nil},
	field[SESDeliveryDelay]{"reportingMTA", nil},
	field[SESDeliveryDelay]{"timestamp", nil},
)

// scanner is a strict JSON scanner over valid UTF-8. Any error sets bad
// and moves to the end of the input, so every loop ends and the caller
// only checks bad once.
type scanner struct {
	data  []byte
	pos   int
	depth int
	bad   bool
	key   []byte // scratch for escaped keys
	ses   *sesArena
}

// sesArena holds the structs of the one SES record a document can hold,
// in one allocation instead of one each.
type sesArena struct {
	mail                         SESMail
	headers                      SESCommonHeaders
	bounce                       SESBounce
	complaint                    SESComplaint
	delay                        SESDeliveryDelay
	bounced, delayed             [1]SESBouncedRecipient
	destination, from, configSet [1]string
}

func (s *scanner) arena() *sesArena {
	if s.ses == nil {
		s.ses = new(sesArena)
	}
	return s.ses
}

func (s *scanner) fail() {
	s.bad = true
	s.pos = len(s.data)
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// ws skips JSON whitespace (not Unicode spaces, which JSON does not allow).
func (s *scanner) ws() {
	d, i := s.data, s.pos
	for i < len(d) && d[i] <= ' ' && (d[i] == ' ' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r') {
		i++
	}
	s.pos = i
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.pos++
}

func (s *scanner) literal(lit string) {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		s.fail()
		return
	}
	s.pos += len(lit)
}

// null consumes a null; a null leaves a fresh Go value at its zero value.
func (s *scanner) null() bool {
	if s.peek() == 'n' {
		s.literal("null")
		return true
	}
	return false
}

// obj walks an object decoded into a struct whose JSON keys are names.
// For a key naming names[i] it calls fn(i) with the scanner at the value,
// and fn must consume it. Keys that name no field are validated and
// skipped. It fails on a repeated field, and on a key that matches a field
// only case-insensitively (encoding/json would fill the field), unless the
// field is in loose (its value is never read). It returns the fields seen.
func (s *scanner) obj(names []string, loose uint64, fn func(i int)) (seen uint64) {
	if !s.enter('{') {
		return 0
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return 0
	}
	for !s.bad {
		s.ws()
		key := s.keyBytes()
		s.ws()
		s.expect(':')
		s.ws()
		if s.bad {
			break
		}
		i := s.field(key, names, loose)
		switch {
		case i >= 0:
			if seen&(1<<i) != 0 && loose&(1<<i) == 0 {
				s.fail()
				break
			}
			seen |= 1 << i
			fn(i)
		case i == -1:
			s.skip()
		}
		if !s.endMember('}') {
			break
		}
	}
	s.depth--
	return seen
}

// mapObj walks an object decoded into a map: fn gets every key.
func (s *scanner) mapObj(fn func(key []byte)) {
	if !s.enter('{') {
		return
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return
	}
	for !s.bad {
		s.ws()
		key := s.keyBytes()
		s.ws()
		s.expect(':')
		s.ws()
		if s.bad {
			break
		}
		fn(key)
		if !s.endMember('}') {
			break
		}
	}
	s.depth--
}

// array calls fn for each element, with the scanner at the element.
func (s *scanner) array(fn func()) {
	if !s.enter('[') {
		return
	}
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return
	}
	for !s.bad {
		s.ws()
		fn()
		if !s.endMember(']') {
			break
		}
	}
	s.depth--
}

func (s *scanner) enter(open byte) bool {
	if s.peek() != open || s.depth >= fastMaxDepth {
		s.fail()
		return false
	}
	s.pos++
	s.depth++
	s.ws()
	return !s.bad
}

// endMember consumes the ',' or the closing byte after a member; it reports
// whether another member follows.
func (s *scanner) endMember(close byte) bool {
	s.ws()
	switch s.peek() {
	case ',':
		s.pos++
		return true
	case close:
		s.pos++
		return false
	}
	s.fail()
	return false
}

// field returns the index of key in names, -1 for a key that names no
// field, and -2 (having failed) for one encoding/json would match
// case-insensitively.
func (s *scanner) field(key []byte, names []string, loose uint64) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			// encoding/json folds Unicode too (K, ſ); not worth mirroring.
			s.fail()
			return -2
		}
	}
	for i, n := range names {
		if asciiEqualFold(key, n) {
			if loose&(1<<i) != 0 {
				return i
			}
			s.fail()
			return -2
		}
	}
	return -1
}

func asciiEqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// keyBytes reads an object key, unescaped; the result is valid until the
// next key.
func (s *scanner) keyBytes() []byte {
	raw, escaped := s.rawString()
	if !escaped {
		return raw
	}
	s.key = appendUnescaped(s.key[:0], raw)
	return s.key
}

// rawString reads a string token, validating it as encoding/json's scanner
// does, and returns its bytes between the quotes.
func (s *scanner) rawString() (raw []byte, escaped bool) {
	if s.peek() != '"' {
		s.fail()
		return nil, false
	}
	d := s.data
	start := s.pos + 1
	for i := start; i < len(d); {
		if i+8 <= len(d) {
			m := stringSpecials(binary.LittleEndian.Uint64(d[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return d[start:i], escaped
		case c < 0x20:
			s.fail()
			return nil, false
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				s.fail()
				return nil, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					s.fail()
					return nil, false
				}
				i += 6
			default:
				s.fail()
				return nil, false
			}
		default:
			i++
		}
	}
	s.fail()
	return nil, false
}

// stringSpecials marks, with its high bit, each byte of the 8 in w
// (little-endian) that is '"', '\\' or a control character, by the
// zero-byte and less-than bit tricks. Bytes above a marked byte may be
// marked wrongly (borrows), so only the lowest mark is exact.
func stringSpecials(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (w-ones*0x20)&^w) & highs
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// str decodes a value into a Go string field: a string, or null (which
// leaves the field empty).
func (s *scanner) str() string {
	if s.null() {
		return ""
	}
	raw, escaped := s.rawString()
	if s.bad {
		return ""
	}
	if !escaped {
		return intern(raw)
	}
	return string(appendUnescaped(make([]byte, 0, len(raw)), raw))
}

// intern returns string(b) without allocating for the values SES repeats
// in every record.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case EventBounce:
		return EventBounce
	case EventComplaint:
		return EventComplaint
	case EventDeliveryDelay:
		return EventDeliveryDelay
	case EventReject:
		return EventReject
	case "Permanent":
		return "Permanent"
	case "Transient":
		return "Transient"
	case "Undetermined":
		return "Undetermined"
	case "General":
		return "General"
	case "NoEmail":
		return "NoEmail"
	case "Suppressed":
		return "Suppressed"
	case "OnAccountSuppressionList":
		return "OnAccountSuppressionList"
	case "MailboxFull":
		return "MailboxFull"
	case "MessageTooLarge":
		return "MessageTooLarge"
	case "ContentRejected":
		return "ContentRejected"
	case "AttachmentRejected":
		return "AttachmentRejected"
	case "failed":
		return "failed"
	case "abuse":
		return "abuse"
	}
	return string(b)
}

// msgBuf is a pooled buffer for an unescaped envelope message: its bytes
// are scanned and copied out of before it is freed.
type msgBuf struct{ b []byte }

var msgPool = sync.Pool{New: func() any { return &msgBuf{b: make([]byte, 0, 8<<10)} }}

func (m *msgBuf) free() {
	if cap(m.b) <= 256<<10 {
		msgPool.Put(m)
	}
}

// strBuf decodes a string value into a pooled buffer; a null fails (for
// "Message" and "body" it means no message at all).
func (s *scanner) strBuf() *msgBuf {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	m := msgPool.Get().(*msgBuf)
	m.b = s.appendString(m.b[:0])
	if s.bad {
		m.free()
		return nil
	}
	return m
}

// appendString reads a string token and appends its unescaped contents:
// rawString and appendUnescaped in one pass, for the envelope messages,
// which have an escape every few bytes. It copies eight bytes at a time
// into dst's spare capacity and keeps only those before the first special
// byte, so plain runs cost no memmove call.
func (s *scanner) appendString(dst []byte) []byte {
	d := s.data
	i := s.pos + 1
	// The unescaped form is never longer than the escaped one; eight
	// bytes of slack take the last whole-word store.
	w := len(dst)
	if need := w + len(d) - i + 8; cap(dst) < need {
		dst = append(dst[:cap(dst)], make([]byte, need-cap(dst))...)
	}
	out := dst[:cap(dst)]
	for {
		if i+8 <= len(d) {
			word := binary.LittleEndian.Uint64(d[i:])
			binary.LittleEndian.PutUint64(out[w:], word)
			m := stringSpecials(word)
			if m == 0 {
				i += 8
				w += 8
				continue
			}
			k := bits.TrailingZeros64(m) / 8
			i += k
			w += k
		} else {
			// The tail: byte by byte up to the next special byte.
			for i < len(d) && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20 {
				out[w] = d[i]
				i++
				w++
			}
			if i >= len(d) {
				break
			}
		}
		c := d[i]
		if c == '"' {
			s.pos = i + 1
			return out[:w]
		}
		if c != '\\' || i+1 >= len(d) { // a control character, or a lone '\' at the end
			break
		}
		switch e := d[i+1]; e {
		case '"', '\\', '/':
			out[w] = e
		case 'b':
			out[w] = '\b'
		case 'f':
			out[w] = '\f'
		case 'n':
			out[w] = '\n'
		case 'r':
			out[w] = '\r'
		case 't':
			out[w] = '\t'
		case 'u':
			r, ok := u4(d[i:])
			if !ok {
				s.fail()
				return out[:w]
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// The next escape is only consumed here if it is valid;
				// otherwise the loop meets (and rejects) it next.
				if r1, ok := u4(d[i:]); ok {
					if dec := utf16.DecodeRune(r, r1); dec != unicode.ReplacementChar {
						i += 6
						r = dec
					} else {
						r = unicode.ReplacementChar
					}
				} else {
					r = unicode.ReplacementChar
				}
			}
			w += utf8.EncodeRune(out[w:], r)
			continue
		default:
			s.fail()
			return out[:w]
		}
		i += 2
		w++
	}
	s.fail()
	return out[:w]
}

// u4 decodes a \uXXXX escape at the start of b.
func u4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' || !isHex(b[2]) || !isHex(b[3]) || !isHex(b[4]) || !isHex(b[5]) {
		return 0, false
	}
	return hex4(b[2:6]), true
}

// strs decodes a value into a []string field, appending to out (empty,
// not nil): an empty JSON array gives an empty, non-nil slice, as
// json.Unmarshal does.
func (s *scanner) strs(out []string) []string {
	if s.null() {
		return nil
	}
	s.array(func() { out = append(out, s.str()) })
	return out
}

// ignoreStr checks a value json.Unmarshal would decode into a string field
// the fast path does not read.
func (s *scanner) ignoreStr() {
	if !s.null() {
		s.rawString()
	}
}

// ignoreStrs checks a value json.Unmarshal would decode into a []string.
func (s *scanner) ignoreStrs() {
	if !s.null() {
		s.array(s.ignoreStr)
	}
}

// skip validates and skips any value.
func (s *scanner) skip() {
	switch c := s.peek(); {
	case c == '"':
		s.rawString()
	case c == '{':
		s.mapObj(func([]byte) { s.skip() })
	case c == '[':
		s.array(s.skip)
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	default:
		s.fail()
	}
}

// number validates a number per the JSON grammar.
func (s *scanner) number() {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		s.fail()
		return
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.fail()
			return
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.fail()
			return
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
}

// appendUnescaped appends the unescaped form of a validated string token's
// contents, exactly as encoding/json's unquote does for valid UTF-8: \u
// escapes of a surrogate pair combine, and a lone surrogate becomes U+FFFD.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r1 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r1 = hex4(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r1); dec != unicode.ReplacementChar {
					i += 6
					dst = utf8.AppendRune(dst, dec)
					continue
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// hex4 decodes four hex digits the scanner has validated.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
